"""A small FHIR server on a real loopback socket that records what it is asked: `python -m
tests.sources.recording_fhir` prints its port on one line and serves until killed.

The first path segment picks what its CapabilityStatement says: `/batch/fhir` lists the `batch` interaction,
`/plain/fhir` lists none (so a client that asks uses separate searches). A Patient read gives the Patient (404 for
the id `missing`), a search an empty searchset (a MedicationStatement search: 400 with an OperationOutcome, as a
server that does not support that search answers), a batch POST a batch-response of those, entry by entry.
`GET /_requests` gives what was asked, in order:
`{"method", "path", "batch", "cache_control"}` (`batch`: the entries' URLs of a POST; `cache_control`: that header).
`/nocount/fhir` is `/batch/fhir` whose `_summary=count` searches fail (400), as a server that cannot count.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_lock = threading.Lock()
_requests: list[dict[str, Any]] = []


def _capability(batch: bool) -> dict[str, Any]:
    interactions = [{"code": "batch"}] if batch else [{"code": "history-system"}]
    return {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "interaction": interactions}]}


def _answer(url: str, behaviour: str = "") -> tuple[int, dict[str, Any]]:
    """What a GET of `url` (relative to the base) gives: status and body."""
    path = url.split("?", 1)[0]
    if behaviour == "nocount" and "_summary=count" in url:
        return 400, _outcome("_summary=count is not supported here")
    if "?" not in url and path.startswith("Patient/"):
        pid = path.split("/", 1)[1]
        if pid == "missing":
            return 404, _outcome("no such Patient")
        return 200, {"resourceType": "Patient", "id": pid}
    if path == "MedicationStatement":
        return 400, _outcome("MedicationStatement searches are not supported here")
    return 200, {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


def _outcome(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _split(self) -> tuple[str, str]:
        """(behaviour, the URL relative to the FHIR base)."""
        parts = self.path.lstrip("/").split("/", 2)
        return parts[0], parts[2] if len(parts) > 2 else ""

    def _record(self, urls: list[str]) -> dict[str, Any]:
        return {
            "method": self.command,
            "path": self.path,
            "batch": urls,
            "cache_control": self.headers["Cache-Control"],
        }

    def do_GET(self) -> None:
        if self.path == "/_requests":
            with _lock:
                self._send(list(_requests))
            return
        with _lock:
            _requests.append(self._record([]))
        behaviour, relative = self._split()
        if relative == "metadata":
            self._send(_capability(behaviour in ("batch", "nocount")))
        else:
            status, answer = _answer(relative, behaviour)
            self._send(answer, status)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        urls = [e["request"]["url"] for e in body.get("entry", [])]
        behaviour = self._split()[0]
        with _lock:
            _requests.append(self._record(urls))
        entries = []
        for url in urls:
            status, answer = _answer(url, behaviour)
            if status == 200:
                entries.append({"resource": answer, "response": {"status": "200 OK"}})
            else:
                entries.append({"response": {"status": f"{status} Error", "outcome": answer}})
        self._send({"resourceType": "Bundle", "type": "batch-response", "entry": entries})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
