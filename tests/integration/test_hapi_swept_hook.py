"""The hook answers a swept patient from the sweep's snapshot plus what changed since (issue 18 item 2), against
HAPI: a changed, an added and a deleted Observation after the sweep are all seen by the next hook call, each
answer is the one a full fetch gives, and CDS_CYTO_HOOK_SWEPT_SNAPSHOTS=false turns the route off. A sweep whose
clock runs ahead of the server's does not make the hook miss an edit made after it."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.core.profile import default_profile
from cds_cyto.settings import Settings
from cds_cyto.sources import _swept
from cds_cyto.store import Store, make_engine
from cds_cyto.store.patients import load_patient
from cds_cyto.sweep import SweepConfig, run_sweep
from tests.cds.scenario import count, cytopenic_patient, hook_request
from tests.integration.helpers import AS_OF, load_resources, unique_id

pytestmark = pytest.mark.hapi

SERVICE = "/cds-services/cyto-patient-view"


def _sweep(hapi_url: str, database: str, pid: str, tmp_path: Path, tenant: str | None = None) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(pid + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "cds_cyto", "sweep", "--once", "--fhir", hapi_url, "--database", database,
         "--ids", str(ids), "--as-of", AS_OF.isoformat(), "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False,
        env=os.environ | ({"CDS_CYTO_SWEEP_TENANT": tenant} if tenant else {}),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def _service(monkeypatch: pytest.MonkeyPatch, database: str, tmp_path: Path, swept: str | None) -> TestClient:
    """The service as a site runs it: its settings from the environment."""
    with monkeypatch.context() as env:
        env.setenv("CDS_CYTO_AUTH", "disabled")
        env.setenv("CDS_CYTO_DATABASE_URL", database)
        env.setenv("CDS_CYTO_DEMO_DIR", str(tmp_path / "no-demo"))
        env.setenv("CDS_CYTO_AS_OF", AS_OF.isoformat())
        env.setenv("CDS_CYTO_PARSE_PROCESSES", "0")
        if swept is not None:
            env.setenv("CDS_CYTO_HOOK_SWEPT_SNAPSHOTS", swept)
        return TestClient(create_app(Settings()))


@pytest.fixture
def swept_patient(hapi_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    pid = unique_id("swept")
    load_resources(hapi_url, cytopenic_patient(pid))
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _sweep(hapi_url, database, pid, tmp_path)
    engine = make_engine(database)
    state = load_patient(engine, pid)
    engine.dispose()
    assert state is not None and state.fhir_base_url == hapi_url.rstrip("/")  # where the snapshot came from
    yield pid, database


def _answer(service: TestClient, pid: str, hapi_url: str, caplog: pytest.LogCaptureFixture) -> tuple[Any, Any]:
    """(the cards' topics and summaries, whether the snapshot answered: True, False, or None when not tried)."""
    caplog.clear()
    body = hook_request(pid, fhirServer=hapi_url)
    body.pop("prefetch", None)
    reply = service.post(SERVICE, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    used = [r.__dict__["used"] for r in caplog.records if r.getMessage() == "swept snapshot"]
    cards = sorted((c["source"]["topic"]["code"], c["summary"]) for c in reply.json()["cards"])
    return cards, (used[0] if used else None)


def test_changed_added_and_deleted_observations_after_the_sweep_are_seen(
    hapi_url: str,
    swept_patient: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pid, database = swept_patient
    caplog.set_level(logging.INFO, logger="cds_cyto.cds")
    fhir = httpx.Client(base_url=hapi_url.rstrip("/") + "/", timeout=60)
    with (
        _service(monkeypatch, database, tmp_path, None) as on,
        _service(monkeypatch, database, tmp_path, "false") as off,
    ):
        cards, used = _answer(on, pid, hapi_url, caplog)
        assert used is True
        assert cards == _answer(off, pid, hapi_url, caplog)[0]
        assert _answer(off, pid, hapi_url, caplog)[1] is None  # the setting off: never tried
        assert {t for t, _ in cards} >= {"platelet-transfusion", "rbc-transfusion"}

        changed = count(pid, "platelets", 7, 150.0)  # the same Observation id: a new version
        assert fhir.put(f"Observation/{changed['id']}", json=changed).status_code == 200
        cards, used = _answer(on, pid, hapi_url, caplog)
        assert used is True
        assert "platelet-transfusion" not in {t for t, _ in cards}
        assert cards == _answer(off, pid, hapi_url, caplog)[0]

        added = count(pid, "hemoglobin", 7, 125.0, n=1)  # a later Hb of the same day, normal
        added["effectiveDateTime"] = added["effectiveDateTime"].replace("T08:00", "T12:00")
        assert fhir.put(f"Observation/{added['id']}", json=added).status_code == 201
        cards, used = _answer(on, pid, hapi_url, caplog)
        assert used is True
        assert "rbc-transfusion" not in {t for t, _ in cards}
        assert cards == _answer(off, pid, hapi_url, caplog)[0]

        gone = count(pid, "neutrophils", 7, 0.3)
        assert fhir.delete(f"Observation/{gone['id']}").status_code in (200, 204)
        cards, used = _answer(on, pid, hapi_url, caplog)
        assert used is False  # the count no longer matches the snapshot: the full fetch answered
        assert cards == _answer(off, pid, hapi_url, caplog)[0]
    fhir.close()


def test_another_servers_snapshot_is_not_used(
    hapi_url: str,
    swept_patient: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same HAPI under another base URL (127.0.0.1 vs localhost) is another server to the snapshot."""
    pid, database = swept_patient
    other = hapi_url.replace("localhost", "127.0.0.1") if "localhost" in hapi_url else None
    if other is None:
        other = hapi_url.replace("127.0.0.1", "localhost")
    caplog.set_level(logging.INFO, logger="cds_cyto.cds")
    with _service(monkeypatch, database, tmp_path, "true") as on:
        _, used = _answer(on, pid, other, caplog)
    assert used is None


def test_another_tenants_snapshot_is_not_used(
    hapi_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Swept for tenant `site-b` (CDS_CYTO_SWEEP_TENANT): a caller of no tenant (auth disabled) is not answered
    from it, though the patient id and the server are the same."""
    pid = unique_id("swept")
    load_resources(hapi_url, cytopenic_patient(pid))
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _sweep(hapi_url, database, pid, tmp_path, tenant="site-b")
    caplog.set_level(logging.INFO, logger="cds_cyto.cds")
    with _service(monkeypatch, database, tmp_path, "true") as on:
        _, used = _answer(on, pid, hapi_url, caplog)
    assert used is None


@pytest.mark.parametrize("margin_s", [None, 0.0], ids=["default-margin", "no-margin"])
def test_an_edit_after_a_sweep_whose_clock_is_ahead_is_seen(
    hapi_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    margin_s: float | None,
) -> None:
    """The sweep's clock 45 s ahead of HAPI's: its check is stamped 45 s late, and an ANC edited 0.2 → 3.0 just
    after carries HAPI's earlier time. The hook asks for changes from the snapshot's own server stamps, so the edit
    is seen — with no clock margin at all, too — and the card is the full fetch's."""
    if margin_s is not None:
        monkeypatch.setattr(_swept, "CLOCK_MARGIN", timedelta(seconds=margin_s))
    pid = unique_id("skew")
    load_resources(hapi_url, cytopenic_patient(pid, anc=0.2))
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(database)
    store.migrate()
    config = SweepConfig(fhir_base_url=hapi_url, as_of=AS_OF)

    def ahead() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=45)

    report = asyncio.run(run_sweep(config, store, default_profile(), clock=ahead))
    store.dispose()
    assert report.status == "completed", report
    caplog.set_level(logging.INFO, logger="cds_cyto.cds")
    with (
        httpx.Client(base_url=hapi_url.rstrip("/") + "/", timeout=60) as fhir,
        _service(monkeypatch, database, tmp_path, "true") as on,
        _service(monkeypatch, database, tmp_path, "false") as off,
    ):
        before, used = _answer(on, pid, hapi_url, caplog)
        assert used is True
        edited = count(pid, "neutrophils", 7, 3.0)  # the same Observation: a new version, same count
        assert fhir.put(f"Observation/{edited['id']}", json=edited).status_code == 200
        cards, used = _answer(on, pid, hapi_url, caplog)
        assert cards == _answer(off, pid, hapi_url, caplog)[0]
        assert cards != before  # the neutropenia advice went with the low ANC
        assert used is True  # the edit was among the changes asked for
