"""The swept-patient hook falls back to the full fetch on any doubt, through `cds-cyto serve`: a snapshot of this
server whose verifying batch has a failed entry (the recording server answers a MedicationStatement search 400), or
whose Observation count differs, is not used — the usual batch of the templates follows and the call is answered.
Another server's snapshot is never even asked about. A snapshot that failed, and a server that cannot count, are
not asked about again by the same process. Every FHIR search and batch asks past any server-side result cache."""

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


def _store_snapshot(database: str, pids: list[str], base_url: str, stamped: bool = True) -> None:
    store = Store(database)
    store.create_schema()
    now = datetime.now(UTC)
    run = start_run(store.engine, "full", date(2026, 3, 8), "test", now)
    checked = now - timedelta(hours=1)
    for pid in pids:
        meta = {"versionId": "1"} | ({"lastUpdated": (checked - timedelta(days=1)).isoformat()} if stamped else {})
        lab = {"resourceType": "Observation", "id": f"{pid}-lab", "status": "final", "meta": meta}
        snapshot = rebuild([{"resourceType": "Patient", "id": pid, "meta": {"versionId": "1"}}, lab])
        update = PatientUpdate(
            pid, run, checked, True, 1, snapshot, snapshot_hash(snapshot), tenant=None, fhir_base_url=base_url
        )
        save_patient(store.engine, update, now)
    store.dispose()


def _calls(tmp_path: Path, recorder: str, database: str, behaviour: str, pids: list[str]) -> list[list[list[str]]]:
    """Per hook call (one `serve` process, in order), the URLs of each batch it POSTed."""
    out = []
    with served(tmp_path, {"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_DATABASE_URL": database}) as server:
        for pid in pids:
            start = len(requests_since(recorder, 0))
            answer = httpx.post(
                server.url + "/cds-services/cyto-patient-view",
                json=hook_request(pid, fhirServer=f"{recorder}/{behaviour}/fhir"),
                timeout=30,
                trust_env=False,
            )
            assert answer.status_code == 200, answer.text
            out.append([r["batch"] for r in requests_since(recorder, start) if r["method"] == "POST"])
    return out


def _verifying(batch: list[str]) -> bool:
    return any("_summary=count" in u for u in batch)


def test_a_failed_entry_in_the_verifying_batch_gives_the_full_fetch_and_is_not_tried_again(
    tmp_path: Path, recorder: str
) -> None:
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _store_snapshot(database, ["pt-7"], f"{recorder}/batch/fhir")
    first, second = _calls(tmp_path, recorder, database, "batch", ["pt-7", "pt-7"])
    assert len(first) == 2, first
    verifying, full = first
    assert any("_summary=count" in u and u.startswith("Observation?") for u in verifying)
    assert any("_lastUpdated=ge" in u for u in verifying)
    assert len(full) == TEMPLATES and not any("_summary" in u for u in full)
    assert second == [full]  # this snapshot failed: the full fetch only, not the verifying batch again


def test_a_server_that_cannot_count_is_not_asked_to_again(tmp_path: Path, recorder: str) -> None:
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _store_snapshot(database, ["pt-7", "pt-8"], f"{recorder}/nocount/fhir")
    first, second = _calls(tmp_path, recorder, database, "nocount", ["pt-7", "pt-8"])
    assert [_verifying(b) for b in first] == [True, False]
    assert len(second) == 1 and not _verifying(second[0])  # another patient, the same server: not tried


def test_a_snapshot_without_server_stamps_is_not_asked_about(tmp_path: Path, recorder: str) -> None:
    """Without a `meta.lastUpdated` there is no server time to ask for changes since (clocks may differ)."""
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _store_snapshot(database, ["pt-7"], f"{recorder}/batch/fhir", stamped=False)
    (posts,) = _calls(tmp_path, recorder, database, "batch", ["pt-7"])
    assert len(posts) == 1 and len(posts[0]) == TEMPLATES, posts


def test_another_servers_snapshot_is_not_asked_about(tmp_path: Path, recorder: str) -> None:
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    _store_snapshot(database, ["pt-7"], f"{recorder}/plain/fhir")  # swept from another base URL
    (posts,) = _calls(tmp_path, recorder, database, "batch", ["pt-7"])
    assert len(posts) == 1 and len(posts[0]) == TEMPLATES, posts


def test_searches_and_batches_ask_past_a_result_cache(tmp_path: Path, recorder: str) -> None:
    """A stock HAPI answers a repeated search URL from its 60 s cache unless told `Cache-Control: no-cache`."""
    database = f"sqlite:///{tmp_path / 'store.sqlite'}"
    start = len(requests_since(recorder, 0))
    _calls(tmp_path, recorder, database, "plain", ["pt-7"])  # separate searches (GET)
    _calls(tmp_path, recorder, database, "batch", ["pt-7"])  # one batch (POST)
    asked: list[dict[str, Any]] = [r for r in requests_since(recorder, start) if not r["path"].endswith("metadata")]
    assert {r["method"] for r in asked} == {"GET", "POST"}
    assert {r["cache_control"] for r in asked} == {"no-cache"}, asked
