"""A poisoned patient never stops a sweep (issue 15 item 2): on the real HAPI server, behind a local proxy that
breaks three patients' answers (see faulty_proxy.py for why a proxy), the sweep completes, records each failed
patient with a reason and a backoff, skips them while the backoff runs, and retries them when it has run out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cds_cyto.core.profile import default_profile
from cds_cyto.store import Store
from cds_cyto.store.alerts import ALL_TENANTS, alerts_of
from cds_cyto.store.runs import recent_runs
from cds_cyto.store.tables import PatientState
from cds_cyto.sweep import CohortQuery, SweepConfig, SweepReport, build_worklist, run_sweep
from tests.sweep.builders import course, load
from tests.sweep.faulty_proxy import faulty_proxy

pytestmark = pytest.mark.hapi

AS_OF = date(2047, 4, 1)  # this module's calendar on the shared server
T0 = datetime(2047, 4, 1, 6, 0, tzinfo=UTC)
POISONED = {"swp-500": "server-error", "swp-types": "wrong-types", "swp-html": "not-json"}
HEALTHY = ["swp-ok-1", "swp-ok-2"]


async def _sweep(store: Store, base_url: str, now: datetime) -> SweepReport:
    config = SweepConfig(
        fhir_base_url=base_url,
        as_of=AS_OF,
        cohort=CohortQuery(lookback_days=30),
        overlap_seconds=0.0,
        tenant="ward-p",
    )
    return await run_sweep(config, store, default_profile(), clock=lambda: now)


def _states(store: Store) -> dict[str, tuple[int, str | None, datetime | None]]:
    with store.sessions() as session:
        rows = session.query(PatientState).all()
        return {r.patient_id: (r.failures, r.failure_reason, r.retry_after) for r in rows}


async def test_poisoned_patients_are_reported_skipped_and_retried(hapi_url: str, store: Store) -> None:
    day0 = AS_OF - timedelta(days=8)
    resources = course("swp-ok-1", day0, [2, 6], plt=9.0) + course("swp-ok-2", day0, [2, 6])
    for pid in POISONED:
        resources += course(pid, day0, [2, 6], plt=9.0)  # valid on HAPI: only the proxy poisons them
    await load(hapi_url, resources)

    with faulty_proxy(hapi_url, POISONED) as proxy:
        first = await _sweep(store, proxy.base_url, T0)
        assert first.status == "completed", first.reason
        assert (first.cohort_size, first.evaluated, first.failed) == (5, 2, 3)
        assert first.errors == {
            "fetch: fhir-unavailable": 1,  # a 500, still a 500 after the client's retries
            "fetch: fhir-protocol": 2,  # a Bundle of the wrong JSON types, and a body that is not JSON
        }, first.errors
        assert "3 failed" in first.summary()
        assert "[failed: fetch: fhir-protocol ×2, fetch: fhir-unavailable ×1]" in first.summary()
        states = _states(store)
        for pid in POISONED:
            failures, reason, retry_after = states[pid]
            assert (failures, retry_after) == (1, T0 + timedelta(minutes=15)), pid
            assert reason is not None and reason.startswith("fetch: ") and pid not in reason
        [run] = recent_runs(store.engine)
        assert (run.status, run.failed) == ("completed", 3)
        assert run.note is not None and run.note.startswith("3 patient(s) failed and will be retried")
        worklist = build_worklist(store.engine, scope=ALL_TENANTS)
        assert sorted(f.patient_id for f in worklist.failed) == sorted(POISONED)
        assert worklist.to_json()["failed_patients"][0]["reason"].startswith("fetch: ")
        assert [r.patient_id for r in worklist.rows] == ["swp-ok-1"], "the healthy patient's alert is there"

        # Five minutes later the backoff has not run out: the poisoned patients are not even asked for.
        hits = dict(proxy.hits)
        second = await _sweep(store, proxy.base_url, T0 + timedelta(minutes=5))
        assert second.status == "completed"
        assert (second.deferred, second.failed, second.evaluated + second.unchanged) == (3, 0, 2)
        assert proxy.hits == hits
        assert "3 waiting to be retried" in second.summary()

        # Twenty minutes on, the backoff is over: one server fault has gone, two remain.
        del proxy.poisoned["swp-500"]
        third = await _sweep(store, proxy.base_url, T0 + timedelta(minutes=20))
        assert third.status == "completed"
        assert (third.deferred, third.failed, third.evaluated) == (0, 2, 1)
        states = _states(store)
        assert states["swp-500"] == (0, None, None), "a success clears the failure"
        assert {a.code for a in alerts_of(store.engine, "swp-500")} == {"platelet-transfusion"}
        for pid in ("swp-types", "swp-html"):
            assert states[pid][0] == 2
            assert states[pid][2] == T0 + timedelta(minutes=20 + 30), "the wait doubles"
    assert [r.status for r in recent_runs(store.engine)] == ["completed"] * 3, "no run is left running"
