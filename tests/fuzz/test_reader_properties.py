"""Every reader of FHIR JSON, driven with type-mutated documents (issue 15 item 2): a mutated input gives a record
(with data problems), or one of the errors its callers handle — never another exception.

The declared errors are those the doors turn into answers: `SourceError` and its kinds (`PrefetchUnavailable`,
`PatientNotFound`, `FhirProtocolError`, `FhirError`: the hook's 412, cds/patient_view.py), `HookFailure` (the
hook's 4xx/412 OperationOutcome), and for bytes `orjson.JSONDecodeError` / `NotFhirError` (the CLI's one line).
The readers inside `extract_record` are also driven directly, since `extract_record` would hide their exceptions
as `unreadable` problems.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_cyto.cds.patient_view import HookFailure, PatientViewService
from cds_cyto.cds.request_body import read_hook_body
from cds_cyto.core.extract import (
    extract_record,
    extract_record_json,
    extract_records,
    read_resources,
    split_by_patient,
    unresolved_medication_ids,
)
from cds_cyto.core.extract.events import EventReader
from cds_cyto.core.extract.fhir_json import (
    codings,
    flat_resources,
    parse_instant,
    patient_of,
    period_start,
    version_key,
)
from cds_cyto.core.extract.lean import NotFhirError, resources_from_json, settle_entries
from cds_cyto.core.extract.observations import ObservationReader
from cds_cyto.core.extract.problems import ProblemLog
from cds_cyto.core.extract.record import PatientRecord
from cds_cyto.core.profile import default_profile
from cds_cyto.settings import repo_path
from cds_cyto.sources import FhirPatientSource, FhirPool, PrefetchSource, SourceError
from cds_cyto.sources import _fhir_json as fj
from tests.fuzz.cases import PID, hook_case, patient_resources, prefetch_body, serve_mutating_fhir
from tests.support.mutate import mutate_seeded, to_json
from tests.support.patient_bundle import make_patient_bundle

PROFILE = default_profile()
TEMPLATES = json.loads(repo_path("hooks", "cyto-patient-view.json").read_text())["prefetch"]
SEEDS = st.integers(min_value=0, max_value=2**63)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _documents() -> list[Any]:
    """Valid documents of every shape the readers get: the fixture Bundles, a patient's searchset, the bench's
    Bundle (Observations), and each resource type alone."""
    files = sorted(Path(repo_path("fixtures", "edge")).glob("*.json")) + sorted(
        Path(repo_path("fixtures", "doors")).glob("*.json")
    )
    docs: list[Any] = [json.loads(f.read_text()) for f in files if f.name != "expected.json"]
    resources = patient_resources()
    docs.append({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]})
    docs.append(make_patient_bundle(40, pid=PID))
    docs.extend(resources)
    return docs


DOCUMENTS = _documents()
DOCS = st.sampled_from(DOCUMENTS)


def _mutated(doc: Any, seed: int) -> Any:
    return mutate_seeded(doc, seed)


@FUZZ
@given(doc=DOCS, seed=SEEDS)
def test_extract_record_gives_a_record_for_any_mutation(doc: Any, seed: int) -> None:
    data = _mutated(doc, seed)
    assert isinstance(extract_record(data, PROFILE, patient_id=PID), PatientRecord)
    assert isinstance(extract_record(data, PROFILE), PatientRecord)
    assert all(isinstance(r, PatientRecord) for r in extract_records(data, PROFILE))
    assert isinstance(split_by_patient(data), dict)


@FUZZ
@given(doc=DOCS, seed=SEEDS)
def test_the_bytes_reader_gives_resources_or_a_declared_error(doc: Any, seed: int) -> None:
    raw = to_json(_mutated(doc, seed))
    try:
        items = read_resources(raw)
    except (NotFhirError, orjson.JSONDecodeError):
        return
    extract_record(items, PROFILE, patient_id=PID)
    extract_records(items, PROFILE)
    resources_from_json(raw)
    with contextlib.suppress(orjson.JSONDecodeError):
        extract_record_json(raw, PROFILE)


@FUZZ
@given(doc=DOCS, seed=SEEDS)
def test_the_small_readers_never_raise(doc: Any, seed: int) -> None:
    data = _mutated(doc, seed)
    items = flat_resources(data)
    unresolved_medication_ids(items)
    fj.holds_another_patient(items, PID)
    settle_entries([(r.get("id") if isinstance(r, dict) else None, r) for r in items])
    for item in items:
        patient_of(item)
        version_key(item)
        fj.resource_key(item) if isinstance(item, dict) else None
        if isinstance(item, dict):
            list(codings(item.get("code")))
            parse_instant(period_start(item, "effective", "performed", "onset"))
    if isinstance(data, dict):  # as a Bundle, whatever its shape
        fj.bundle_shape_problem(data)
        fj.bundle_resources(data)
        fj.prefetched_searchset(data)
        fj.search_outcomes(data)
        fj.next_link(data)
        fj.outcome_text(data)
        fj.has_error_issue(data)
        fj.entry_status(data)
        fj.as_transaction(data)


@FUZZ
@given(doc=st.sampled_from(patient_resources()), seed=SEEDS)
def test_each_resource_reader_never_raises(doc: Any, seed: int) -> None:
    """The readers `extract_record` calls, called directly: their exceptions would otherwise be hidden as
    `unreadable`, and a result that could have been read would be lost."""
    res = _mutated(doc, seed)
    if not isinstance(res, dict):
        return
    problems = ProblemLog()
    observations, events = ObservationReader(PROFILE, problems), EventReader(PROFILE, problems)
    rtype = doc["resourceType"]  # the reader the original went to, whatever the mutation did to resourceType
    if rtype == "Observation":
        observations.read(res, "Observation/x")
    elif rtype == "Patient":
        events.read_patient(res)
    elif rtype == "Procedure":
        events.read_procedure(res, "Procedure/x")
    elif rtype == "Condition":
        events.read_condition(res, "Condition/x")
        events.diagnosis()
    else:
        events.read_medication_use(res, "x", rtype)
    events.read_medication(res)


@FUZZ
@given(doc=DOCS, seed=SEEDS)
def test_the_lean_route_never_raises_on_a_mutated_observation_bundle(doc: Any, seed: int) -> None:
    """Lab results decoded lean, then read on the lean route (which hands anything unusual to the dict reader)."""
    raw = to_json(_mutated(doc, seed))
    try:
        items = read_resources(raw)
    except (NotFhirError, orjson.JSONDecodeError):
        return
    problems = ProblemLog()
    observations = ObservationReader(PROFILE, problems)
    for item in items:
        if item.__class__.__name__ == "LeanObservation":
            observations.read_lean(item, "Observation/x")


def _resolve(prefetch: Any) -> None:
    source = PrefetchSource(prefetch, TEMPLATES, None, context={"patientId": PID, "userId": "Practitioner/1"})
    try:
        result = asyncio.run(source.resolve(PID))
    except SourceError:
        return
    extract_record(result.resources, PROFILE, patient_id=PID)


@FUZZ
@given(seed=SEEDS)
def test_the_prefetch_reader_gives_resources_or_a_source_error(seed: int) -> None:
    body = mutate_seeded(prefetch_body(), seed, under=("prefetch",))
    prefetch = body.get("prefetch") if isinstance(body, dict) else None
    if isinstance(prefetch, dict):
        _resolve(prefetch)


@FUZZ
@given(seed=SEEDS)
def test_the_prefetch_reader_of_lean_decoded_bodies_gives_resources_or_a_source_error(seed: int) -> None:
    """As the service reads them: bytes → `read_hook_body` (searchsets sorted, lab results lean) → the reader."""
    body = mutate_seeded(prefetch_body(), seed, under=("prefetch",))
    try:
        parsed = read_hook_body(to_json(body))
    except orjson.JSONDecodeError:
        return
    prefetch = parsed.get("prefetch") if isinstance(parsed, dict) else None
    if isinstance(prefetch, dict):
        _resolve(prefetch)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> PatientViewService:
    from cds_cyto.app import create_app
    from cds_cyto.settings import Settings

    tmp = tmp_path_factory.mktemp("fuzz-service")
    settings_ = Settings(
        auth="disabled", database_url=f"sqlite:///{tmp / 's.sqlite'}", demo_dir=tmp / "none", as_of=date(2026, 3, 8)
    )
    handler: PatientViewService = create_app(settings_).state.runtime.handlers["cyto-patient-view"]
    return handler


@FUZZ
@given(seed=SEEDS)
def test_the_hook_handler_gives_cards_or_a_hook_failure(service: PatientViewService, seed: int) -> None:
    """The whole hook below HTTP: a mutated body (anywhere) gives cards or a `HookFailure` (4xx/412)."""
    _kind, raw = hook_case(seed, None)
    try:
        body = read_hook_body(raw)
    except orjson.JSONDecodeError:
        return
    try:
        asyncio.run(service.handle(body))
    except HookFailure as failure:
        assert 400 <= failure.status < 500 and failure.outcome["resourceType"] == "OperationOutcome"


@pytest.fixture(scope="module")
def fhir_base() -> Iterator[str]:
    with serve_mutating_fhir() as server:
        yield server.base


@settings(max_examples=150, deadline=None)
@given(seed=SEEDS)
def test_the_fhir_source_reads_mutated_answers_or_raises_a_source_error(fhir_base: str, seed: int) -> None:
    """A real FHIR server (thread) answering with mutated Bundles, CapabilityStatements and batch-responses."""

    async def fetch() -> None:
        async with FhirPool() as pool:
            source = FhirPatientSource(pool.client(f"{fhir_base}/s/{seed}"))
            try:
                resources = await source.patient_resources(PID)
            except SourceError:
                return
            extract_record(resources, PROFILE, patient_id=PID)

    asyncio.run(fetch())
