"""The web app: one router per domain — hooks and rule pages (cds), the worklist (sweep), operations — composed
here, so no door imports another. Settings are read when the app is built (or passed in by tests), never at import.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds_cyto.app.ops import HealthzFirst, ops_router
from cds_cyto.cds.header_limit import HeaderLimit
from cds_cyto.cds.interpreter import tune_for_latency
from cds_cyto.cds.outcome import operation_outcome
from cds_cyto.cds.patient_view import HookFailure
from cds_cyto.cds.routes import Unauthorized, client_of, docs_router, hooks_router, json_response
from cds_cyto.cds.runtime import Runtime, store_of
from cds_cyto.logs import request_id
from cds_cyto.screen import screen_pages
from cds_cyto.settings import Settings
from cds_cyto.sweep.routes import worklist_router
from cds_cyto.sweep.scheduler import SweepScheduler, schedule_trigger

__all__ = ["create_app"]

log = logging.getLogger("cds_cyto.http")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for `settings` (default: read from the environment now)."""
    settings = settings or Settings()
    screen = screen_pages(settings)  # checks the SMART app's settings before the store is touched (issue 17)
    runtime = Runtime.build(settings)
    tune_for_latency()  # /healthz keeps answering while the worker thread parses and evaluates

    # Scheduled cohort sweeps (issue 7) run on their own thread; built now so a bad schedule fails at start-up.
    sweeps = SweepScheduler(settings, runtime.profile, runtime.store) if schedule_trigger(settings) else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if runtime.answers is not None:
            runtime.answers.start()  # the worker processes build the profile while the first calls come in
        if sweeps is not None:
            sweeps.start()
        yield
        if sweeps is not None:
            await asyncio.to_thread(sweeps.shutdown)  # waits for the patients in flight
        await runtime.aclose()

    app = FastAPI(title="cds-cyto", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.state.sweeps = sweeps
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.middleware("http")
    async def _request_id(request: Request, call_next: Callable[[Request], Any]) -> Any:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if 8 <= len(incoming) <= 64 and incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error")
            response = json_response(operation_outcome("internal", "internal error", fhir_code="exception"), 500)
        finally:
            request_id.reset(token)
        response.headers["X-Request-ID"] = rid
        route = request.scope.get("route")
        log.info(
            "request",
            extra={
                "request_id": rid,
                "method": request.method,
                "route": getattr(route, "path", "unmatched"),
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_request: Request, _exc: Unauthorized) -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HookFailure)
    async def _hook_failure(_request: Request, exc: HookFailure) -> Response:
        return json_response(exc.outcome, exc.status, exc.headers)  # Retry-After on a 503

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return json_response(operation_outcome(code, str(exc.detail), fhir_code="not-found"), exc.status_code)

    app.include_router(hooks_router())
    # the worklist shows each caller its issuer's configured tenant only (issue 15)
    tenants = {iss: config.tenant for iss, config in runtime.issuers.items()}
    app.include_router(worklist_router(client_of, store_of, tenants))
    app.include_router(ops_router())
    app.include_router(docs_router())
    app.include_router(screen(runtime))  # the CAR-T team's pages (issue 17)
    app.add_middleware(HealthzFirst)  # a probe is answered before any other work (inside the header limit)
    app.add_middleware(HeaderLimit)  # outermost: an oversized header gets its 431 before anything else runs
    return app
