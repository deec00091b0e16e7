"""A bound on receiving a request head (attack on issue 15: the read timeout covered bodies only).

uvicorn waits for a request head without any limit: a connection that sends nothing, or one header line every few
seconds (slowloris), is held for ever — each holding a socket and a file descriptor, until the process has none
left. `HeadTimeoutH11` is uvicorn's h11 protocol with one timer: from the moment a head is awaited (a new
connection, or the next request on a kept-alive one) it must be complete within CDS_CYTO_REQUEST_READ_TIMEOUT_S,
however slowly it trickles; else a 408 OperationOutcome (when part of a head came) and the connection is closed.
Once the head is in, the body has its own timeout (cds/request_body.py).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from cds_cyto.cds.outcome import operation_outcome

__all__ = ["HeadTimeoutH11"]

_DEFAULT_S = 10.0  # the setting's default (settings.py): serve has validated the value before any connection


def _timeout_s() -> float:
    # Read from the environment, not passed in: with --workers each worker builds this class by its import path.
    try:
        value = float(os.environ.get("CDS_CYTO_REQUEST_READ_TIMEOUT_S", _DEFAULT_S))
    except ValueError:
        return _DEFAULT_S
    return value if value > 0 else _DEFAULT_S


_BODY = orjson.dumps(
    operation_outcome("request-timeout", "the request's headers did not arrive in time", fhir_code="timeout")
)
_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/fhir+json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class HeadTimeoutH11(H11Protocol):
    timeout_s: float | None = None  # per process, on its first connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._head_in()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._await_head()  # the next request's head; uvicorn's keep-alive timer stops at its first byte

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_in()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_in()
        if HeadTimeoutH11.timeout_s is None:
            HeadTimeoutH11.timeout_s = _timeout_s()
        self._head_timer = self.loop.call_later(HeadTimeoutH11.timeout_s, self._head_late)

    def _head_in(self) -> None:
        timer: Any = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # part of a head came: say why it is closed (h11 cannot: no request yet)
            self.transport.write(_RESPONSE)
        self.transport.close()
