"""A user's mistakes get one line that says what to do, naming the path or URL (issue 19 item 6), through the CLI as
a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.serve import free_port

REPO = Path(__file__).resolve().parents[2]
PATIENT = REPO / "fixtures" / "cohort" / "syn-all-0038.json"


def test_a_plot_into_a_folder_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "x.png"
    result = run_cds_cyto(tmp_path, "plot", "syn-all-0038", "--bundles", str(PATIENT.parent), "--out", str(out))
    assert_one_line_error(result, str(out), "does not exist")


def test_a_file_with_a_utf8_byte_order_mark_reads_as_without(tmp_path: Path) -> None:
    with_bom = tmp_path / "bom.json"
    with_bom.write_bytes(b"\xef\xbb\xbf" + PATIENT.read_bytes())
    plain = run_cds_cyto(tmp_path, "evaluate", str(PATIENT), "--format", "json")
    marked = run_cds_cyto(tmp_path, "evaluate", str(with_bom), "--format", "json")
    assert marked.returncode == 0, marked.stderr
    assert json.loads(marked.stdout) == json.loads(plain.stdout)


def test_a_fhir_server_that_does_not_answer_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/fhir"
    result = run_cds_cyto(tmp_path, "evaluate", "--fhir", url, "--patient", "p1")
    assert_one_line_error(result, f"FHIR server {url}", "connection failed")
