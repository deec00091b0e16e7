"""Operations: liveness (`/healthz`) and readiness (`/readyz`: the services are loaded and the database answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cds_cyto.cds.routes import json_response
from cds_cyto.cds.runtime import runtime_of

__all__ = ["ops_router"]


def ops_router() -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        runtime = runtime_of(request)
        checks = {"services": bool(runtime.services)}
        try:
            checks["database"] = runtime.store.ping()
        except Exception:  # readiness reports, it does not raise
            checks["database"] = False
        ready = all(checks.values())
        return json_response({"status": "ready" if ready else "not-ready", "checks": checks}, 200 if ready else 503)

    return router
