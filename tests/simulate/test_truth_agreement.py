"""The engine (extract_record → evaluate) and the simulator's ground truth agree.

Two independent readings of clinical-reference §3: if they disagree, one of them has a bug or the reference is
ambiguous — either way a person should look. On a clean cohort every severe episode (onset, nadir, recovery,
new-onset) and both day-28 verdicts must match; on a messy cohort the engine's data problems (warnings) must be
exactly the injected ones, and its informational notes must point at injected items.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_cyto.simulate import CohortSpec, SimulatedPatient, plan_cohort, simulate_patient, transaction_bundle

assess = pytest.importorskip("cds_cyto.core.evaluate")
extract = pytest.importorskip("cds_cyto.core.extract")

LINEAGES = ("neutrophils", "hemoglobin", "platelets")
EPISODE_KEYS = ("profile", "onset_day", "nadir_value", "nadir_day", "recovery_day", "duration_days", "new_onset")
# The engine's informational notes and the injected mess they should come from.
INFO_FOR_KIND = {"duplicate": "duplicate", "status-excluded": "entered_in_error", "superseded": "amended"}


def engine_json(patient: SimulatedPatient) -> dict[str, Any]:
    record = extract.extract_record(transaction_bundle(patient.resources()))
    result: dict[str, Any] = assess.evaluate(record).to_json()
    return result


def cohort(spec: CohortSpec) -> list[tuple[SimulatedPatient, dict[str, Any]]]:
    patients = [simulate_patient(plan, spec) for plan in plan_cohort(spec)]
    return [(p, engine_json(p)) for p in patients]


@pytest.fixture(scope="module")
def clean() -> list[tuple[SimulatedPatient, dict[str, Any]]]:
    return cohort(CohortSpec(n=30, disease="mixed", seed=20261122, mess="none"))


@pytest.fixture(scope="module")
def messy() -> list[tuple[SimulatedPatient, dict[str, Any]]]:
    return cohort(
        CohortSpec(n=12, disease="mixed", seed=20261122, mess="heavy", data_cut=date(2026, 11, 20), mid_course=2)
    )


def test_engine_and_truth_agree_on_every_episode(clean: list[tuple[SimulatedPatient, dict[str, Any]]]) -> None:
    disagreements = []
    for patient, engine in clean:
        for lineage in LINEAGES:
            for profile in ("seed000", "seed001"):
                truth = patient.truth["lineages"][lineage][profile]["episodes"]
                found = [
                    {k: e[k] for k in EPISODE_KEYS}
                    for e in engine["lineages"][lineage]["episodes"]
                    if e["profile"] == profile
                ]
                if truth != found:
                    disagreements.append((patient.plan.patient_id, lineage, profile, truth, found))
    assert disagreements == []
    episodes = sum(len(p.truth["lineages"][lin]["seed000"]["episodes"]) for p, _ in clean for lin in LINEAGES)
    assert episodes >= 30  # the comparison is not vacuous


def test_engine_and_truth_agree_on_day28(clean: list[tuple[SimulatedPatient, dict[str, Any]]]) -> None:
    verdicts = [(p.plan.patient_id, p.truth["pht_day28"], e["pht_day28"]) for p, e in clean]
    assert [v for v in verdicts if v[1] != v[2]] == []
    assert {v[1]["seed000"] for v in verdicts} == {True, False}
    assert {v[1]["seed001"] for v in verdicts} == {True, False}


def test_engine_and_truth_agree_mid_course(messy: list[tuple[SimulatedPatient, dict[str, Any]]]) -> None:
    for patient, engine in messy:
        assert engine["pht_day28"] == patient.truth["pht_day28"], patient.plan.patient_id
        for lineage in LINEAGES:
            truth = patient.truth["lineages"][lineage]["seed000"]["episodes"]
            found = [
                {k: e[k] for k in EPISODE_KEYS}
                for e in engine["lineages"][lineage]["episodes"]
                if e["profile"] == "seed000"
            ]
            assert truth == found, (patient.plan.patient_id, lineage)


def test_the_engine_reports_exactly_the_injected_data_problems(
    messy: list[tuple[SimulatedPatient, dict[str, Any]]],
) -> None:
    injected_total = 0
    for patient, engine in messy:
        injected = {m.resource for m in patient.mess if m.data_problem}
        reported = {d["resource"] for d in engine["data_problems"] if d["severity"] == "warning"}
        assert reported == injected, patient.plan.patient_id
        injected_total += len(injected)
    assert injected_total >= 10


def test_the_engines_notes_point_at_injected_mess(messy: list[tuple[SimulatedPatient, dict[str, Any]]]) -> None:
    for patient, engine in messy:
        injected = {(m.kind, m.resource) for m in patient.mess}
        related = {r for _, r in injected if r}
        for note in engine["data_problems"]:
            if note["severity"] != "info" or note["code"] not in INFO_FOR_KIND:
                continue
            kind = INFO_FOR_KIND[note["code"]]
            assert any(k == kind for k, _ in injected), (patient.plan.patient_id, note)
            base = note["resource"].removesuffix("-p").removesuffix("-e").removesuffix("-d")
            assert note["resource"] in related or any(r.startswith(base) for r in related), note


FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "cohort"


@pytest.mark.skipif(not (FIXTURE / "truth.json").exists(), reason="no committed cohort")
def test_the_committed_cohort_and_its_truth_agree_with_the_engine() -> None:
    truth = orjson.loads((FIXTURE / "truth.json").read_bytes())
    for expected in truth["patients"]:
        bundle = orjson.loads((FIXTURE / f"{expected['patient_id']}.json").read_bytes())
        engine = assess.evaluate(extract.extract_record(bundle)).to_json()
        pid = expected["patient_id"]
        assert engine["pht_day28"] == expected["pht_day28"], pid
        for lineage in LINEAGES:
            found = [{k: e[k] for k in EPISODE_KEYS} for e in engine["lineages"][lineage]["episodes"]]
            wanted = [
                e for profile in ("seed000", "seed001") for e in expected["lineages"][lineage][profile]["episodes"]
            ]
            assert found == wanted, (pid, lineage)
        reported = {d["resource"] for d in engine["data_problems"] if d["severity"] == "warning"}
        assert reported == {m["resource"] for m in expected["mess"] if m["data_problem"]}, pid
