"""Acceptance: the report carries a run manifest, and re-running the command it records gives identical tables
and figures (`cds-cyto` as a subprocess, as users run it)."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

from tests.support.cli import run_cds_cyto


def _outputs(out: Path) -> dict[str, bytes]:
    files = sorted([*(out / "tables").glob("*.csv"), *(out / "figures").glob("*")])
    return {str(f.relative_to(out)): f.read_bytes() for f in files}


def test_manifest_command_reproduces_the_tables(tmp_path: Path) -> None:
    bundles, out = tmp_path / "bundles", tmp_path / "out"
    sim = run_cds_cyto(tmp_path, "simulate", "--n", "60", "--seed", "9", "--out", str(bundles), "--jobs", "2")
    assert sim.returncode == 0, sim.stderr
    first = run_cds_cyto(tmp_path, "analyze", "--bundles", str(bundles), "--out", str(out), "--jobs", "2", timeout=400)
    assert first.returncode == 0, first.stderr
    manifest = json.loads((out / "tables" / "manifest.json").read_text())
    assert json.loads((out / "tables.json").read_text())["manifest"] == manifest
    assert manifest["package"] == "cds-cyto" and manifest["package_version"]
    assert manifest["input_files"] == 60 and len(manifest["input_sha256"]) == 64
    assert manifest["data_cut"] == "latest result of each patient"
    assert manifest["seeds"]["site_model_cv"] == 20261122
    assert set(manifest["package_versions"]) >= {"numpy", "pandas", "scipy", "statsmodels", "lifelines"}
    html = (out / "report.html").read_text()
    assert '<section id="manifest">' in html and manifest["input_sha256"] in html
    before = _outputs(out)
    assert sum(k.endswith(".svg") for k in before) >= 12
    shutil.copytree(out, tmp_path / "first")
    command = shlex.split(manifest["command"])
    assert command[:2] == ["cds-cyto", "analyze"]
    again = run_cds_cyto(tmp_path, *command[1:], timeout=400)
    assert again.returncode == 0, again.stderr
    after = _outputs(out)
    assert after.keys() == before.keys()
    differ = [k for k in before if before[k] != after[k]]
    assert differ == []
    assert json.loads((out / "tables" / "manifest.json").read_text()) == manifest


def test_manifest_changes_with_the_input(tmp_path: Path) -> None:
    bundles = tmp_path / "bundles"
    assert run_cds_cyto(tmp_path, "simulate", "--n", "12", "--seed", "2", "--out", str(bundles)).returncode == 0
    a = run_cds_cyto(tmp_path, "analyze", "--bundles", str(bundles), "--out", str(tmp_path / "a"), "--jobs", "1")
    assert a.returncode == 0, a.stderr
    first = sorted(bundles.glob("syn-*.json"))[0]
    first.write_bytes(first.read_bytes() + b"\n")  # the same resources, other bytes: the hash is of the files
    b = run_cds_cyto(tmp_path, "analyze", "--bundles", str(bundles), "--out", str(tmp_path / "b"), "--jobs", "1")
    assert b.returncode == 0, b.stderr
    ma = json.loads((tmp_path / "a" / "tables" / "manifest.json").read_text())
    mb = json.loads((tmp_path / "b" / "tables" / "manifest.json").read_text())
    assert ma["input_sha256"] != mb["input_sha256"]
