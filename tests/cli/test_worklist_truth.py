"""`cds-cyto worklist` tells the truth about what it rests on (issue 19 item 2): no sweep yet, the last sweep failed,
or nothing to review after a sweep that looked; a store that does not exist is an error, never a new empty one.
Every command runs as a subprocess with real environment variables and a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.serve import free_port


def store_env(tmp_path: Path, name: str = "store.sqlite") -> dict[str, str]:
    return {"CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp_path / name}"}


def sweep(tmp_path: Path, env: dict[str, str], *args: str) -> None:
    result = run_cds_cyto(tmp_path, "sweep", "--once", "--no-progress", "--as-of", "2026-11-20", *args, env=env)
    assert "Traceback" not in result.stderr, result.stderr


def test_a_store_that_does_not_exist_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    env = store_env(tmp_path, "mistyped.sqlite")
    for command in (["worklist"], ["worklist", "--format", "json"], ["feedback"]):
        result = run_cds_cyto(tmp_path, *command, env=env)
        assert_one_line_error(result, "no store at", str(tmp_path / "mistyped.sqlite"), "cds-cyto sweep")
    assert not (tmp_path / "mistyped.sqlite").exists()


def test_the_database_flag_names_the_store_for_every_reader(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    for command in (["worklist", "--database", missing], ["feedback", "--database", missing]):
        assert_one_line_error(run_cds_cyto(tmp_path, *command), "no store at", "elsewhere.sqlite")
    # the older spelling of feedback's flag still works
    assert_one_line_error(run_cds_cyto(tmp_path, "feedback", "--database-url", missing), "elsewhere.sqlite")


def test_before_any_sweep_the_worklist_says_so(tmp_path: Path) -> None:
    env = store_env(tmp_path)
    # a store with no run at all: `serve --check` builds the app, which creates and migrates the store
    result = run_cds_cyto(tmp_path, "serve", "--check", env=env | {"CDS_CYTO_AUTH": "disabled"})
    assert result.returncode == 0, result.stderr
    listed = run_cds_cyto(tmp_path, "worklist", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "No sweep has run yet" in listed.stdout
    assert "Nothing to review" not in listed.stdout
    as_json = json.loads(run_cds_cyto(tmp_path, "worklist", "--format", "json", env=env).stdout)
    assert as_json["last_sweep"] is None


def test_after_a_failed_sweep_the_worklist_names_the_failure(tmp_path: Path) -> None:
    env = store_env(tmp_path)
    sweep(tmp_path, env, "--fhir", f"http://127.0.0.1:{free_port()}/fhir", "--since-days", "30")
    listed = run_cds_cyto(tmp_path, "worklist", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "The last sweep (#1" in listed.stdout and "failed at" in listed.stdout, listed.stdout
    assert "cohort discovery failed" in listed.stdout
    assert "Nothing to review" not in listed.stdout
    as_json = json.loads(run_cds_cyto(tmp_path, "worklist", "--format", "json", env=env).stdout)
    assert as_json["last_sweep"]["status"] == "failed"


def test_nothing_to_review_names_the_sweep_that_looked(tmp_path: Path) -> None:
    env = store_env(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_text("")
    sweep(tmp_path, env, "--fhir", f"http://127.0.0.1:{free_port()}/fhir", "--ids", str(ids))
    listed = run_cds_cyto(tmp_path, "worklist", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("Nothing to review (last sweep #1 as of 2026-11-20"), listed.stdout
    assert "0 patient(s)" in listed.stdout


def test_an_unreachable_postgresql_is_one_line_with_the_url_but_never_the_password(tmp_path: Path) -> None:
    url = f"postgresql://reader:s3cret-pw@127.0.0.1:{free_port()}/cyto"
    result = run_cds_cyto(tmp_path, "worklist", "--database", url)
    assert_one_line_error(result, "cannot open the store", "postgresql://reader:***@127.0.0.1")
    assert "s3cret-pw" not in result.stderr


def test_a_url_that_is_not_a_database_url_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run_cds_cyto(tmp_path, "worklist", "--database", "not a url"), "not a database URL")
