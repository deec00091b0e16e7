"""Scheduled sweeps inside `serve`: the lifespan starts and stops the scheduler, and a scheduled run sweeps a FHIR
Group's members into the worklist."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.settings import Settings
from cds_cyto.sweep.scheduler import JOB_ID, SweepScheduler
from tests.sweep.builders import course, load

AS_OF = date(2046, 3, 1)


@pytest.mark.hapi
def test_a_scheduled_sweep_runs_inside_serve(hapi_url: str, tmp_path: Path) -> None:
    day0 = AS_OF - timedelta(days=6)
    group = {
        "resourceType": "Group",
        "id": "swg-ward",
        "type": "person",
        "actual": True,
        "member": [
            {"entity": {"reference": "Patient/swg-1"}},
            {"entity": {"reference": "Patient/swg-2"}},
            {"entity": {"reference": "Patient/swg-3"}, "inactive": True},
        ],
    }
    patients = course("swg-1", day0, [2, 5], plt=9.0) + course("swg-2", day0, [2, 5]) + course("swg-3", day0, [2])
    asyncio.run(load(hapi_url, [*patients, group]))
    settings = Settings(
        auth="disabled",
        fhir_base_url=hapi_url,
        sweep_group_id="swg-ward",
        sweep_interval_minutes=600,
        database_url=f"sqlite:///{tmp_path / 'serve.sqlite'}",
        demo_dir=tmp_path / "none",
        as_of=AS_OF,
    )
    with TestClient(create_app(settings)) as client:
        sweeps: SweepScheduler = client.app.state.sweeps  # type: ignore[attr-defined]
        assert sweeps.scheduler.running
        sweeps.scheduler.get_job(JOB_ID).modify(next_run_time=datetime.now(UTC))  # now, not in ten hours
        deadline = time.monotonic() + 60
        while sweeps.last_report is None and time.monotonic() < deadline:
            time.sleep(0.05)
        report = sweeps.last_report
        assert report is not None and report.status == "completed"
        assert (report.cohort_size, report.evaluated) == (2, 2), "the Group's active members"
        body = orjson.loads(client.get("/worklist").content)
        assert [(p["patient_id"], p["urgency"]) for p in body["patients"]] == [("swg-1", "critical")]
    assert not sweeps.scheduler.running


def test_no_schedule_means_no_scheduler(tmp_path: Path) -> None:
    settings = Settings(auth="disabled", database_url=f"sqlite:///{tmp_path / 's.sqlite'}", demo_dir=tmp_path / "x")
    with TestClient(create_app(settings)) as client:
        assert client.app.state.sweeps is None  # type: ignore[attr-defined]


def test_a_schedule_without_a_fhir_server_fails_at_start(tmp_path: Path) -> None:
    settings = Settings(
        auth="disabled",
        sweep_cron="0 6 * * *",
        database_url=f"sqlite:///{tmp_path / 's.sqlite'}",
        demo_dir=tmp_path / "x",
    )
    with pytest.raises(ValueError, match="no FHIR server"):
        create_app(settings)
