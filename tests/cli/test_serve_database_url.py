"""A bad CDS_CYTO_DATABASE_URL stops `serve` and `serve --check` in one line that names the setting, never the
password, exit 2 (issue 15), as `cds-cyto worklist` does; not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.serve import free_port

UNREACHABLE = "postgresql://u:secretpw@127.0.0.1:1/db"  # port 1: nothing listens there
BAD = {
    UNREACHABLE: "cannot open the store postgresql://u:***@127.0.0.1:1/db",
    "mysql://x": "not a supported database URL",
    "no-url-at-all": "not a supported database URL",
}


@pytest.mark.parametrize("check", [True, False], ids=["check", "serve"])
@pytest.mark.parametrize("url", list(BAD))
def test_a_bad_database_url_is_one_line_naming_the_setting(tmp_path: Path, url: str, check: bool) -> None:
    args = ["serve", "--check"] if check else ["serve", "--port", str(free_port())]
    env = {"CDS_CYTO_DATABASE_URL": url, "CDS_CYTO_AUTH": "disabled"}
    result = run_cds_cyto(tmp_path, *args, env=env, timeout=60)
    assert_one_line_error(result, "CDS_CYTO_DATABASE_URL", BAD[url])
    assert "secretpw" not in result.stderr + result.stdout
