"""The worklist's store reads and writes run off the event loop (issue 15): while one waits on the database, the
same `cds-cyto serve` process still answers /healthz. On PostgreSQL, where another session can hold a lock that
makes the read wait; the wait is ended by releasing the lock, not by a clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cds_cyto.store import Store
from cds_cyto.store.alerts import ALL_TENANTS, Finding, alerts_for_worklist
from cds_cyto.store.patients import Evaluation, PatientUpdate, save_patient
from cds_cyto.store.runs import finish_run, start_run
from tests.support.serve import served

T0 = datetime(2032, 7, 1, 6, 0, tzinfo=UTC)
PLT = Finding("platelet-transfusion", "critical", "PLT 12", "PLT < 20", "ref", [], 9)
STUCK_S = 20.0  # a bound on a failure, not a speed target: /healthz answers at once when the loop is free


@contextmanager
def alert_table_locked(store: Store) -> Iterator[None]:
    with store.engine.connect() as conn:
        conn.execute(text("LOCK TABLE alert IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.rollback()


def _while_waiting(store: Store, call: Callable[[], httpx.Response], healthz: str) -> httpx.Response:
    answers: list[httpx.Response] = []
    with alert_table_locked(store):
        worker = threading.Thread(target=lambda: answers.append(call()))
        worker.start()
        worker.join(1.0)  # the request reaches the database and waits on the lock
        assert not answers, "the request did not wait on the lock"
        health = httpx.get(healthz, timeout=STUCK_S, trust_env=False)  # times out when the loop is held
        assert health.status_code == 200
    worker.join(60)
    return answers[0]


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_the_worklist_and_an_acknowledgement_wait_on_the_database_off_the_loop(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    run = start_run(store.engine, "full", date(2032, 7, 1), "t", T0)
    evaluation = Evaluation({"day": 9}, "h", "p", date(2032, 7, 1), 9, {}, [PLT])
    save_patient(store.engine, PatientUpdate("p-1", run, T0, True, 1, {}, "s", evaluation, None), T0)
    finish_run(store.engine, run, "completed", now=T0)
    [alert] = alerts_for_worklist(store.engine, 0, scope=ALL_TENANTS)
    env = {"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_DATABASE_URL": store_url}
    with served(tmp_path, env, "--workers", "1") as server:
        healthz = server.url + "/healthz"
        listed = _while_waiting(store, lambda: httpx.get(server.url + "/worklist", timeout=60), healthz)
        assert listed.status_code == 200 and listed.json()["patients"][0]["patient_id"] == "p-1"
        entry = _while_waiting(store, lambda: httpx.get(server.url + "/worklist/patients/p-1", timeout=60), healthz)
        assert entry.status_code == 200
        ack_url = f"{server.url}/worklist/alerts/{alert.uid}/acknowledge"
        acked = _while_waiting(store, lambda: httpx.post(ack_url, timeout=60), healthz)
        assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
