"""A real local HTTP server in front of HAPI that breaks the answers for chosen patients only.

HAPI accepts only valid resources and never fails one patient's searches alone, so the faults a poisoned patient
brings (a 500 for that patient, a Bundle of the wrong JSON types, a body that is not JSON) cannot be had from it:
this proxy forwards everything else to HAPI unchanged and answers those patients' requests with the fault.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import httpx

__all__ = ["FAULTS", "FaultyProxy", "faulty_proxy"]

# fault → (status, content type, body)
FAULTS: dict[str, tuple[int, str, bytes]] = {
    "server-error": (
        500,
        "application/fhir+json",
        b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}',
    ),
    "wrong-types": (200, "application/fhir+json", b'{"resourceType":"Bundle","type":"batch-response","entry":5}'),
    "not-json": (200, "application/fhir+json", b"<html>gateway</html>"),
}


@dataclass
class FaultyProxy:
    upstream: str  # HAPI's origin
    poisoned: dict[str, str]  # patient id → fault name; emptied to "heal" the server
    origin: str = ""
    base_url: str = ""  # the FHIR base URL to sweep: HAPI's, on the proxy's origin
    hits: dict[str, int] = field(default_factory=dict)  # poisoned patient → requests answered with its fault

    def fault_for(self, request_text: str) -> str | None:
        for pid, fault in self.poisoned.items():
            # a patient's searches name it `Patient/<id>` or `patient=<id>`; no longer id may follow
            if re.search(rf"(Patient/|patient=){re.escape(pid)}(?![A-Za-z0-9.-])", request_text):
                self.hits[pid] = self.hits.get(pid, 0) + 1
                return fault
        return None


def _handler(proxy: FaultyProxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy.fault_for(unquote(self.path + "\n" + body.decode("utf-8", "replace")))
            if fault is not None:
                self._send(*FAULTS[fault])
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "content-type", "prefer")}
            upstream = client.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
            # links in the answer name HAPI; the client follows only links to the server it asked
            payload = upstream.content.replace(proxy.upstream.encode(), proxy.origin.encode())
            self._send(upstream.status_code, upstream.headers.get("content-type", "application/json"), payload)

        def _send(self, status: int, ctype: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_PUT(self) -> None:
            self._answer()

    return Handler


@contextmanager
def faulty_proxy(hapi_base_url: str, poisoned: dict[str, str]) -> Iterator[FaultyProxy]:
    """`hapi_base_url` is e.g. http://127.0.0.1:8080/fhir; the proxy serves the same path on its own port."""
    parsed = httpx.URL(hapi_base_url)
    origin = f"{parsed.scheme}://{parsed.host}:{parsed.port}"
    proxy = FaultyProxy(origin, dict(poisoned))
    with httpx.Client(timeout=60) as client:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, client))
        proxy.origin = f"http://127.0.0.1:{server.server_address[1]}"
        proxy.base_url = proxy.origin + parsed.path
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()
