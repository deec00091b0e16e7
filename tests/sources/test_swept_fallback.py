"""The swept-patient hook falls back to the full fetch on any doubt, through `cds-cyto serve`: a snapshot of this
server whose verifying batch has a failed entry (the recording server answers a MedicationStatement search 400), or
whose Observation count differs, is not used — the usual batch of the templates follows and the call is answered.
Another server's snapshot is never even asked about."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from cds_cyto.store import Store
from cds_cyto.store.patients import PatientUpdate, save_patient
from cds_cyto.store.runs import start_run
from cds_cyto.sweep.snapshot import rebuild, snapshot_hash
from tests.cds.scenario import hook_request
from tests.sources.test_hook_fetch_page_size import TEMPLATES, requests_since
from tests.support.serve import served


def _store_snapshot(database: str, pid: str, base_url: str) -> None:
    store = Store(database)
    store.create_schema()
    now = datetime.now(UTC)
    run = start_run(store.engine, "full", date(2026, 3, 8), "test", now)
    snapshot = rebuild([{"resourceType": "Patient", "id": pid, "meta": {"versionId": "1"}}])
    checked = now - timedelta(hours=1)
    update = PatientUpdate(
        pid, run, checked, True, 1, snapshot, snapshot_hash(snapshot), tenant=None, fhir_base_url=base_url
    )
    save_patient(store.engine, update, now)
    store.dispose()


def _call(tmp_path: Path, recorder: str, database: str, behaviour: str) -> list[dict[str, Any]]:
    start = len(requests_since(recorder, 0))
    with served(tmp_path, {"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_DATABASE_URL": database}) as server:
        answer = httpx.post(
            server.url + "/cds-services/cyto-patient-view",
            json=hook_request("pt-7", fhirServer=f"{recorder}/{behaviour}/fhir"),
            timeout=30,
            trust_env=False,
        )
    assert answer.status_code == 200, answer.text
    return requests_since(recorder, start)


def test_a_failed_entry_in_the_verifying_batch_gives_the_full_fetch(tmp_path: Path, recorder: str) -> None:
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _store_snapshot(database, "pt-7", f"{recorder}/batch/fhir")
    asked = _call(tmp_path, recorder, database, "batch")
    posts = [r["batch"] for r in asked if r["method"] == "POST"]
    assert len(posts) == 2, asked
    verifying, full = posts
    assert any("_summary=count" in u and u.startswith("Observation?") for u in verifying)
    assert any("_lastUpdated=ge" in u for u in verifying)
    assert len(full) == TEMPLATES and not any("_summary" in u for u in full)


def test_another_servers_snapshot_is_not_asked_about(tmp_path: Path, recorder: str) -> None:
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _store_snapshot(database, "pt-7", f"{recorder}/plain/fhir")  # swept from another base URL
    asked = _call(tmp_path, recorder, database, "batch")
    posts = [r["batch"] for r in asked if r["method"] == "POST"]
    assert len(posts) == 1 and len(posts[0]) == TEMPLATES, asked
