"""The screen's router: GET /app/patients/{id}, GET /app/worklist, POST /app/worklist/alerts/{id}/acknowledge and
the page's own script and style sheet under /app/static/.

Who may look: with auth disabled (development, `serve --demo` on loopback) anyone who reaches the port, named
"anonymous" when acknowledging, like the worklist API. Otherwise only a user signed in by a SMART launch
(GET /app/launch from the EHR, back at GET /app/callback; see smart.py): the timeline of the launch's patient, read
from the launching FHIR server with the user's token, and the worklist of the tenant configured for that server
when the id_token named the user. Pages are never cached (patient data) and carry a strict content policy: the
only script is /app/static/screen.js.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cds_cyto.cds.runtime import Runtime
from cds_cyto.screen.demo_sweep import sweep_demo_cohort
from cds_cyto.screen.launch import add_launch_routes
from cds_cyto.screen.pages import error_page, signed_out_page, timeline_page
from cds_cyto.screen.patient import ScreenError, load_assessment, patient_source
from cds_cyto.screen.same_origin import from_this_app
from cds_cyto.screen.sessions import Session, Sessions
from cds_cyto.screen.smart_config import SmartApp, smart_app_from_environment
from cds_cyto.screen.timeline import build_timeline
from cds_cyto.screen.worklist_page import FilterError, parse_filters, worklist_page
from cds_cyto.settings import Settings
from cds_cyto.sources import BearerToken, PatientCatalog
from cds_cyto.store.alerts import ALL_TENANTS, Scope, acknowledge, alerts_for_worklist
from cds_cyto.sweep.worklist import build_worklist

__all__ = ["screen_pages", "screen_router"]

log = logging.getLogger("cds_cyto.screen")

STATIC = {"screen.js": "text/javascript; charset=utf-8", "screen.css": "text/css; charset=utf-8"}
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " object-src 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make the form's Origin "null"
}
MAX_FORM_BYTES = 4096
ANONYMOUS = "anonymous"  # auth disabled: nobody to name (as the worklist API records it)


@dataclass(frozen=True, slots=True)
class Viewer:
    user: str | None  # None: a SMART user the id_token did not name (the timeline only)
    scope: Scope
    session: Session | None = None  # None: auth disabled


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _error(status: int, message: str) -> HTMLResponse:
    return _page(error_page(status, message), status)


def _static() -> dict[str, bytes]:
    folder = resources.files("cds_cyto.screen").joinpath("static")
    return {name: folder.joinpath(name).read_bytes() for name in STATIC}


def _safe_back(raw: str) -> str:
    """Back to the worklist with its filters, and nowhere else (no open redirect)."""
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or parts.path != "/app/worklist" or any(c in raw for c in "\r\n\\"):
        return "/app/worklist"
    return raw


def screen_pages(settings: Settings) -> Callable[[Runtime], APIRouter]:
    """Reads and checks the SMART app's settings now, before the runtime touches the store (a mistake stops the
    start in one line); the router is built later for the runtime."""
    smart = smart_app_from_environment(settings.public_base_url)
    return lambda runtime: screen_router(runtime, smart)


def screen_router(runtime: Runtime, smart: SmartApp | None) -> APIRouter:
    settings = runtime.settings
    codes = [(rule.code, rule.title) for rule in runtime.profile.rules]
    assets = _static()
    lifespan = None
    if settings.demo:
        source = patient_source(runtime)
        as_of = settings.as_of
        if isinstance(source, PatientCatalog) and as_of is not None:
            catalog = source

            @asynccontextmanager
            async def lifespan(_app: Any) -> AsyncIterator[None]:
                # when serving starts (never for `serve --check`), before the first request
                lookback = settings.sweep_lookback_days
                await asyncio.to_thread(sweep_demo_cohort, runtime.store, catalog, runtime.profile, as_of, lookback)
                yield

    sessions = Sessions(runtime.store.engine)

    async def viewer(request: Request) -> Viewer | None:
        if settings.auth == "disabled":
            return Viewer(ANONYMOUS, ALL_TENANTS)
        if smart is None:
            return None  # auth required and no SMART app registered: nobody can sign in
        session = await asyncio.to_thread(sessions.get, request.cookies.get(smart.session_cookie))
        if session is None:
            return None
        return Viewer(session.user, Scope(session.tenant), session)

    def needs_launch() -> HTMLResponse:
        return _error(401, "Open this app from the EHR (SMART launch): it needs a signed-in user.")

    def worklist_user(who: Viewer) -> HTMLResponse | None:
        if who.user is None or (who.session is not None and who.session.tenant is None):
            return _error(403, "the worklist needs a user the EHR named, from an EHR registered with a tenant")
        return None

    router = APIRouter(prefix="/app", include_in_schema=False, lifespan=lifespan)
    if smart is not None:
        add_launch_routes(router, smart, sessions, _error, lambda: _page(signed_out_page()))

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in assets:
            return Response(status_code=404)
        return Response(assets[name], media_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    @router.get("/patients/{patient_id}")
    async def patient(patient_id: str, request: Request) -> Response:
        who = await viewer(request)
        if who is None:
            return needs_launch()
        try:
            if who.session is None:
                source = patient_source(runtime)
            elif who.session.patient != patient_id:
                return _error(403, "this sign-in is for another patient: open the app from this patient's chart")
            else:  # the launching FHIR server, with the user's own token
                source = patient_source(runtime, who.session.iss, BearerToken(who.session.access_token))
            assessment = await load_assessment(runtime, patient_id, source)
        except ScreenError as exc:
            return _error(exc.status, exc.message)
        timeline = build_timeline(assessment, runtime.profile)
        return _page(timeline_page(assessment, timeline, signed_in=who.session is not None))

    @router.get("/worklist")
    async def worklist(request: Request) -> Response:
        who = await viewer(request)
        if who is None:
            return needs_launch()
        refused = worklist_user(who)
        if refused is not None:
            return refused
        query = {k: request.query_params.getlist(k) for k in request.query_params}
        try:
            filters = parse_filters(query, [code for code, _ in codes])
        except FilterError as exc:
            return _error(400, str(exc))
        engine = runtime.store.engine
        built = await asyncio.to_thread(build_worklist, engine, scope=who.scope)  # off the loop: /healthz answers
        since = built.since_run.id if built.since_run is not None else 0
        listed = await asyncio.to_thread(alerts_for_worklist, engine, since, scope=who.scope)
        acked = {a.uid: a.acknowledged_at for a in listed}
        return _page(worklist_page(built, filters, codes, acked, signed_in=who.session is not None))

    @router.post("/worklist/alerts/{alert_id}/acknowledge")
    async def acknowledge_alert(alert_id: str, request: Request) -> Response:
        who = await viewer(request)
        if who is None:
            return needs_launch()
        refused = worklist_user(who)
        if refused is not None or who.user is None:
            return refused or needs_launch()
        if not from_this_app(request, settings.public_base_url):
            return _error(403, "acknowledging is accepted only from this app's own pages")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return _error(413, "the form is too large")
        form = parse_qs(body.decode("utf-8", errors="replace"))
        back = _safe_back((form.get("back") or ["/app/worklist"])[0])
        view = await asyncio.to_thread(acknowledge, runtime.store.engine, alert_id, who.user, scope=who.scope)
        if view is None:
            return _error(404, "no such open alert (it may have been resolved)")
        log.info("alert acknowledged from the screen")
        return RedirectResponse(back, status_code=303, headers={"Cache-Control": "no-store"})

    return router
