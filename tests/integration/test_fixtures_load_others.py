"""`cds-cyto fixtures load` of others' Bundles into the project's HAPI sandbox (issue 19 item 3), run as a user runs
it: a subprocess against the real server. A Cerner-style numeric-id patient, US Core examples with dangling
references and a Synthea-sized urn:uuid transaction all load, a refused file does not stop the others, and each
loaded patient evaluates from the server as from its file."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson

from tests.integration.helpers import unique_id
from tests.support.cli import run_cds_cyto
from tests.support.fhir import day_date
from tests.support.others import cerner_bundle, synthea_transaction, us_core_bundle

AS_OF = day_date(8).isoformat()


def evaluated(tmp_path: Path, *source: str) -> dict[str, Any]:
    result = run_cds_cyto(tmp_path, "evaluate", *source, "--as-of", AS_OF, "--format", "json")
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def scrub(value: Any) -> Any:
    """`value` without the resource ids it cites (a server may assign them: Synthea's POSTs get new ones)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if "source" not in k}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def clinical(assessment: dict[str, Any]) -> dict[str, Any]:
    """What a clinician reads: grades, episodes, ICAHT and the recommendations, without resource ids."""
    return {
        "lineages": scrub(assessment["lineages"]),
        "icaht": scrub(assessment["icaht"]),
        "recommendations": [(r["code"], r["urgency"], r["summary"]) for r in assessment["recommendations"]],
        "day": assessment["day"],
    }


def test_others_bundles_load_past_a_refused_file_and_evaluate_as_from_their_files(
    hapi_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "others"
    folder.mkdir()
    cerner = str(random.randint(10**8, 10**9 - 1))  # numeric, and new on the shared session server
    us_core = unique_id("uscore")
    synthea, transaction = synthea_transaction(1500)  # ~1,500 entries: split at --max-entries 1000
    (folder / "cerner.json").write_bytes(orjson.dumps(cerner_bundle(cerner)))
    (folder / "us-core.json").write_bytes(orjson.dumps(us_core_bundle(us_core)))
    (folder / "synthea.json").write_bytes(orjson.dumps(transaction))
    refused = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "no spaces!"}}],
    }
    (folder / "refused.json").write_bytes(orjson.dumps(refused))

    loaded = run_cds_cyto(tmp_path, "fixtures", "load", "--fhir", hapi_url, "--max-entries", "1000", str(folder))

    assert loaded.returncode == 1, loaded.stdout + loaded.stderr
    assert "Traceback" not in loaded.stderr
    assert "loaded 3 of 4 file(s)" in loaded.stdout, loaded.stdout
    assert "1 failed" in loaded.stdout
    assert f"failed: {folder / 'refused.json'}: transaction of 1: HTTP 400" in loaded.stdout, loaded.stdout
    for pid, name in ((cerner, "cerner.json"), (us_core, "us-core.json"), (synthea, "synthea.json")):
        from_file = evaluated(tmp_path, str(folder / name))
        from_server = evaluated(tmp_path, "--fhir", hapi_url, "--patient", pid)
        assert from_server["recommendations"], f"{name}: the severe course gives cards"
        assert clinical(from_server) == clinical(from_file), name
