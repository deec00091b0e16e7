"""HTTP worklist: GET /worklist (JSON or CSV), GET /worklist/patients/{id}, POST /worklist/alerts/{id}/acknowledge.

The app passes in its client-authentication dependency, so these routes are protected exactly like the CDS Hooks
endpoints, a function that finds the store for a request, and each trusted issuer's configured `tenant`.

Who sees what (issue 15): a caller sees the patients and alerts of its issuer's configured `tenant` only — the
tenant a sweep stamped on them (CDS_CYTO_SWEEP_TENANT). An issuer configured without a tenant sees nothing; with
auth disabled (development, the demo) every tenant's are shown. Acknowledging also needs a user: the token's `sub`,
which is recorded as who acknowledged. One patient id may be two tenants' patients: their entries are never merged;
a reader of every tenant who asks for such an id gets a 409 naming the tenants and picks one with `?tenant=`.
Another tenant's patient or alert is a 404, like one that does not exist.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at definition time, and one of them
# names the dependency this factory is given.
import asyncio
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Protocol

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cds_cyto.store import Store
from cds_cyto.store.alerts import ALL_TENANTS, Scope, acknowledge
from cds_cyto.sweep.worklist import build_worklist, patient_entries, render_csv

__all__ = ["caller_scope", "worklist_router"]

FORMATS = ("json", "csv")


class Caller(Protocol):
    """What the worklist needs of a verified client (the CDS door's `Caller`): its issuer and user."""

    @property
    def iss(self) -> str: ...

    @property
    def sub(self) -> str | None: ...


_ANONYMOUS = "anonymous"  # auth disabled: nobody to name


def caller_scope(client: Caller | None, issuer_tenants: Mapping[str, str | None]) -> Scope:
    """The tenant a caller may see: its issuer's configured one (the authenticator has checked the token's
    `tenant` claim against it). Not the claim alone: an issuer with no configured tenant could claim any."""
    if client is None:
        return ALL_TENANTS
    return Scope(issuer_tenants.get(client.iss))


def _problem(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type="application/json")


def _not_found(what: str) -> Response:
    return _problem(404, f"no such {what}")


def worklist_router(
    authenticate: Callable[..., Any],
    store_of: Callable[[Request], Store],
    issuer_tenants: Mapping[str, str | None],
) -> APIRouter:
    router = APIRouter(prefix="/worklist", tags=["worklist"], dependencies=[Depends(authenticate)])

    @router.get("")
    async def worklist(request: Request, client: Annotated[Any, Depends(authenticate)]) -> Response:
        # Query values are checked here, not by FastAPI: its 422 echoes the value back (`input`).
        unknown = sorted(set(request.query_params) - {"format"})
        if unknown:
            return _problem(400, "unknown query parameter: this endpoint takes only 'format' (one of: json, csv)")
        fmt = request.query_params.getlist("format") or ["json"]
        if len(fmt) > 1 or fmt[0] not in FORMATS:
            return _problem(400, "query parameter 'format' must be one of: json, csv")
        engine, scope = store_of(request).engine, caller_scope(client, issuer_tenants)
        # off the event loop: a worklist of thousands of patients takes long enough to stall /healthz
        if fmt[0] == "csv":
            text = await asyncio.to_thread(lambda: render_csv(build_worklist(engine, scope=scope)))
            return Response(text, media_type="text/csv; charset=utf-8")
        body = await asyncio.to_thread(lambda: orjson.dumps(build_worklist(engine, scope=scope).to_json()))
        return Response(body, media_type="application/json")

    @router.get("/patients/{patient_id}")
    async def patient(patient_id: str, request: Request, client: Annotated[Any, Depends(authenticate)]) -> Response:
        if set(request.query_params) - {"tenant"} or len(request.query_params.getlist("tenant")) > 1:
            return _problem(400, "this endpoint takes one query parameter, once: 'tenant'")
        scope = caller_scope(client, issuer_tenants)
        entries = await asyncio.to_thread(patient_entries, store_of(request).engine, patient_id, scope=scope)
        wanted = request.query_params.get("tenant")
        if wanted is not None and scope.everyone:  # "" names the untenanted patient
            entries = [e for e in entries if (e.get("tenant") or "") == wanted]
        elif wanted is not None and wanted != scope.tenant:  # a tenant's reader may name only its own
            entries = []
        if not entries:
            return _not_found("patient on the worklist")
        if len(entries) > 1:
            # only a reader of every tenant (auth disabled) can meet this: two tenants' patients of one id
            tenants = [e.get("tenant") or "" for e in entries]
            return Response(
                orjson.dumps({"error": "this patient id is held by several tenants: add ?tenant=", "tenants": tenants}),
                status_code=409,
                media_type="application/json",
            )
        return Response(orjson.dumps(entries[0]), media_type="application/json")

    @router.post("/alerts/{alert_id}/acknowledge")
    async def acknowledge_alert(
        alert_id: str, request: Request, client: Annotated[Any, Depends(authenticate)]
    ) -> Response:
        # the same dependency as the router's: FastAPI runs it once per request and hands over its result
        if client is not None and not client.sub:
            # a token that names no user cannot silence an alert: nobody would answer for it
            return _problem(403, "acknowledging needs a token whose 'sub' names the user")
        by = client.sub[:200] if client is not None else _ANONYMOUS
        scope = caller_scope(client, issuer_tenants)
        view = await asyncio.to_thread(acknowledge, store_of(request).engine, alert_id, by, scope=scope)
        if view is None:
            return _not_found("open alert")
        return Response(orjson.dumps({"id": view.uid, "state": view.state}), media_type="application/json")

    return router
