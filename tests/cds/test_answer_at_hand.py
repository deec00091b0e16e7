"""The one-hop hook path (`PatientViewService.answer_at_hand`, taken by a large call answered in this process)
gives `handle`'s answer or, when the call would read anything, no answer at all; its refusals are `handle`'s."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_cyto.app import create_app
from cds_cyto.cds.patient_view import HookFailure, PatientViewService
from cds_cyto.settings import Settings, repo_path
from tests.cds.scenario import cytopenic_patient, filgrastim, gcsf_by_reference, hook_request, prefetch_for

COHORT = sorted(repo_path("fixtures", "cohort").glob("syn-*.json"))


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PatientViewService]:
    tmp = tmp_path_factory.mktemp("at-hand")
    settings = Settings(
        auth="disabled", database_url=f"sqlite:///{tmp / 's.sqlite'}", as_of=date(2026, 3, 8), parse_processes=0
    )
    runtime = create_app(settings).state.runtime
    yield runtime.handlers["cyto-patient-view"]
    runtime.store.dispose()


def _outcome(call: Any) -> Any:
    try:
        return call()
    except HookFailure as failure:
        return failure.status, failure.outcome


def _both(handler: PatientViewService, body: dict[str, Any]) -> tuple[Any, Any]:
    raw = orjson.loads(orjson.dumps(body))  # each path its own copy, as each parses its own
    return _outcome(lambda: handler.answer_at_hand(raw)), _outcome(lambda: asyncio.run(handler.handle(body)))


@pytest.mark.parametrize("path", COHORT, ids=[p.stem for p in COHORT])
def test_every_demo_patient_fully_prefetched_gets_handles_answer(handler: PatientViewService, path: Path) -> None:
    resources = [e["resource"] for e in orjson.loads(path.read_bytes())["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    at_hand, handled = _both(handler, hook_request(pid, prefetch=prefetch_for(resources)))
    assert at_hand == handled


def test_cards_and_refusals_are_handles(handler: PatientViewService) -> None:
    cyto = prefetch_for(cytopenic_patient("pt-1"))
    for body, status in (
        (hook_request("pt-1", prefetch=cyto), None),
        (hook_request("pt-1", prefetch=cyto) | {"hook": "order-select"}, 400),
        (hook_request("pt-1", prefetch=cyto, fhirServer="http://192.0.2.1/fhir"), None),  # needed by nothing
        (hook_request("pt-1", prefetch=cyto, fhirServer="http://192.0.2.1/fhir") | {"fhirAuthorization": 5}, 400),
    ):
        at_hand, handled = _both(handler, body)
        assert at_hand == handled
        assert isinstance(at_hand, dict) if status is None else at_hand[0] == status


def test_a_call_that_would_read_gets_no_answer_at_hand(handler: PatientViewService) -> None:
    cyto = prefetch_for(cytopenic_patient("pt-1"))
    partial = {k: v for k, v in cyto.items() if k != "conditions"}
    doses = prefetch_for([*cytopenic_patient("pt-1"), *gcsf_by_reference("pt-1", range(5, 7))])
    server = "http://192.0.2.1/fhir"
    mixed = {**cyto, "observations": prefetch_for(cytopenic_patient("pt-2"))["observations"]}
    assert handler.answer_at_hand(hook_request("pt-1", prefetch=partial)) is None  # handle: 412, nothing to ask
    assert handler.answer_at_hand(hook_request("pt-1", prefetch=mixed)) is None  # another patient's: not used
    assert handler.answer_at_hand(hook_request("pt-1", prefetch=partial, fhirServer=server)) is None
    assert handler.answer_at_hand(hook_request("pt-1", prefetch=doses, fhirServer=server)) is None  # a Medication
    assert handler.answer_at_hand(hook_request("pt-1", prefetch=doses)) is not None  # none to ask: unresolved
    included = {**doses, "medicationAdministrations": {**doses["medicationAdministrations"]}}
    included["medicationAdministrations"]["entry"] = [
        *doses["medicationAdministrations"]["entry"],
        {"resource": filgrastim()},
    ]
    assert handler.answer_at_hand(hook_request("pt-1", prefetch=included, fhirServer=server)) is not None
