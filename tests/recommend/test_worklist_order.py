"""The worklist order (sweep/worklist.py `row_order`) on a real SQLite store: the most urgent open alert first; at
the same urgency a clinical alert before a data-quality-only one; then the earliest day, an unknown day last."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cds_cyto.store import Store
from cds_cyto.store.alerts import ALL_TENANTS, Finding
from cds_cyto.store.patients import Evaluation, PatientUpdate, save_patient
from cds_cyto.store.runs import finish_run, start_run
from cds_cyto.sweep import build_worklist

AS_OF = date(2031, 5, 1)
T0 = datetime(2031, 5, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'worklist.sqlite'}")
    s.migrate()
    try:
        yield s
    finally:
        s.dispose()


def assess(store: Store, run: int, patient: str, day: int | None, alerts: list[tuple[str, str]]) -> None:
    findings = [Finding(code, urgency, f"{code} on day {day}", "rule", "citation", [], day) for code, urgency in alerts]
    evaluation = Evaluation({"day": day}, f"{patient}-{run}", "p", AS_OF, day, {}, findings)
    save_patient(store.engine, PatientUpdate(patient, run, T0, False, 1, {}, "s", evaluation, None), T0)


def test_clinical_warnings_rank_above_data_quality_warnings_then_the_earliest_day(store: Store) -> None:
    run = start_run(store.engine, "incremental", AS_OF, "t", T0)
    assess(store, run, "dq-day-111", 111, [("data-quality", "warning")])
    assess(store, run, "dq-day-3", 3, [("data-quality", "warning")])
    assess(store, run, "overdue-day-50", 50, [("counts-overdue", "warning")])
    assess(store, run, "crs-day-9", 9, [("gcsf-therapeutic", "warning"), ("extended-monitoring", "warning")])
    assess(store, run, "mixed-day-20", 20, [("data-quality", "warning"), ("extended-monitoring", "info")])
    assess(store, run, "critical-dq-day-60", 60, [("data-quality", "critical")])
    assess(store, run, "critical-day-70", 70, [("rbc-transfusion", "critical")])
    assess(store, run, "info-day-1", 1, [("extended-monitoring", "info")])
    assess(store, run, "warning-no-day", None, [("gcsf-therapeutic", "warning")])
    finish_run(store.engine, run, "completed")
    order = [r.patient_id for r in build_worklist(store.engine, scope=ALL_TENANTS).rows]
    assert order == [
        "critical-day-70",  # a clinical critical card before a data-quality critical one, whatever the day
        "critical-dq-day-60",
        "crs-day-9",
        "overdue-day-50",
        "warning-no-day",  # an unknown day after the known ones
        "dq-day-3",
        "mixed-day-20",  # its only warning is data quality (the clinical card is info): housekeeping, by day
        "dq-day-111",
        "info-day-1",
    ]
