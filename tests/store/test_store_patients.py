"""Per-patient commits: state, alerts and run counters together; `done_in_run` is what a resumed sweep skips."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from cds_cyto.store import Store
from cds_cyto.store.alerts import Finding, alerts_of
from cds_cyto.store.patients import (
    Evaluation,
    PatientUpdate,
    done_in_run,
    load_patient,
    patient_summaries,
    save_patient,
)
from cds_cyto.store.runs import (
    adopt_run,
    count_failure,
    finish_run,
    get_run,
    last_completed_run,
    start_run,
    unfinished_run,
)

T0 = datetime(2031, 3, 1, 6, 0, tzinfo=UTC)
AS_OF = date(2031, 3, 1)
PLT = Finding("platelet-transfusion", "critical", "PLT 12", "PLT < 20", "ref")


def _evaluation(grades: dict[str, object], findings: list[Finding]) -> Evaluation:
    return Evaluation({"as_of": AS_OF.isoformat()}, "h-" + str(grades), "profile", AS_OF, 9, dict(grades), findings)


def _update(pid: str, run: int, evaluation: Evaluation | None, snapshot: dict[str, Any] | None = None) -> PatientUpdate:
    return PatientUpdate(pid, run, T0, True, 3, snapshot, "snap", evaluation)


def test_save_load_and_count(store: Store) -> None:
    e = store.engine
    run = start_run(e, "incremental", AS_OF, "me", T0)
    snapshot: dict[str, Any] = {"Patient/p1": {"resourceType": "Patient", "id": "p1"}}
    save_patient(e, _update("p1", run, _evaluation({"ICAHT early": 2}, [PLT]), snapshot), T0)
    save_patient(e, _update("p2", run, None, {}), T0)
    loaded = load_patient(e, "p1")
    assert loaded is not None
    assert (loaded.snapshot, loaded.grades, loaded.as_of, loaded.last_run_id) == (
        snapshot,
        {"ICAHT early": 2},
        AS_OF,
        run,
    )
    assert loaded.last_fetched_at == T0 and loaded.last_full_at == T0
    assert done_in_run(e, run) == {"p1", "p2"}
    info = get_run(e, run)
    assert info is not None
    assert (info.evaluated, info.unchanged, info.resources_fetched, info.alerts_opened) == (1, 1, 6, 1)


def test_grade_changes_remember_the_previous_grades(store: Store) -> None:
    e = store.engine
    r1 = start_run(e, "incremental", AS_OF, "me", T0)
    r2 = start_run(e, "incremental", AS_OF, "me", T0)
    save_patient(e, _update("p1", r1, _evaluation({"ICAHT early": 1}, [])), T0)
    save_patient(e, _update("p1", r2, _evaluation({"ICAHT early": 3}, [])), T0)
    summary = patient_summaries(e)[None, "p1"]
    assert (summary.previous_grades, summary.grades, summary.grades_changed_run_id) == (
        {"ICAHT early": 1},
        {"ICAHT early": 3},
        r2,
    )
    loaded = load_patient(e, "p1")
    assert loaded is not None and loaded.snapshot == {}


def test_a_failed_commit_leaves_nothing_behind(store: Store) -> None:
    e = store.engine
    r1 = start_run(e, "incremental", AS_OF, "me", T0)
    with pytest.raises(IntegrityError):  # no such run: the foreign key fails after the alert rows were staged
        save_patient(e, _update("p1", r1 + 100, _evaluation({}, [PLT])), T0)
    assert load_patient(e, "p1") is None
    assert alerts_of(e, "p1") == []
    assert done_in_run(e, r1) == set()


def test_run_lifecycle(store: Store) -> None:
    e = store.engine
    r1 = start_run(e, "full", AS_OF, "a", T0)
    count_failure(e, r1)
    crashed = unfinished_run(e)
    assert crashed is not None and (crashed.id, crashed.failed, crashed.mode) == (r1, 1, "full")
    adopt_run(e, r1, "b")
    adopted = get_run(e, r1)
    assert adopted is not None and (adopted.holder, adopted.failed) == ("b", 0)
    assert last_completed_run(e) is None
    finish_run(e, r1, "completed", now=T0 + timedelta(minutes=5))
    done = last_completed_run(e)
    assert done is not None and done.id == r1 and done.finished_at == T0 + timedelta(minutes=5)
    assert unfinished_run(e) is None
