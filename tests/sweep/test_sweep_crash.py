"""A sweep killed with SIGKILL midway resumes on restart: nothing lost, nothing done twice, no duplicate alerts."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from cds_cyto.store import Store
from cds_cyto.store.alerts import alerts_of
from cds_cyto.store.runs import recent_runs
from tests.sweep.builders import course, load

pytestmark = pytest.mark.hapi

AS_OF = date(2045, 9, 1)
PATIENTS = [f"swk-{i:02d}" for i in range(16)]
LOW_PLT = {p for i, p in enumerate(PATIENTS) if i % 3 == 0}
LOW_ANC = {p for i, p in enumerate(PATIENTS) if i % 2 == 0}
REPO = Path(__file__).resolve().parents[2]


def _resources() -> list[dict[str, object]]:
    day0 = AS_OF - timedelta(days=10)
    out: list[dict[str, object]] = []
    for pid in PATIENTS:
        out += course(pid, day0, [2, 5, 9], plt=15.0 if pid in LOW_PLT else 150.0, anc=0.2 if pid in LOW_ANC else 2.0)
    return out


def _committed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM patient_state WHERE last_run_id = 1").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def _open_alerts(store: Store) -> Counter[tuple[str, str]]:
    return Counter(
        (a.patient_id, a.code) for p in PATIENTS for a in alerts_of(store.engine, p) if a.state != "resolved"
    )


def test_a_killed_sweep_resumes_where_it_stopped(hapi_url: str, tmp_path: Path) -> None:
    asyncio.run(load(hapi_url, _resources()))
    db = tmp_path / "crash.sqlite"
    command = [
        sys.executable,
        "-c",
        "import sys; from cds_cyto.cli import main; sys.exit(main())",
        "sweep",
        "--once",
        "--fhir",
        hapi_url,
        "--database",
        f"sqlite:///{db}",
        "--as-of",
        AS_OF.isoformat(),
        "--concurrency",
        "1",
        "--no-progress",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}

    victim = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while _committed(db) < 3:
        assert victim.poll() is None, f"the sweep ended before it could be killed: {victim.communicate()}"
        assert time.monotonic() < deadline, "no patient committed in time"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    done_before = _committed(db)
    assert 3 <= done_before < len(PATIENTS), "killed midway"

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "sweep 1 completed (resumed)" in rerun.stdout
    assert f"{done_before} done before the restart" in rerun.stdout

    store = Store(f"sqlite:///{db}")
    try:
        [run] = recent_runs(store.engine)  # the crashed run was adopted, not replaced
        assert (run.status, run.cohort_size, run.failed) == ("completed", len(PATIENTS), 0)
        assert (run.evaluated, run.unchanged) == (len(PATIENTS), 0), "every patient assessed exactly once"
        assert _committed(db) == len(PATIENTS), "nothing lost"
        alerts = _open_alerts(store)
    finally:
        store.dispose()
    assert max(alerts.values()) == 1, "no duplicate alerts"
    assert set(alerts) == {(p, "platelet-transfusion") for p in LOW_PLT} | {(p, "gcsf-therapeutic") for p in LOW_ANC}
