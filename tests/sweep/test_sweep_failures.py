"""Without a FHIR server: a run is never left `running` after an exception, and the worklist (table, JSON, CLI)
names the patients the sweeps could not assess."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cds_cyto.cli import main
from cds_cyto.core.profile import default_profile
from cds_cyto.store import Store
from cds_cyto.store.patients import record_failure
from cds_cyto.store.runs import recent_runs, start_run, unfinished_run
from cds_cyto.sweep import CohortQuery, SweepConfig, run_sweep

AS_OF = date(2033, 1, 10)
T0 = datetime(2033, 1, 10, 6, 0, tzinfo=UTC)


async def test_an_exception_outside_any_patient_ends_the_run_failed_not_running(store: Store) -> None:
    def broken_progress(size: int, done: int) -> None:
        raise RuntimeError("a progress display that breaks")

    config = SweepConfig(
        fhir_base_url="http://127.0.0.1:1/fhir",  # never asked: the cohort is a list of ids
        as_of=AS_OF,
        cohort=CohortQuery(patient_ids=("p1", "p2")),
    )
    report = await run_sweep(config, store, default_profile(), on_cohort=broken_progress)
    assert report.status == "failed" and report.reason is not None and "RuntimeError" in report.reason
    assert "a progress display" not in report.reason, "the type only, never the message"
    assert unfinished_run(store.engine) is None
    [run] = recent_runs(store.engine)
    assert (run.status, run.note) == ("failed", "sweep failed (RuntimeError)")


def test_the_worklist_names_the_patients_not_assessed(
    store: Store, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = start_run(store.engine, "full", AS_OF, "t", T0)
    record_failure(store.engine, "p-poison", run, "ward-a", "read: TypeError", lambda n: T0 + timedelta(minutes=15), T0)
    url = f"sqlite:///{store_path}"
    assert main(["worklist", "--database", url]) == 0
    table = capsys.readouterr().out
    assert "Not assessed by the last sweeps: 1 patient(s)" in table
    assert "p-poison  read: TypeError (failed 1×, retried after 2033-01-10T06:15+00:00)" in table
    assert main(["worklist", "--database", url, "--format", "json", "--tenant", "ward-a"]) == 0
    [failed] = json.loads(capsys.readouterr().out)["failed_patients"]
    assert failed == {
        "patient_id": "p-poison",
        "failures": 1,
        "reason": "read: TypeError",
        "retry_after": "2033-01-10T06:15:00+00:00",
    }
    assert main(["worklist", "--database", url, "--format", "json", "--tenant", "ward-b"]) == 0
    assert json.loads(capsys.readouterr().out)["failed_patients"] == []
