"""The SMART launch's two endpoints: GET /app/launch (from the EHR: `launch` and `iss`; or standalone, `iss` only,
the authorization server then picks the patient) and GET /app/callback (from the authorization server: `code`,
`state`). Every refusal is a page that says why; none logs a token, code or id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cds_cyto.screen.patient import patient_id_ok
from cds_cyto.screen.same_origin import from_this_app
from cds_cyto.screen.sessions import Session, Sessions, TooManyLaunches
from cds_cyto.screen.smart import SmartError, authorize_url, discover, exchange, pkce_pair
from cds_cyto.screen.smart_config import SmartApp, normalise_url

__all__ = ["add_launch_routes"]

log = logging.getLogger("cds_cyto.screen")


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[0] if len(values) == 1 and 0 < len(values[0]) <= 2048 else None


def _context_patient(app_context: str | None) -> str | None:
    """The patient the card's appContext names (cds/card_links.py), if it is ours and names one."""
    if app_context is None:
        return None
    try:
        parsed = orjson.loads(app_context)
    except orjson.JSONDecodeError:
        return None
    patient = parsed.get("patient") if isinstance(parsed, dict) else None
    return patient if isinstance(patient, str) else None


def add_launch_routes(
    router: APIRouter,
    app: SmartApp,
    sessions: Sessions,
    refuse: Callable[[int, str], Response],
    signed_out: Callable[[], Response],
) -> None:
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.get("/launch")
    async def launch(request: Request) -> Response:
        iss, token = _one(request, "iss"), _one(request, "launch")
        if iss is None or (token is None and "launch" in request.query_params):
            return refuse(400, "a SMART launch needs one 'iss' (and, from the EHR, one 'launch')")
        if not app.allows(iss):
            log.info("launch refused: iss not allowlisted")
            return refuse(403, "this EHR (iss) is not registered for this app")
        try:
            endpoints = await discover(iss)
        except SmartError as exc:
            return refuse(502, str(exc))
        verifier, challenge = pkce_pair()
        try:
            state = await asyncio.to_thread(sessions.begin, normalise_url(iss), endpoints, verifier)
        except TooManyLaunches:
            log.warning("launch refused: too many sign-ins under way")
            return refuse(503, "too many sign-ins are under way: try again in a few minutes")
        response = RedirectResponse(authorize_url(endpoints, app, iss, token, state, challenge), status_code=302)
        # binds the sign-in to this browser: a callback with another browser's state is refused
        response.set_cookie(
            app.state_cookie,
            state,
            max_age=600,
            path=app.cookie_path,
            httponly=True,
            secure=app.secure_cookies,
            samesite="lax",
        )
        log.info("launch: sent to the authorization server")
        return no_store(response)

    @router.get("/callback")
    async def callback(request: Request) -> Response:
        def end(status: int, message: str) -> Response:  # once its launch is used, a refused sign-in is over
            response = refuse(status, message)
            response.delete_cookie(app.state_cookie, path=app.cookie_path, secure=app.secure_cookies, httponly=True)
            return response

        if request.query_params.get("error"):
            return refuse(403, "the EHR did not authorise the app (sign-in refused or cancelled)")
        code, state = _one(request, "code"), _one(request, "state")
        if code is None or state is None:
            return refuse(400, "the sign-in came back without its 'code' and 'state'")
        if request.cookies.get(app.state_cookie) != state:
            log.info("callback refused: state does not match this browser's launch")
            return refuse(400, "this sign-in was not started in this browser (wrong state): launch again")
        pending = await asyncio.to_thread(sessions.finish, state)
        if pending is None:
            return end(400, "this sign-in is unknown or expired (wrong state): launch again")
        back_from = _one(request, "iss")  # RFC 9207: the server that answered, when it says so, must be the one asked
        if back_from is not None and pending.endpoints.issuer is not None and back_from != pending.endpoints.issuer:
            log.info("callback refused: answered by another authorization server")
            return end(400, "the sign-in was answered by another authorization server than the one asked")
        try:
            grant = await exchange(pending.endpoints, app, code, pending.verifier)
        except SmartError as exc:
            log.info("callback refused: token exchange failed")
            return end(400, str(exc))
        if not patient_id_ok(grant.patient):
            return end(400, "the launch's patient id is not a FHIR id")
        wanted = _context_patient(grant.app_context)
        if wanted is not None and wanted != grant.patient:
            log.info("callback refused: the token is for another patient than the card's")
            return end(403, "the token is not for the patient of the card that opened the app")
        session = Session(
            pending.iss,
            grant.access_token,
            grant.patient,
            grant.user,
            app.tenant_of(pending.iss),
            datetime.now(UTC) + timedelta(seconds=grant.expires_in),
        )
        # a new id at every sign-in, and the browser's old session (if any) ends: no session fixation
        await asyncio.to_thread(sessions.close, request.cookies.get(app.session_cookie))
        sid = await asyncio.to_thread(sessions.open, session)
        response = RedirectResponse(f"/app/patients/{grant.patient}", status_code=303)
        response.delete_cookie(app.state_cookie, path=app.cookie_path, secure=app.secure_cookies, httponly=True)
        response.set_cookie(
            app.session_cookie,
            sid,
            max_age=grant.expires_in,
            path=app.cookie_path,
            httponly=True,
            secure=app.secure_cookies,
            samesite="lax",
        )
        log.info("launch: signed in")
        return no_store(response)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        if not from_this_app(request, app.public_base_url):
            return refuse(403, "signing out is accepted only from this app's own pages")
        await asyncio.to_thread(sessions.close, request.cookies.get(app.session_cookie))
        response = signed_out()
        response.delete_cookie(app.session_cookie, path=app.cookie_path, secure=app.secure_cookies, httponly=True)
        log.info("signed out")
        return no_store(response)
