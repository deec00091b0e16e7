"""Two `cds-cyto sweep` processes started together on a new SQLite database (issue 15 item 8): both migrate it, one
at a time (a file lock beside the database), then the lease lets one sweep; the other sweeps after it or says the
lease is taken. Neither fails in the migration."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from cds_cyto.store import Store
from cds_cyto.store.migrate import current_revision, head_revision
from tests.sweep.builders import course, load

pytestmark = pytest.mark.hapi

AS_OF = date(2049, 2, 1)  # this module's calendar on the shared server
REPO = Path(__file__).resolve().parents[2]


def test_two_sweeps_started_together_on_a_new_database(hapi_url: str, tmp_path: Path) -> None:
    asyncio.run(load(hapi_url, course("swm-1", AS_OF - timedelta(days=5), [2, 4])))
    ids = tmp_path / "ids.txt"
    ids.write_text("swm-1\n")
    db = tmp_path / "fresh" / "new.sqlite"  # not even its directory exists yet
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
    env |= {"CDS_CYTO_DATABASE_URL": f"sqlite:///{db}", "CDS_CYTO_FHIR_BASE_URL": hapi_url}
    command = [sys.executable, "-m", "cds_cyto", "sweep", "--once", "--ids", str(ids), "--as-of", AS_OF.isoformat()]
    started = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=180), *p.communicate()) for p in started]
    for code, out, err in results:
        assert "Traceback" not in err and "database error" not in err, err
        assert code in (0, 3), (code, out, err)
        if code == 3:
            assert out.startswith("sweep skipped: another sweep is running"), out
    assert 0 in [code for code, _, _ in results], "one of them swept"
    store = Store(f"sqlite:///{db}")
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.dispose()
