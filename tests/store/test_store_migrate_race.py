"""Processes that start together on a NEW SQLite file migrate one at a time (issue 15 item 8): each `cds-cyto`
command migrates first, and without the file lock beside the database two of them both saw "no tables yet" and the
second failed on "table already exists"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cds_cyto.store import Store
from cds_cyto.store.migrate import current_revision, head_revision

REPO = Path(__file__).resolve().parents[2]


def test_commands_started_together_on_a_new_sqlite_file_all_migrate_it(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    db.touch()  # empty, as SQLite creates it: `worklist` refuses a store that does not exist, but migrates this one
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
    command = [sys.executable, "-m", "cds_cyto", "worklist", "--database", f"sqlite:///{db}", "--format", "json"]
    started = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in started]
    for code, _out, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    assert (tmp_path / "new.sqlite.migrate.lock").exists()
    store = Store(f"sqlite:///{db}")
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.dispose()
