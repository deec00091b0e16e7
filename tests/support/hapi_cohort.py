"""The synthetic cohort (`fixtures/cohort`, 40 patients) on the session's HAPI server, loaded once.

Storing the cohort is the slowest thing the HAPI tests do (about 36,000 resources), and several tests need it
there (the doors test, the demo worklist). They share one load, made as a user makes it: `cds-cyto fixtures load`
as a subprocess. The patients' ids are the files' own, so a test that reads them finds exactly the files' data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.support.cli import run_cds_cyto

__all__ = ["COHORT", "CohortOnHapi", "load_cohort"]

COHORT: Final[Path] = Path(__file__).resolve().parents[2] / "fixtures" / "cohort"
# Loading 40 patients takes minutes on a busy 2-core machine; the subprocess must not be cut short before that.
LOAD_TIMEOUT_S: Final[float] = 900.0


@dataclass(frozen=True)
class CohortOnHapi:
    base_url: str
    ids: tuple[str, ...]  # every cohort patient, sorted (the files' stems)
    load_output: str  # what `fixtures load` printed


def load_cohort(base_url: str, work: Path) -> CohortOnHapi:
    """`cds-cyto fixtures load --fhir BASE fixtures/cohort`; fails loudly (with the CLI's stderr) if any file fails."""
    loaded = run_cds_cyto(work, "fixtures", "load", "--fhir", base_url, str(COHORT), timeout=LOAD_TIMEOUT_S)
    assert loaded.returncode == 0, f"fixtures load of the cohort failed: {loaded.stdout[-2000:]}{loaded.stderr[-2000:]}"
    ids = tuple(sorted(p.stem for p in COHORT.glob("syn-*.json")))
    assert len(ids) == 40, ids
    return CohortOnHapi(base_url, ids, loaded.stdout)
