"""The FastAPI app: CDS Hooks discovery, the patient-view service, feedback, health, and rule pages.

Built by `create_app()`; settings are read when the app starts (or passed in by tests), never at import.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cds_cyto.cds.auth import AuthError, ClientAuthenticator, VerifiedClient, parse_trusted_issuers
from cds_cyto.cds.discovery import ServiceDefinition, discovery_document, load_services
from cds_cyto.cds.header_limit import HeaderLimit
from cds_cyto.cds.models import FeedbackRequest, HookRequest
from cds_cyto.cds.outcome import operation_outcome
from cds_cyto.cds.patient_view import HookFailure, PatientViewService, validation_outcome
from cds_cyto.cds.request_body import read_hook_body
from cds_cyto.logs import request_id
from cds_cyto.profile import Profile, default_profile, load_profile
from cds_cyto.rule_pages import rule_page
from cds_cyto.settings import Settings
from cds_cyto.sources import BundleFileSource, FhirPool, PatientSource, default_observation_codes
from cds_cyto.store import Store
from cds_cyto.sweep.routes import worklist_router
from cds_cyto.sweep.scheduler import SweepScheduler, schedule_trigger

__all__ = ["Runtime", "create_app"]

log = logging.getLogger("cds_cyto.http")
MAX_BODY = 32 * 1024 * 1024  # a large patient's prefetch fits; a runaway upload does not


@dataclass
class Runtime:
    settings: Settings
    profile: Profile
    services: dict[str, ServiceDefinition]
    handlers: dict[str, PatientViewService]
    store: Store
    pool: FhirPool
    authenticator: ClientAuthenticator | None

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        profile = (
            load_profile(settings.site_file, site_model=settings.site_model)
            if settings.site_file or settings.site_model
            else default_profile()
        )
        services = load_services(settings.hooks_dir, default_observation_codes(profile))
        store = Store(settings.database_url)
        store.create_schema()
        pool = FhirPool()
        # Synthetic patients only when the demo is asked for: without it, the hook answers from the prefetch and
        # the request's fhirServer, or with 412 (issue 15: production never serves synthetic data).
        demo: PatientSource | None = None
        if settings.demo:
            demo = BundleFileSource(settings.demo_dir)
            demo.load()  # read the demo files at start-up, not on the first clinician's call
        tz = ZoneInfo(settings.timezone)
        fixed = settings.as_of
        today: Callable[[], date] = (lambda: fixed) if fixed else (lambda: datetime.now(tz).date())
        handlers = {
            sid: PatientViewService(s, profile, pool, settings.public_base_url, demo, today, settings.fetch_timeout_s)
            for sid, s in services.items()
            if s.hook == "patient-view"
        }
        authenticator = None
        if settings.auth == "required":
            authenticator = ClientAuthenticator(
                parse_trusted_issuers(settings.trusted_issuers), max_lifetime=settings.token_max_lifetime_s
            )
        return cls(settings, profile, services, handlers, store, pool, authenticator)

    async def aclose(self) -> None:
        await self.pool.aclose()
        if self.authenticator is not None:
            await self.authenticator.aclose()
        self.store.dispose()


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _runtime_store(request: Request) -> Store:
    return _runtime(request).store


class _Unauthorized(Exception):
    pass


async def _client(request: Request) -> VerifiedClient | None:
    runtime = _runtime(request)
    if runtime.authenticator is None:
        return None
    audience = runtime.settings.public_base_url + request.url.path
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:  # [valid, garbage] must not pass on the first: which one a proxy reads is anyone's guess
        raise _Unauthorized
    try:
        return await runtime.authenticator.authenticate(headers[0] if headers else None, audience)
    except AuthError:
        raise _Unauthorized from None


Client = Annotated[VerifiedClient | None, Depends(_client)]


def _json(body: Any, status: int = 200) -> Response:
    media = "application/fhir+json" if isinstance(body, dict) and body.get("resourceType") else "application/json"
    return Response(orjson.dumps(body), status_code=status, media_type=media)


async def _read_json(request: Request, reader: Callable[[bytes], Any] = orjson.loads) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HookFailure(413, operation_outcome("too-large", "request body too large", fhir_code="too-costly"))
    try:
        return reader(raw)
    except orjson.JSONDecodeError:
        raise HookFailure(
            400,
            operation_outcome("invalid-json", "the request body is not valid JSON (or holds a number out of range)"),
        ) from None


def _hook_schema() -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": HookRequest.model_json_schema()}}}
    }


def _feedback_schema() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}},
        }
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for `settings` (default: read from the environment now)."""
    settings = settings or Settings()
    runtime = Runtime.build(settings)

    # Scheduled cohort sweeps (issue 7) run on their own thread; built now so a bad schedule fails at start-up.
    sweeps = SweepScheduler(settings, runtime.profile, runtime.store) if schedule_trigger(settings) else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
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
            response = _json(operation_outcome("internal", "internal error", fhir_code="exception"), 500)
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

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(_request: Request, _exc: _Unauthorized) -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HookFailure)
    async def _hook_failure(_request: Request, exc: HookFailure) -> Response:
        return _json(exc.outcome, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return _json(operation_outcome(code, str(exc.detail), fhir_code="not-found"), exc.status_code)

    @app.get("/cds-services", tags=["cds-hooks"])
    async def discovery(request: Request, _client: Client) -> Response:
        return _json(discovery_document(_runtime(request).services))

    @app.post("/cds-services/{service_id}", tags=["cds-hooks"], openapi_extra=_hook_schema())
    async def call_service(service_id: str, request: Request, _client: Client) -> Response:
        handler = _runtime(request).handlers.get(service_id)
        if handler is None:
            raise HookFailure(404, operation_outcome("unknown-service", "no such CDS service", fhir_code="not-found"))
        body = await _read_json(request, read_hook_body)
        return _json(await handler.handle(body))

    @app.post("/cds-services/{service_id}/feedback", tags=["cds-hooks"], openapi_extra=_feedback_schema())
    async def feedback(service_id: str, request: Request, client: Client) -> Response:
        runtime = _runtime(request)
        if service_id not in runtime.services:
            raise HookFailure(404, operation_outcome("unknown-service", "no such CDS service", fhir_code="not-found"))
        body = await _read_json(request)
        try:
            parsed = FeedbackRequest.model_validate(body)
        except ValidationError as exc:
            raise HookFailure(400, validation_outcome(exc)) from None
        items = [item.model_dump(mode="python") for item in parsed.feedback]
        runtime.store.add_feedback(service_id, items, client.iss if client else None)
        return Response(status_code=200)

    app.include_router(worklist_router(_client, _runtime_store))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> Response:
        runtime = _runtime(request)
        checks = {"services": bool(runtime.services)}
        try:
            checks["database"] = runtime.store.ping()
        except Exception:  # readiness reports, it does not raise
            checks["database"] = False
        ready = all(checks.values())
        return _json({"status": "ready" if ready else "not-ready", "checks": checks}, 200 if ready else 503)

    @app.get("/recommendations/{code}", tags=["docs"], response_class=HTMLResponse)
    async def recommendation_page(code: str, request: Request) -> Response:
        page = rule_page(code, _runtime(request).profile)
        if page is None:
            raise HookFailure(404, operation_outcome("not-found", "no such recommendation", fhir_code="not-found"))
        return HTMLResponse(page)

    app.add_middleware(HeaderLimit)  # outermost: an oversized header gets its 431 before anything else runs
    return app
