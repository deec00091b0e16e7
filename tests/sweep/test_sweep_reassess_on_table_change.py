"""A change to any clinical table re-assesses every patient at the next sweep (issue 13, item 3).

`cds-cyto sweep --once` runs as a subprocess against the real HAPI server, with the change made the way a site makes
it: a site file named by CDS_CYTO_SITE_FILE. One site-file change per table of the profile; after each, the next
sweep assesses everyone again; the same file again, no one. The site files are cumulative, so each sweep sees
exactly one more table changed than the sweep before it.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cds_cyto.core.profile import load_profile
from cds_cyto.store.db import make_engine
from cds_cyto.store.tables import SweepRun
from tests.support.cli import run_cds_cyto
from tests.sweep.builders import course, load

pytestmark = pytest.mark.hapi

AS_OF = date(2043, 5, 10)  # this module's calendar: no other test puts infusions near it
PATIENTS = ("sxt-1", "sxt-2")

# One change per clinical table, written as a site would write it; each must change that table's version.
CHANGES = {
    "analytes": '[analytes.neutrophils]\nlabel = "ANC (site label)"\n',
    "units": '[aliases]\n"giga/l" = "10*9/L"\n',
    "codes": '[code_names]\n"http://acme.example/drug|G1" = "site G-CSF"\n',
    "criteria": '[ctcae."5.0".neutrophils]\nterm = "Neutrophil count decreased (site wording)"\n',
    "profiles": "[pht]\nwindow = [25, 30]\n",
    "thresholds": "[thresholds.freshness]\nmax_age_days = 4\n",
    "risk": "[risk.hematotox]\nhigh_risk_at_least = 3\n",
    "rules": '[rules.data-quality]\ntitle = "Results that could not be used"\n',
}


def _sweep(tmp_path: Path, hapi_url: str, database: str, site: Path | None) -> tuple[int, int]:
    env = {"CDS_CYTO_DATABASE_URL": database}
    if site is not None:
        env["CDS_CYTO_SITE_FILE"] = str(site)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(PATIENTS) + "\n", encoding="utf-8")
    done = run_cds_cyto(
        tmp_path, "sweep", "--once", "--fhir", hapi_url, "--ids", str(ids), "--as-of", AS_OF.isoformat(),
        "--no-progress", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            run = conn.execute(select(SweepRun).order_by(SweepRun.id.desc()).limit(1)).one()
    finally:
        engine.dispose()
    assert run.status == "completed"
    return run.evaluated, run.unchanged


def test_every_change_is_a_new_version_of_its_table_only(tmp_path: Path) -> None:
    base = load_profile().versions
    for table, text in CHANGES.items():
        site = tmp_path / f"{table}.toml"
        site.write_text(text, encoding="utf-8")
        changed = load_profile(site).versions
        assert changed[table] != base[table], table
        assert {k: v for k, v in changed.items() if k not in (table, "site")} == {
            k: v for k, v in base.items() if k != table
        }, table


async def test_a_change_to_any_table_reassesses_everyone_at_the_next_sweep(hapi_url: str, tmp_path: Path) -> None:
    day0 = AS_OF - timedelta(days=10)
    await load(hapi_url, [r for pid in PATIENTS for r in course(pid, day0, [2, 6, 9])])
    database = f"sqlite:///{tmp_path / 'sweep.sqlite'}"
    assert _sweep(tmp_path, hapi_url, database, None) == (2, 0)
    assert _sweep(tmp_path, hapi_url, database, None) == (0, 2), "nothing changed: nobody is assessed again"
    cumulative = ""
    for table, text in CHANGES.items():  # each file holds one more table's change than the one before
        cumulative += text
        site = tmp_path / f"upto-{table}.toml"
        site.write_text(cumulative, encoding="utf-8")
        assert _sweep(tmp_path, hapi_url, database, site) == (2, 0), table
    assert _sweep(tmp_path, hapi_url, database, site) == (0, 2), "the same file again: nobody is assessed again"
