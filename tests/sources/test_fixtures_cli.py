"""`cds-cyto fixtures load`: Bundles become transactions; skips and errors are one line each. A file the server
refuses is tested against the real HAPI (tests/integration/test_fixtures_load_others.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from cds_cyto.cli import main
from cds_cyto.sources import as_transaction
from tests.sources.conftest import BASE
from tests.support.fhir import bare_observation, search_bundle


def tx_response(request: httpx.Request) -> httpx.Response:
    entries = orjson.loads(request.content)["entry"]
    answer = [{"response": {"status": "201 Created"}} for _ in entries]
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": answer})


def test_as_transaction() -> None:
    converted = as_transaction(search_bundle({"resourceType": "Patient", "id": "p1"}, {"resourceType": "Observation"}))
    assert converted["type"] == "transaction"
    assert [e["request"] for e in converted["entry"]] == [
        {"method": "PUT", "url": "Patient/p1"},
        {"method": "POST", "url": "Observation"},
    ]
    tx: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    assert as_transaction(tx) == tx


def test_load_a_directory(tmp_path: Path, fhir_mock: respx.MockRouter, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "p1.json").write_bytes(
        orjson.dumps(search_bundle({"resourceType": "Patient", "id": "p1"}, bare_observation("o1"), kind="collection"))
    )
    (tmp_path / "cohort" / "p2.json").write_bytes(
        orjson.dumps(search_bundle({"resourceType": "Patient", "id": "p2"}, kind="transaction"))
    )
    (tmp_path / "cohort" / "truth.json").write_bytes(b'{"p1": {}}')
    (tmp_path / "note.json").write_bytes(orjson.dumps({"resourceType": "Patient", "id": "x"}))
    route = fhir_mock.post("").mock(side_effect=tx_response)

    assert main(["fixtures", "load", "--fhir", BASE, str(tmp_path)]) == 0

    out, err = capsys.readouterr()
    assert "loaded 2 of 4 file(s), 3 resource(s)" in out
    assert "skipped 2" in out
    assert "truth.json: ground truth, not FHIR" in err
    assert "note.json: not a FHIR Bundle" in err
    sent = sorted((orjson.loads(c.request.content) for c in route.calls), key=lambda b: len(b["entry"]))
    assert all(b["type"] == "transaction" for b in sent)
    assert sent[1]["entry"][0]["request"] == {"method": "PUT", "url": "Patient/p1"}


def test_missing_path_and_bad_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fixtures", "load", "--fhir", BASE, str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["fixtures", "load", "--fhir", "ftp://x", str(tmp_path)]) == 2
    assert "--fhir: FHIR base URL must be an absolute http(s) URL" in capsys.readouterr().err
