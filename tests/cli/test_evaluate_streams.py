"""`cds-cyto evaluate DIR` writes each Assessment as it is made (issue 18 item 4), and its output is byte for byte
what rendering the whole list at once gives: JSON, the table, and `--format ndjson` one Assessment per line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from cds_cyto.cli.evaluate import assess_file, bundle_files
from cds_cyto.cli.table import assessment_table
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.profile import load_profile
from tests.support.cli import run_cds_cyto
from tests.support.fhir import bundle, infusion, obs, patient

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "fixtures" / "cohort"
DATA_CUT = "2026-11-20"


@pytest.fixture(scope="module")
def assessments() -> list[Assessment]:
    """The directory assessed all at once, as `evaluate` did before it streamed."""
    profile = load_profile()
    return [a for f in bundle_files(COHORT) for a in assess_file(f, date.fromisoformat(DATA_CUT), profile)]


def evaluate(tmp_path: Path, *args: str) -> bytes:
    result = run_cds_cyto(tmp_path, "evaluate", *args, "--as-of", DATA_CUT)
    assert result.returncode == 0, result.stderr
    return result.stdout.encode()


def test_a_directory_gives_the_json_list_of_before(tmp_path: Path, assessments: list[Assessment]) -> None:
    expected = orjson.dumps([a.to_json() for a in assessments], option=orjson.OPT_INDENT_2) + b"\n"
    assert evaluate(tmp_path, str(COHORT), "--format", "json") == expected


def test_a_directory_gives_the_table_of_before(tmp_path: Path, assessments: list[Assessment]) -> None:
    expected = ("\n\n".join(assessment_table(a) for a in assessments) + "\n").encode()
    assert evaluate(tmp_path, str(COHORT)) == expected


def test_ndjson_is_one_assessment_a_line_in_the_order_of_the_json(
    tmp_path: Path, assessments: list[Assessment]
) -> None:
    lines = evaluate(tmp_path, str(COHORT), "--format", "ndjson").splitlines()
    assert [orjson.loads(line) for line in lines] == [orjson.loads(orjson.dumps(a.to_json())) for a in assessments]
    assert len(lines) == len(assessments) == 40


def test_an_empty_directory_is_an_empty_list(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert evaluate(tmp_path, str(empty), "--format", "json") == b"[]\n"
    assert evaluate(tmp_path, str(empty), "--format", "ndjson") == b""


def test_a_directory_of_one_patient_is_still_a_list(tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "p.json").write_bytes(
        orjson.dumps(bundle(patient(id="p1"), infusion(0), obs("neutrophils", 0.3, "10*9/L", day=5)))
    )
    listed = orjson.loads(evaluate(tmp_path, str(one), "--format", "json"))
    single = orjson.loads(evaluate(tmp_path, str(one / "p.json"), "--format", "json"))
    assert listed == [single]
    assert orjson.loads(evaluate(tmp_path, str(one / "p.json"), "--format", "ndjson")) == single
