"""Operations: liveness (`/healthz`) and readiness (`/readyz`: the services are loaded and the database answers).

`/healthz` is answered by `HealthzFirst`, an ASGI layer in front of the app: no routing, no request-id middleware,
no log line. Under hook load every step the event loop takes for a probe is a step it waits its turn for, and a
load balancer polling it must not add a log line per poll. The route stays for apps built without the layer.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cds_cyto.cds.routes import json_response
from cds_cyto.cds.runtime import runtime_of

__all__ = ["HealthzFirst", "ops_router"]

_OK = b'{"status":"ok"}'


def _request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The caller's X-Request-ID when it is a plain token (as the app's middleware accepts it), else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and 8 <= len(value) <= 64 and value.replace(b"-", b"").isalnum():
            return value
    return uuid.uuid4().hex.encode()


class HealthzFirst:
    """Pure ASGI: `GET`/`HEAD /healthz` answered at once, everything else passed on untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/healthz" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_OK)).encode()),
            (b"x-request-id", _request_id(scope["headers"])),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else _OK})


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
            checks["database"] = await asyncio.to_thread(runtime.store.ping)  # a slow database must not stall the loop
        except Exception:  # readiness reports, it does not raise
            checks["database"] = False
        ready = all(checks.values())
        return json_response({"status": "ready" if ready else "not-ready", "checks": checks}, 200 if ready else 503)

    return router
