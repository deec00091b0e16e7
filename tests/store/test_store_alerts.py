"""Alerts across sweeps: one open alert per patient and code, acknowledged stays acknowledged, resolution."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cds_cyto.store import Alert, Store
from cds_cyto.store.alerts import Finding, acknowledge, alerts_of, reconcile, resolve_left_cohort
from cds_cyto.store.runs import get_run, start_run

T0 = datetime(2031, 3, 1, 6, 0, tzinfo=UTC)
PLT = Finding("platelet-transfusion", "critical", "PLT 12", "PLT < 20", "ref", [{"label": "PLT", "value": "12"}], 9)
GCSF = Finding("gcsf-therapeutic", "warning", "ANC 0.3", "ANC < 0.5", "ref", [], 9)


def _run(store: Store, n: int) -> int:
    return start_run(store.engine, "incremental", date(2031, 3, 1) + timedelta(days=n), "test", T0)


def _apply(store: Store, patient: str, run: int, findings: list[Finding]) -> tuple[int, int, int]:
    with Session(store.engine) as s, s.begin():
        r = reconcile(s, patient, run, findings, T0 + timedelta(hours=run))
    return r.opened, r.resolved, r.changed_urgency


def _open(store: Store, patient: str) -> list[tuple[str, str, str]]:
    return [(a.code, a.state, a.urgency) for a in alerts_of(store.engine, patient) if a.state != "resolved"]


def test_an_alert_lives_from_first_firing_to_the_run_it_stops(store: Store) -> None:
    r1, r2, r3, r4 = (_run(store, n) for n in range(4))
    assert _apply(store, "p1", r1, [PLT, GCSF]) == (2, 0, 0)
    assert _apply(store, "p1", r2, [PLT, GCSF]) == (0, 0, 0), "still firing: no duplicate"
    [plt] = [a for a in alerts_of(store.engine, "p1") if a.code == PLT.code]
    acked = acknowledge(store.engine, plt.uid, "nurse", T0)
    assert acked is not None and acked.state == "acknowledged"
    assert _apply(store, "p1", r3, [PLT]) == (0, 1, 0)
    assert _open(store, "p1") == [("platelet-transfusion", "acknowledged", "critical")], "ack survives firing"
    assert _apply(store, "p1", r4, [PLT, GCSF]) == (1, 0, 0), "a code that fires again is a new alert"
    history = [(a.code, a.state, a.opened_run_id, a.resolved_run_id) for a in alerts_of(store.engine, "p1")]
    assert history == [
        ("platelet-transfusion", "acknowledged", r1, None),
        ("gcsf-therapeutic", "resolved", r1, r3),
        ("gcsf-therapeutic", "new", r4, None),
    ]


def test_urgency_change_is_recorded_and_state_kept(store: Store) -> None:
    r1, r2 = _run(store, 0), _run(store, 1)
    _apply(store, "p1", r1, [GCSF])
    [alert] = alerts_of(store.engine, "p1")
    acknowledge(store.engine, alert.uid, "dr", T0)
    worse = Finding(GCSF.code, "critical", "ANC 0.1", GCSF.rule, GCSF.citation, [], 10)
    assert _apply(store, "p1", r2, [worse]) == (0, 0, 1)
    [alert] = alerts_of(store.engine, "p1")
    assert (alert.state, alert.urgency, alert.previous_urgency, alert.urgency_changed_run_id) == (
        "acknowledged",
        "critical",
        "warning",
        r2,
    )
    assert (alert.summary, alert.day, alert.last_seen_run_id) == ("ANC 0.1", 10, r2)


def test_one_code_twice_in_one_assessment_makes_one_alert(store: Store) -> None:
    r1 = _run(store, 0)
    milder = Finding(PLT.code, "info", "PLT 19", PLT.rule, PLT.citation)
    assert _apply(store, "p1", r1, [milder, PLT]) == (1, 0, 0)
    assert _open(store, "p1") == [("platelet-transfusion", "new", "critical")]


def test_the_database_refuses_a_second_open_alert(store: Store) -> None:
    r1 = _run(store, 0)
    _apply(store, "p1", r1, [PLT])

    def add(state: str, uid: str) -> None:
        with Session(store.engine) as s, s.begin():
            s.add(
                Alert(
                    uid=uid,
                    patient_id="p1",
                    code=PLT.code,
                    state=state,
                    urgency="critical",
                    summary="x",
                    rule="x",
                    citation="x",
                    evidence=[],
                    opened_run_id=r1,
                    last_seen_run_id=r1,
                    opened_at=T0,
                    updated_at=T0,
                )
            )

    with pytest.raises(IntegrityError):
        add("acknowledged", "dup-open")
    add("resolved", "old-resolved")  # resolved ones are history: any number
    add("resolved", "older-resolved")


def test_patients_that_left_the_cohort_have_their_alerts_resolved(store: Store) -> None:
    r1, r2 = _run(store, 0), _run(store, 1)
    _apply(store, "stays", r1, [PLT])
    _apply(store, "leaves", r1, [PLT, GCSF])
    assert resolve_left_cohort(store.engine, {"stays", "new"}, r2, T0) == 2
    assert _open(store, "leaves") == []
    assert {a.resolution for a in alerts_of(store.engine, "leaves")} == {"left-cohort"}
    assert _open(store, "stays") == [("platelet-transfusion", "new", "critical")]
    run = get_run(store.engine, r2)
    assert run is not None and run.alerts_resolved == 2


def test_acknowledging_needs_an_open_alert(store: Store) -> None:
    assert acknowledge(store.engine, "no-such-alert", "x") is None
