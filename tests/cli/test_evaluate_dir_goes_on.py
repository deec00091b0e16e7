"""`cds-cyto evaluate DIR`, as a subprocess: a file that cannot be read is named on stderr and skipped, the others
are assessed, the JSON stays one valid document, and the exit code says something was skipped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_cds_cyto

EDGE = Path(__file__).resolve().parents[2] / "fixtures" / "edge"


@pytest.mark.parametrize("fmt", ["json", "ndjson", "table"])
def test_one_unreadable_file_does_not_stop_the_directory(tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    shutil.copy(EDGE / "amended-supersedes.json", folder / "a.json")
    (folder / "b.json").write_text('{"resourceType": "Bundle", "entry": [', encoding="utf-8")  # cut off
    shutil.copy(EDGE / "amended-supersedes.json", folder / "c.json")
    done = run_cds_cyto(tmp_path, "evaluate", str(folder), "--format", fmt)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in done.stderr, done.stderr
    assert "b.json" in lines[0] and "not valid JSON" in lines[0] and lines[0].endswith("skipped")
    assert lines[1] == "cds-cyto: 1 of 3 file(s) could not be read (named above)"
    if fmt == "json":
        assert len(json.loads(done.stdout)) == 2
    elif fmt == "ndjson":
        assert len([json.loads(x) for x in done.stdout.splitlines()]) == 2
    else:
        assert done.stdout.count("Patient ") == 2
