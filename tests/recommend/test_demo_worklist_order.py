"""The worklist of the demo cohort at its data cut, through the real doors: the cohort loaded into HAPI, one
`cds-cyto sweep --once` into a SQLite file and `cds-cyto worklist --format json`, each a subprocess. The day +9
patient with active grade 3 CRS and ANC 0.36 (syn-all-0038) comes first; the day +111 data-quality warning
(syn-all-0030) ranks below every clinical warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import run_cds_cyto
from tests.support.hapi_cohort import CohortOnHapi

AS_OF = "2026-11-20"  # the cohort's data cut (fixtures/cohort/README.md)


def test_the_demo_worklist_puts_the_day_9_patient_with_grade_3_crs_first(
    cohort_on_hapi: CohortOnHapi, tmp_path: Path
) -> None:
    # the cohort is loaded once per session by `cds-cyto fixtures load` (the cohort_on_hapi fixture)
    hapi_url = cohort_on_hapi.base_url
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(cohort_on_hapi.ids) + "\n", encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'sweep.sqlite'}"
    env = {"CDS_CYTO_DATABASE_URL": database}
    swept = run_cds_cyto(
        tmp_path,
        "sweep",
        "--once",
        "--fhir",
        hapi_url,
        "--ids",
        str(ids),
        "--as-of",
        AS_OF,
        "--no-progress",
        env=env,
        timeout=900,
    )
    assert swept.returncode == 0, swept.stderr[-2000:]
    listed = run_cds_cyto(tmp_path, "worklist", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows: list[dict[str, Any]] = json.loads(listed.stdout)["patients"]
    order = [(r["patient_id"], r["urgency"], r["day"]) for r in rows]
    assert order[0] == ("syn-all-0038", "warning", 9), order
    first = {a["code"]: a["urgency"] for a in rows[0]["alerts"]}
    assert first == {"gcsf-therapeutic": "warning", "extended-monitoring": "warning"}
    position = {pid: i for i, (pid, _, _) in enumerate(order)}
    # the clinical warnings (day +9, day +25) before the data-quality-only warnings (day +20, day +111)
    assert position["syn-all-0038"] < position["syn-nhl-0035"] < position["syn-all-0036"] < position["syn-all-0030"]
