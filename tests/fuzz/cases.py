"""Seeded fuzz cases for the hook: type-mutated request bodies (prefetch and top-level fields) and a real local FHIR
server whose answers are type-mutated (issue 15 item 2). Shared by tests/fuzz and bench/bench_fuzz.py.

A case is named by its seed alone: the body `hook_case(seed, base)` and, for a fetching case, every answer the
server gives under `/s/<seed>/` are functions of the seed, whatever order the service sends its queries in.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.cds.scenario import (
    cytopenic_patient,
    filgrastim,
    gcsf_by_reference,
    hook_request,
    prefetch_for,
    searchset,
)
from tests.support.mutate import Path, mutate, to_json

__all__ = ["PID", "MutatingFhirServer", "hook_case", "patient_resources", "prefetch_body", "serve_mutating_fhir"]

PID = "pt-1"
FETCHED = ("Patient", "Observation", "Procedure", "Condition", "MedicationAdministration", "MedicationStatement")


def patient_resources() -> list[dict[str, Any]]:
    """A cytopenic patient with every resource type the readers read: labs (one a CBC panel, one with a urn:uuid
    fullUrl in prefetch), a CAR-T infusion, a CRS Condition, G-CSF by medicationReference, a MedicationStatement."""
    resources = cytopenic_patient(PID) + gcsf_by_reference(PID, range(2, 4))
    resources.append(
        {
            "resourceType": "Observation",
            "id": f"{PID}-cbc",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2"}]},
            "subject": {"reference": f"Patient/{PID}"},
            "effectiveDateTime": "2026-03-06T08:00:00+01:00",
            "component": [
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
                    "valueQuantity": {"value": 0.4, "unit": "10*9/L", "system": "http://unitsofmeasure.org"},
                    "referenceRange": [{"low": {"value": 1.8, "unit": "10*9/L"}}],
                }
            ],
        }
    )
    resources.append(
        {
            "resourceType": "Condition",
            "id": f"{PID}-crs",
            "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D89.832"}]},
            "onsetDateTime": "2026-03-03",
            "abatementPeriod": {"start": "2026-03-04", "end": "2026-03-05"},
        }
    )
    resources.append(
        {
            "resourceType": "MedicationStatement",
            "id": f"{PID}-ms",
            "status": "completed",
            "subject": {"reference": f"Patient/{PID}"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "L03AA02"}]},
            "effectivePeriod": {"start": "2026-03-04", "end": "2026-03-05"},
        }
    )
    return resources


def prefetch_body() -> dict[str, Any]:
    """A complete, valid hook request with every prefetch key."""
    prefetch = prefetch_for(patient_resources())
    prefetch["medicationAdministrations"]["entry"].append({"resource": filgrastim(), "search": {"mode": "include"}})
    labs = prefetch["observations"]["entry"]
    labs[-1] = {"fullUrl": "urn:uuid:5d4d4b58-0b0c-4b43-9f43-3b2b1f0f6b6e", "resource": dict(labs[-1]["resource"])}
    labs[-1]["resource"].pop("id", None)
    return hook_request(PID, prefetch=prefetch)


# Where a prefetch case's mutations land: anywhere, or inside one prefetch value (where readers look most).
_PREFETCH_TARGETS: tuple[Path, ...] = (
    (),
    ("prefetch",),
    ("prefetch", "patient"),
    ("prefetch", "observations"),
    ("prefetch", "observations", "entry"),
    ("prefetch", "procedures"),
    ("prefetch", "conditions"),
    ("prefetch", "medicationAdministrations"),
    ("prefetch", "medicationStatements"),
)


def hook_case(seed: int, fhir_base: str | None) -> tuple[str, bytes]:
    """(kind, body) of case `seed`: "prefetch" (a mutated body, no FHIR server) or, for one seed in eight when a
    mutating server's base is given, "fetch" (no prefetch: every key is fetched from `fhir_base`/s/<seed>, whose
    answers are mutated; the body's top-level fields are mutated now and then too)."""
    rng = random.Random(seed)
    if fhir_base is not None and seed % 8 == 3:  # fetching costs ~9 round trips: fewer of them, for the budget
        body = hook_request(PID, fhirServer=f"{fhir_base}/s/{seed}")
        if rng.random() < 0.1:
            body = mutate(body, rng, at_most=1)
        return "fetch", to_json(body)
    return "prefetch", to_json(mutate(prefetch_body(), rng, under=rng.choice(_PREFETCH_TARGETS)))


class _Answers:
    """The answers under /s/<seed>/: clean documents, one (or two) of them mutated, all functions of the seed."""

    def __init__(self, seed: int, base: str) -> None:
        rng = random.Random(seed)
        self.seed = seed
        self.base = base
        self.targets = set(rng.sample((*FETCHED, "Medication", "metadata", "batch", "page2"), rng.choice((1, 1, 2))))
        self.batch = (seed // 8) % 3 == 0  # the server offers batch for some cases: both fetch routes are driven
        self.paged = (seed // 8) % 2 == 0
        by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in patient_resources():
            by_type.setdefault(resource["resourceType"], []).append(resource)
        self.by_type = by_type

    def _mutated(self, name: str, doc: Any) -> Any:
        if name not in self.targets:
            return doc
        return mutate(doc, random.Random(f"{self.seed}/{name}"))

    def metadata(self) -> Any:
        interactions = [{"code": "batch"}] if self.batch else [{"code": "search-system"}]
        doc = {"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "interaction": interactions}]}
        return self._mutated("metadata", doc)

    def search(self, rtype: str, query: dict[str, list[str]]) -> Any:
        if rtype == "Medication":
            return self._mutated("Medication", searchset([filgrastim()]))
        resources = self.by_type.get(rtype, [])
        if rtype == "MedicationAdministration":
            resources = [*resources, filgrastim()]
        if rtype == "Observation" and self.paged:
            if query.get("page") == ["2"]:
                return self._mutated("page2", searchset(resources[len(resources) // 2 :]))
            first = searchset(resources[: len(resources) // 2])
            first["link"] = [{"relation": "next", "url": f"{self.base}/s/{self.seed}/Observation?page=2"}]
            return self._mutated(rtype, first)
        return self._mutated(rtype, searchset(resources))

    def read(self, rtype: str, rid: str) -> tuple[int, Any]:
        if rtype == "Patient" and rid == PID:
            return 200, self._mutated("Patient", self.by_type["Patient"][0])
        return 404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}

    def batch_response(self, request: Any) -> Any:
        entries: list[dict[str, Any]] = []
        for entry in request.get("entry") or []:
            url = str(entry.get("request", {}).get("url", ""))
            path, _, query = url.partition("?")
            parts = path.split("/")
            if len(parts) == 2:
                status, resource = self.read(parts[0], parts[1])
            else:
                status, resource = 200, self.search(parts[0], parse_qs(query))
            entries.append({"resource": resource, "response": {"status": f"{status} OK"}})
        return self._mutated("batch", {"resourceType": "Bundle", "type": "batch-response", "entry": entries})


class MutatingFhirServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops connection attempts under load: a 1 s SYN retry each

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (a refused answer is not read to its end) is no error of the server's

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: MutatingFhirServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle would hold each answer ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tens of thousands of requests: no access log

    def _answers(self) -> tuple[_Answers, list[str], dict[str, list[str]]] | None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "s" or not parts[1].isdigit():
            return None
        return _Answers(int(parts[1]), self.server.base), parts[2:], parse_qs(url.query)

    def _send(self, status: int, doc: Any) -> None:
        body = to_json(doc)
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        found = self._answers()
        if found is None:
            self._send(404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})
            return
        answers, parts, query = found
        if parts == ["metadata"]:
            self._send(200, answers.metadata())
        elif len(parts) == 1:
            self._send(200, answers.search(parts[0], query))
        elif len(parts) == 2:
            self._send(*answers.read(parts[0], parts[1]))
        else:
            self._send(404, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        found = self._answers()
        if found is None or not isinstance(request, dict):
            self._send(400, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]})
            return
        self._send(200, found[0].batch_response(request))


@contextmanager
def serve_mutating_fhir() -> Iterator[MutatingFhirServer]:
    """A real HTTP server on a free loopback port, in a thread, answering with mutated FHIR under /s/<seed>/."""
    server = MutatingFhirServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="mutating-fhir", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
