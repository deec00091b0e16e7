"""`cds-cyto serve` through its real entry point, with real environment variables (issue 15, items 6 and 7)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.settings import Settings, repo_path
from tests.cds.scenario import hook_request
from tests.support.cli import assert_one_line_error, run_cds_cyto


def serve(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cds-cyto serve ARGS --check` with only CDS_CYTO_* from `env`: the configuration is judged, no port bound."""
    return run_cds_cyto(tmp_path, "serve", *args, "--check", env=env)


def test_without_demo_the_bundled_cohort_is_never_the_patient_source(tmp_path: Path) -> None:
    settings = Settings(
        auth="disabled", database_url=f"sqlite:///{tmp_path / 's.sqlite'}", demo_dir=repo_path("fixtures", "cohort")
    )
    with TestClient(create_app(settings)) as client:
        r = client.post("/cds-services/cyto-patient-view", json=hook_request(pid="syn-all-0038"))
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, ["CDS_CYTO_TRUSTED_ISSUERS"]),  # the documented default {} with auth required
        ({"CDS_CYTO_TRUSTED_ISSUERS": "{not json"}, ["CDS_CYTO_TRUSTED_ISSUERS", "JSON"]),
        ({"CDS_CYTO_TRUSTED_ISSUERS": '{"https://ehr.example": 5}'}, ["CDS_CYTO_TRUSTED_ISSUERS", "object"]),
        ({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_PORT": "eighty"}, ["CDS_CYTO_PORT", "integer"]),
        ({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_FETCH_TIMEOUT_S": "soon"}, ["CDS_CYTO_FETCH_TIMEOUT_S", "number"]),
        ({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_SWEEP_CONCURRENCY": "0"}, ["CDS_CYTO_SWEEP_CONCURRENCY"]),
        ({"CDS_CYTO_AUTH": "maybe"}, ["CDS_CYTO_AUTH"]),
        ({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_HOST": "0.0.0.0"}, ["loopback"]),
        ({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_CORS_ORIGINS": '["https://a.example"'}, ["CDS_CYTO_CORS_ORIGINS"]),
        ({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_TIMEZONE": "Mars/Olympus"}, ["CDS_CYTO_TIMEZONE"]),
        ({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_TOKEN_MAX_LIFETIME_S": "0"}, ["CDS_CYTO_TOKEN_MAX_LIFETIME_S"]),
    ],
)
def test_a_configuration_error_is_one_line_naming_the_setting_exit_2(
    env: dict[str, str], words: list[str], tmp_path: Path
) -> None:
    assert_one_line_error(serve(env, tmp_path), "configuration", *words)


@pytest.mark.parametrize(
    "origins", ["https://a.example", "https://a.example, https://b.example", '["https://a.example"]']
)
def test_cors_origins_in_the_documented_forms_start(origins: str, tmp_path: Path) -> None:
    r = serve({"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_CORS_ORIGINS": origins}, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "https://a.example" in r.stdout


def test_the_demo_binds_a_public_host_only_when_given_on_the_command_line(tmp_path: Path) -> None:
    assert_one_line_error(serve({"CDS_CYTO_HOST": "0.0.0.0"}, tmp_path, "--demo"), "loopback")
    r = serve({"CDS_CYTO_HOST": "0.0.0.0"}, tmp_path, "--demo", "--host", "0.0.0.0")
    assert r.returncode == 0, r.stderr
