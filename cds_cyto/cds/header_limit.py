"""Oversized request headers get a 431 OperationOutcome (issue 15 item 8: a 1 MB token got uvicorn's plain-text 400).

uvicorn (h11) refuses a request head larger than its limit before the app sees it, with a plain-text 400;
`cds-cyto serve` raises that limit to `MAX_REQUEST_HEAD_BYTES` so that such heads reach this middleware, which
answers anything past `MAX_HEADER_BYTES` (one header) or `MAX_HEADERS_BYTES` (all of them) with a 431 and an
OperationOutcome, before any route, token check or body read. A head larger still keeps uvicorn's 400.
"""

from __future__ import annotations

from typing import Any

import orjson

from cds_cyto.cds.outcome import operation_outcome

__all__ = ["MAX_HEADERS_BYTES", "MAX_HEADER_BYTES", "MAX_REQUEST_HEAD_BYTES", "HeaderLimit"]

MAX_HEADER_BYTES = 16 * 1024  # an EHR's signed JWT is 1–2 KB; a FHIR access token travels in the body
MAX_HEADERS_BYTES = 32 * 1024
MAX_REQUEST_HEAD_BYTES = 2 * 1024 * 1024  # what uvicorn buffers of a request head (its default is 16 KB)

_BODY = orjson.dumps(
    operation_outcome(
        "header-too-large",
        f"a request header is larger than {MAX_HEADER_BYTES} bytes, or all of them than {MAX_HEADERS_BYTES}",
        fhir_code="too-long",
    )
)


class HeaderLimit:
    """Pure ASGI middleware: cheap on every request (a sum over the header lengths), never reads the body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _too_large(scope["headers"]):
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [
                        (b"content-type", b"application/fhir+json"),
                        (b"content-length", str(len(_BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BODY})
            return
        await self.app(scope, receive, send)


def _too_large(headers: list[tuple[bytes, bytes]]) -> bool:
    total = 0
    for name, value in headers:
        size = len(name) + len(value)
        if size > MAX_HEADER_BYTES:
            return True
        total += size
    return total > MAX_HEADERS_BYTES
