"""The run manifest: what produced a report — package version, command, input hash, data cut, seeds, package
versions — written into the report and beside the tables, so a reader can re-run it and get the same tables.

No wall-clock time goes in: two runs of the same command on the same input give the same manifest.
"""

from __future__ import annotations

import hashlib
import platform
import shlex
from collections.abc import Sequence
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["PACKAGES", "build_manifest", "files_sha256", "table_sha256"]

PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def files_sha256(files: Sequence[Path]) -> str:
    """SHA-256 over the input files in order: each one's name and bytes (a renamed or edited file changes it)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode("utf-8") + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def table_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of the analysis table (one row per patient): the input of every analysis, whatever its source."""
    flat = df.drop(columns=[c for c in df.columns if df[c].map(lambda v: isinstance(v, dict | list)).any()])
    return hashlib.sha256(flat.to_csv(index=False).encode("utf-8")).hexdigest()


def build_manifest(
    command: Sequence[str],
    *,
    source: str,
    input_sha256: str | None,
    input_files: int | None,
    data_cut: date | None,
    disease: str,
    seeds: dict[str, int],
    site_file: Path | None,
) -> dict[str, Any]:
    return {
        "package": "cds-cyto",
        "package_version": _version("cds-cyto"),
        "python": platform.python_version(),
        "command": shlex.join(command),
        "source": source,
        "input_sha256": input_sha256 or "n/a (read from a server: see analysis_table_sha256)",
        "input_files": input_files,
        "data_cut": "latest result of each patient" if data_cut is None else data_cut.isoformat(),
        "population": disease,
        "seeds": dict(sorted(seeds.items())),
        "site_file": None if site_file is None else str(site_file),
        "site_file_sha256": None if site_file is None else files_sha256([site_file]),
        "package_versions": {p: _version(p) for p in PACKAGES},
    }
