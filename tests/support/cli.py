"""`cds-cyto` run as users run it: a subprocess with real environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["assert_one_line_error", "run_cds_cyto"]


def run_cds_cyto(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`cds-cyto ARGS` with no CDS_CYTO_* from this process's environment but `env`, and a throwaway database;
    `timeout` (seconds) for commands that move a cohort (loading 40 patients into HAPI takes minutes)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
    base["CDS_CYTO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cds_cyto", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2 and one line on stderr holding every word: how a configuration error must look."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
