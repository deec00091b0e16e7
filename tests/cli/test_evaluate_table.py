"""`cds-cyto evaluate`'s table, run as a user runs it: for each patient its recommendations (urgency, code,
summary), its CRS and CAR-HEMATOTOX, in lines an 80–120 column terminal shows unbroken; the JSON says the same."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from cds_cyto.cli.table import WIDTH
from tests.support.cli import run_cds_cyto
from tests.support.fhir import bundle, day_date, infusion, obs, patient

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "fixtures" / "cohort"
DATA_CUT = "2026-11-20"


def _blocks(table: str) -> dict[str, str]:
    """Each patient's block, its wrapped lines joined (a continuation line is indented)."""
    out = {}
    for block in re.split(r"\n\n(?=Patient )", table.strip()):
        pid = block.split()[1]
        out[pid] = re.sub(r"\n +", " ", block)
    return out


def _crs(crs: dict[str, Any]) -> str:
    if crs["source"] == "none" or (crs["max_grade"] is None and crs["onset_day"] is None):
        return "CRS: none recorded"
    state = "active" if crs["recovery_day"] is None else f"resolved day {crs['recovery_day']:+d}"
    return f"CRS: max grade {crs['max_grade']}, onset day {crs['onset_day']:+d}, {state}"


def test_the_table_shows_each_patients_advice_crs_and_car_hematotox_as_the_json_does(tmp_path: Path) -> None:
    table = run_cds_cyto(tmp_path, "evaluate", str(COHORT), "--as-of", DATA_CUT)
    as_json = run_cds_cyto(tmp_path, "evaluate", str(COHORT), "--as-of", DATA_CUT, "--format", "json")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= WIDTH <= 120
    blocks = _blocks(table.stdout)
    documents = orjson.loads(as_json.stdout)
    assert len(blocks) == len(documents) == 40
    advised = 0
    for doc in documents:
        block = blocks[doc["patient_id"]]
        for rec in doc["recommendations"]:
            assert f"[{rec['urgency']}] {rec['code']}: {rec['summary']}" in block, (doc["patient_id"], block)
            advised += 1
        if not doc["recommendations"]:
            assert "Recommendations: none" in block
        assert _crs(doc["risk"]["crs"]) in block, block
        h = doc["risk"]["hematotox"]
        score = "not scored" if h["score"] is None else (f"{h['score']}/" if h["complete"] else f"≥ {h['score']}/")
        assert f"CAR-HEMATOTOX: {score}" in block, block
        assert ("(complete)" in block) == bool(h["complete"] and h["score"] is not None)
    assert advised >= 4  # the data cut's cards (README: the demo cohort at its data cut)


def test_the_day_9_patient_reads_as_the_readme_tells_it(tmp_path: Path) -> None:
    result = run_cds_cyto(tmp_path, "evaluate", str(COHORT / "syn-all-0038.json"), "--as-of", DATA_CUT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "CRS: max grade 3, onset day +4, active" in out
    assert "CAR-HEMATOTOX: 3/7, high risk (complete)" in out
    assert "gcsf-therapeutic: ANC 0.36 ×10⁹/L (day +9)" in out
    assert "10*9/L" not in out  # units for people


def test_a_patient_without_crs_and_with_a_partial_baseline_says_so(tmp_path: Path) -> None:
    # baseline ANC and PLT only (no Hb, CRP, ferritin): CAR-HEMATOTOX is a lower bound; no CRS recorded
    resources = [
        patient(),
        infusion(),
        obs("neutrophils", 2.5, "10*9/L", day=-3),
        obs("platelets", 60.0, "10*9/L", day=-3),
        obs("neutrophils", 0.3, "10*9/L", day=7),
    ]
    path = tmp_path / "p1.json"
    path.write_bytes(orjson.dumps(bundle(*resources)))
    result = run_cds_cyto(tmp_path, "evaluate", str(path), "--as-of", day_date(7).isoformat())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "CRS: none recorded" in out
    assert "CAR-HEMATOTOX: ≥ 2/7, high risk (incomplete: missing" in out  # PLT < 75 scores 2: high already
    assert max(len(line) for line in out.splitlines()) <= WIDTH
