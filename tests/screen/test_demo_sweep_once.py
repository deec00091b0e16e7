"""`serve --demo` sweeps the demo cohort once per database (and as-of day and profile): never for `serve --check`,
once for several workers, not again after a restart — and the worklist page of every worker has its rows."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import create_engine, inspect, text

from tests.support.cli import run_cds_cyto
from tests.support.serve import served


def _runs(database: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        if "sweep_run" not in inspect(engine).get_table_names():
            return []
        with engine.connect() as conn:
            return [str(n) for n in conn.execute(text("SELECT note FROM sweep_run ORDER BY id")).scalars()]
    finally:
        engine.dispose()


def test_the_demo_sweeps_once_never_in_check_and_not_again_after_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite"
    env = {"CDS_CYTO_DATABASE_URL": f"sqlite:///{database}"}
    checked = run_cds_cyto(tmp_path, "serve", "--demo", "--check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert _runs(database) == []  # --check builds the app and exits: no sweep

    with served(tmp_path, env, "--demo", "--workers", "2") as server:
        for _ in range(6):  # whichever worker answers has the rows
            page = httpx.get(server.url + "/app/worklist", timeout=30)
            assert page.status_code == 200 and "Changes since sweep 1 (as of 2026-11-20)" in page.text
    assert len(_runs(database)) == 1
    assert _runs(database)[0].startswith("demo cohort as of 2026-11-20, profile ")

    with served(tmp_path, env, "--demo") as server:  # restarted on the same database
        assert "Changes since sweep 1 " in httpx.get(server.url + "/app/worklist", timeout=30).text
    assert len(_runs(database)) == 1
