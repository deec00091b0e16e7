"""Sweeps against the real HAPI FHIR server: discovery, incremental re-assessment, de-duplicated alerts,
write-back, and one sweeper at a time."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from cds_cyto.core.profile import default_profile, load_profile
from cds_cyto.sources import FhirClient
from cds_cyto.store import Store
from cds_cyto.store.alerts import ALL_TENANTS, alerts_of
from cds_cyto.store.patients import load_patient
from cds_cyto.sweep import CohortQuery, SweepConfig, build_worklist, run_sweep
from cds_cyto.sweep.writeback import ALERT_SYSTEM, RISK_SYSTEM
from tests.support.site_model import artifact_doc
from tests.sweep.builders import count, course, load
from tests.sweep.conftest import sweep

pytestmark = pytest.mark.hapi

# This module's calendar: nothing else on the shared server has infusions near these dates.
AS_OF = date(2041, 2, 1)


async def _next_second() -> None:
    await asyncio.sleep(1.05 - time.time() % 1)


def _open_alerts(store: Store, patients: list[str]) -> Counter[tuple[str, str]]:
    return Counter(
        (a.patient_id, a.code) for p in patients for a in alerts_of(store.engine, p) if a.state != "resolved"
    )


async def test_incremental_sweeps_reassess_only_what_changed(hapi_url: str, store: Store) -> None:
    day0 = AS_OF - timedelta(days=12)
    plt, anc, ok3 = "swi-low-plt", "swi-low-anc", "swi-ok-3"
    recent = {
        plt: course(plt, day0, [2, 6, 10], plt=12.0),  # platelet transfusion (critical)
        anc: course(anc, day0, [2, 6, 10], anc=0.3),  # therapeutic G-CSF (warning)
        "swi-ok-1": course("swi-ok-1", day0 - timedelta(days=40), [2, 6, 10]),
        "swi-ok-2": course("swi-ok-2", day0 - timedelta(days=80), [2, 6]),
        ok3: course(ok3, day0, [2, 6, 10]),
    }
    elsewhere = {
        "swi-old": course("swi-old", AS_OF - timedelta(days=130), [2, 6]),  # beyond the 100-day look-back
        "swi-later": course("swi-later", AS_OF + timedelta(days=20), [2]),  # infused after as_of
    }
    await load(hapi_url, [r for rs in (*recent.values(), *elsewhere.values()) for r in rs])
    await _next_second()  # incremental fetches re-read the second before the last fetch: start after the load's

    first = await sweep(store, hapi_url, AS_OF)
    assert first.status == "completed"
    assert first.cohort_size == 5 and (first.evaluated, first.unchanged, first.failed) == (5, 0, 0)
    assert set(_open_alerts(store, list(recent))) == {(plt, "platelet-transfusion"), (anc, "gcsf-therapeutic")}
    assert load_patient(store.engine, "swi-old") is None

    # New results for two patients: platelets recover in one, neutrophils fall in another.
    await load(hapi_url, [count(plt, "plt", day0, 11, 45.0), count(ok3, "anc", day0, 11, 0.2)])
    second = await sweep(store, hapi_url, AS_OF)
    assert (second.evaluated, second.unchanged, second.failed) == (2, 3, 0)
    # One search per type learnt which two patients changed; only they were fetched (their Patient and new result)
    assert second.resources_fetched == 2 + 2, "the two changed patients' Patient reads and their new results"
    assert (second.alerts_opened, second.alerts_resolved) == (1, 1)
    alerts = _open_alerts(store, list(recent))
    assert set(alerts) == {(anc, "gcsf-therapeutic"), (ok3, "gcsf-therapeutic")}
    assert max(alerts.values()) == 1, "one open alert per patient and code"
    state = load_patient(store.engine, plt)
    assert state is not None and f"Observation/{plt}-plt-11" in state.snapshot
    assert f"Observation/{plt}-plt-10" in state.snapshot, "the merge keeps what was fetched before"

    third = await sweep(store, hapi_url, AS_OF)
    assert (third.evaluated, third.unchanged, third.alerts_opened, third.alerts_resolved) == (0, 5, 0, 0)
    # Nothing changed since: the three untouched patients are not fetched; the two changed ones may be, once more,
    # when the second sweep began within the second after their results (a second is always re-read).
    assert third.resources_fetched <= 2 + 2, "only the patients changed just before the second sweep"

    # A new day re-assesses everyone without new data; a full sweep refetches everything.
    fourth = await sweep(store, hapi_url, AS_OF + timedelta(days=1), full=True)
    assert (fourth.evaluated, fourth.unchanged) == (5, 0)
    assert fourth.resources_fetched >= first.resources_fetched

    worklist = build_worklist(store.engine, scope=ALL_TENANTS)
    assert worklist.since_run is not None and worklist.since_run.id == fourth.run_id


async def test_write_back_is_idempotent_by_identifier(hapi_url: str, store: Store) -> None:
    as_of = date(2043, 5, 1)
    day0 = as_of - timedelta(days=9)
    await load(hapi_url, course("swb-1", day0, [3, 8], plt=10.0, anc=0.2) + course("swb-2", day0, [3, 8]))
    ids = CohortQuery(patient_ids=("swb-1", "swb-2"))
    first = await sweep(store, hapi_url, as_of, cohort=ids, write_back=True)
    assert first.status == "completed" and first.write_back_failed == 0
    assert first.written_back == 2 + 1 + 1  # two RiskAssessments, a Flag per alert of swb-1

    await load(hapi_url, [count("swb-1", "plt", day0, 9, 60.0)])  # the platelet alert resolves
    second = await sweep(store, hapi_url, as_of, cohort=ids, write_back=True)
    assert second.evaluated == 1 and second.written_back == 1 + 2  # swb-1 only: its assessment and both Flags

    async with FhirClient(hapi_url) as client:
        risks = await client.search("RiskAssessment", {"identifier": f"{RISK_SYSTEM}|swb-1"})
        flags = await client.search("Flag", {"subject": "Patient/swb-1"})
    assert len(risks) == 1, "updated in place, not added again"
    assert {p["outcome"]["coding"][0]["code"] for p in risks[0]["prediction"]} == {"gcsf-therapeutic"}
    by_code = {f["code"]["coding"][0]["code"]: f for f in flags}
    assert len(flags) == 2 and all(f["identifier"][0]["system"] == ALERT_SYSTEM for f in flags)
    assert by_code["platelet-transfusion"]["status"] == "inactive"
    assert by_code["gcsf-therapeutic"]["status"] == "active"


def test_two_concurrent_sweepers_only_one_runs(hapi_url: str, store: Store, store_path: object) -> None:
    as_of = date(2044, 7, 1)
    patients = [f"swc-{i}" for i in range(6)]
    asyncio.run(load(hapi_url, [r for p in patients for r in course(p, as_of - timedelta(days=5), [1, 3])]))
    config = SweepConfig(fhir_base_url=hapi_url, as_of=as_of, cohort=CohortQuery(patient_ids=tuple(patients)))
    start = threading.Barrier(2)
    reports: list[str] = []

    def sweeper() -> None:
        own = Store(str(store.engine.url))  # a separate engine, as a second replica would have
        try:
            start.wait()
            reports.append(asyncio.run(run_sweep(config, own, default_profile())).status)
        finally:
            own.dispose()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(reports) == ["completed", "skipped"]
    assert sum(1 for p in patients if load_patient(store.engine, p) is not None) == len(patients)


async def test_logs_name_no_patient(hapi_url: str, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    as_of = date(2047, 1, 10)
    secret = "swl-ZX81-secret"
    await load(hapi_url, course(secret, as_of - timedelta(days=4), [1, 3], plt=5.0))
    caplog.set_level("DEBUG")
    ids = CohortQuery(patient_ids=(secret, "swl-missing"))
    report = await sweep(store, hapi_url, as_of, cohort=ids, write_back=True)
    assert report.status == "completed" and report.failed == 1 and report.errors == {"fetch: patient-not-found": 1}
    ours = [r for r in caplog.records if r.name.startswith("cds_cyto")]
    assert ours, "the sweep logs what it does"
    for record in ours:
        text = record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())
        assert "swl-" not in text, record.name


async def test_a_site_model_reaches_the_worklist_and_the_written_back_risk_assessment(
    hapi_url: str, store: Store, tmp_path: Path
) -> None:
    as_of = date(2044, 3, 1)
    day0 = as_of - timedelta(days=10)
    await load(hapi_url, course("ssm-1", day0, [-3, 2, 6], anc=1.5))  # baseline ANC 1.5 on day −3
    validation = {"auc_cv": 0.7, "auc_cv_ci95": [0.62, 0.78], "calibration_slope": 0.95, "calibration_intercept": 0.01}
    model = artifact_doc(
        {"baseline_neutrophils": -1.0},
        intercept=0.5,
        ranges={"baseline_neutrophils": (0.1, 10.0)},
        validation=validation,
        n=200,
        events=50,
    )
    path = tmp_path / "site_model.json"
    path.write_text(json.dumps(model))
    site = {"thresholds": {"site_model": {"unknown_disease_in_population": True}}}
    profile = load_profile(site=site, site_model=path)
    config = SweepConfig(
        fhir_base_url=hapi_url,
        as_of=as_of,
        overlap_seconds=0.0,
        cohort=CohortQuery(patient_ids=("ssm-1",)),
        write_back=True,
    )
    report = await run_sweep(config, store, profile)
    assert report.status == "completed" and report.write_back_failed == 0
    p = 1 / (1 + math.exp(-(0.5 - math.log(1.5))))
    state = load_patient(store.engine, "ssm-1")
    assert state is not None and state.assessment is not None
    assert state.assessment["risk"]["site_model"]["probability"] == pytest.approx(p, abs=1e-4)
    async with FhirClient(hapi_url) as client:
        (risk,) = await client.search("RiskAssessment", {"identifier": f"{RISK_SYSTEM}|ssm-1"})
    (prediction,) = [x for x in risk["prediction"] if "probabilityDecimal" in x]
    assert prediction["probabilityDecimal"] == pytest.approx(p, abs=1e-4)
    assert "cross-validated AUC 0.70 (95% CI 0.62-0.78), calibration slope 0.95" in prediction["rationale"]
    assert "caution: the patient's disease is not recorded here" in prediction["rationale"]
