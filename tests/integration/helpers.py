"""Helpers for the real-server tests: unique ids, loading resources onto HAPI, and a TCP proxy that can be slowed
down or cut.

HAPI runs once per test session and is shared, so every test writes its own patients under fresh ids (HAPI needs
a letter in client-assigned ids: `unique_id` always starts with one).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from cds_cyto.sources import FhirClient, Timeouts, as_transaction

__all__ = [
    "AS_OF",
    "BIG_OBSERVATIONS",
    "SMALL_OBSERVATIONS",
    "CytopenicPatient",
    "LoadedPatients",
    "TcpProxy",
    "load_resources",
    "unique_id",
]

LOOPBACK = "127.0.0.1"
BIG_OBSERVATIONS = 1500
SMALL_OBSERVATIONS = 40
AS_OF = date(2026, 3, 8)  # day +7 after make_patient_bundle's and the scenario's infusion on 2026-03-01


@dataclass(frozen=True)
class LoadedPatients:
    """Two patients put on HAPI with `cds-cyto fixtures load` from a directory of Bundle files."""

    big: str  # 1,500 Observations: more than one page at any page size HAPI allows
    small: str
    folder: Path
    big_file: Path
    load_output: str  # what the CLI printed
    load_seconds: float


@dataclass(frozen=True)
class CytopenicPatient:
    pid: str
    resources: list[dict[str, Any]]


def unique_id(prefix: str) -> str:
    """A FHIR id no other test (or earlier run against the same server) uses: "prefix-<12 hex>"."""
    if not prefix[:1].isalpha():
        raise ValueError("the prefix must start with a letter (HAPI refuses purely numeric client ids)")
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def load_resources_async(base_url: str, resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """PUT the resources in one transaction; returns the transaction-response."""
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    async with FhirClient(base_url, timeouts=Timeouts(connect=5.0, read=120.0, total=120.0)) as client:
        return await client.transaction(as_transaction(bundle))


def load_resources(base_url: str, resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """`load_resources_async` for synchronous tests and fixtures (no event loop may be running)."""
    return asyncio.run(load_resources_async(base_url, resources))


class TcpProxy:
    """A real TCP proxy on 127.0.0.1 in front of a server, one thread per direction and connection.

    `delay_s` holds back every chunk the server sends (a slow server); `cut_after_bytes` forwards that many bytes
    of responses in total, then cuts everything, as does `cut()`: the listening socket closes (new connections are
    refused, as with a stopped server) and open connections are shut down mid-stream. `sent_up` keeps what
    clients sent (request heads and bodies), so a test can check a header went out.
    """

    def __init__(self, upstream_base_url: str, *, delay_s: float = 0.0, cut_after_bytes: int | None = None) -> None:
        upstream = httpx.URL(upstream_base_url)
        if upstream.host is None or upstream.port is None:
            raise ValueError("the upstream URL needs a host and an explicit port")
        self._upstream = (upstream.host, upstream.port)
        self.delay_s = delay_s
        self.cut_after_bytes = cut_after_bytes
        self.connections = 0
        self.bytes_down = 0
        self.sent_up = bytearray()
        self.cut_at: float | None = None  # time.perf_counter() of the first cut
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self._listener.getsockname()[1]
        self.base_url = f"http://{LOOPBACK}:{self.port}{upstream.path.rstrip('/')}"
        self._acceptor = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        """Stop like a killed server: refuse new connections, break the open ones. Idempotent."""
        with self._lock:
            if self.cut_at is None:
                self.cut_at = time.perf_counter()
        self._cut.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() (Linux)
        if threading.current_thread() is not self._acceptor:
            self._acceptor.join(timeout=2.0)
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    close = cut

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cut()

    def _accept(self) -> None:
        try:
            while not self._cut.is_set():
                try:
                    client, _ = self._listener.accept()
                except OSError:
                    return
                try:
                    server = socket.create_connection(self._upstream, timeout=5.0)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                with self._lock:
                    if self._cut.is_set():
                        client.close()
                        server.close()
                        return
                    self.connections += 1
                    self._open += [client, server]
                for src, dst, down in ((client, server, False), (server, client, True)):
                    threading.Thread(target=self._pump, args=(src, dst, down), daemon=True).start()
        finally:
            self._listener.close()

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        try:
            while not self._cut.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if not down:
                    with self._lock:
                        self.sent_up += data
                    dst.sendall(data)
                    continue
                if self.delay_s:
                    time.sleep(self.delay_s)
                if self._cut.is_set():
                    break
                limit = self.cut_after_bytes
                with self._lock:
                    allowed = len(data) if limit is None else max(0, min(len(data), limit - self.bytes_down))
                    self.bytes_down += allowed
                dst.sendall(data[:allowed])
                if allowed < len(data) or (limit is not None and self.bytes_down >= limit):
                    self.cut()
                    break
        except OSError:
            pass  # the other side went away, or cut() closed the socket under us
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
