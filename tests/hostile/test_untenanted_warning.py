"""A process that sweeps with auth required and no CDS_CYTO_SWEEP_TENANT says so in one warning line at start-up
(its patients would be shown to no authenticated caller); it still starts. A hook-only `serve` needs no tenant and
says nothing. Through the real entry point and environment."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from tests.support.cli import assert_one_line_error, run_cds_cyto

KEY = ECKey.generate_key("P-384", parameters={"kid": "k"}, private=True)
ISSUERS = json.dumps({"https://ehr.example.org": {"jwks": {"keys": [KEY.as_dict(private=False)]}, "tenant": "ward-a"}})
WARNING = "CDS_CYTO_SWEEP_TENANT is unset while CDS_CYTO_AUTH=required"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if WARNING in line]


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ({"CDS_CYTO_SWEEP_INTERVAL_MINUTES": "60"}, True),  # sweeps in serve, no tenant
        ({"CDS_CYTO_SWEEP_CRON": "0 6 * * *"}, True),
        ({"CDS_CYTO_SWEEP_INTERVAL_MINUTES": "60", "CDS_CYTO_SWEEP_TENANT": "ward-a"}, False),
        ({}, False),  # hook-only: no sweep, no tenant needed
        ({"CDS_CYTO_SWEEP_INTERVAL_MINUTES": "60", "CDS_CYTO_AUTH": "disabled"}, False),  # everyone sees all
    ],
)
def test_serve_warns_when_it_sweeps_untenanted_with_auth(extra: dict[str, str], warned: bool, tmp_path: Path) -> None:
    env = {
        "CDS_CYTO_AUTH": "required",
        "CDS_CYTO_TRUSTED_ISSUERS": ISSUERS,
        "CDS_CYTO_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",  # what a scheduled sweep needs; never reached here
        "CDS_CYTO_PARSE_PROCESSES": "0",
    } | extra
    result = run_cds_cyto(tmp_path, "serve", "--check", env=env)
    assert result.returncode == 0, result.stderr  # a warning, not a refusal
    lines = _warnings(result.stderr)
    assert len(lines) == (1 if warned else 0), result.stderr
    if warned:
        assert json.loads(lines[0])["level"] == "warning"


@pytest.mark.parametrize(("tenant", "warned"), [(None, True), ("ward-a", False)])
def test_sweep_warns_when_untenanted_with_auth(tenant: str | None, warned: bool, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("p-1\n")
    env = {"CDS_CYTO_FHIR_BASE_URL": f"http://127.0.0.1:{_closed_port()}/fhir"}  # auth: the default, required
    if tenant is not None:
        env["CDS_CYTO_SWEEP_TENANT"] = tenant
    result = run_cds_cyto(tmp_path, "sweep", "--once", "--ids", str(ids), "--no-progress", env=env)
    assert "Traceback" not in result.stderr
    assert len(_warnings(result.stderr)) == (1 if warned else 0), result.stderr


UNKNOWN = "is the `tenant` of no issuer in CDS_CYTO_TRUSTED_ISSUERS"


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ({"CDS_CYTO_SWEEP_TENANT": "nosuch"}, True),  # hook-only: the setting is still a mistake
        ({"CDS_CYTO_SWEEP_TENANT": "nosuch", "CDS_CYTO_SWEEP_INTERVAL_MINUTES": "60"}, True),
        ({"CDS_CYTO_SWEEP_TENANT": "ward-a", "CDS_CYTO_SWEEP_INTERVAL_MINUTES": "60"}, False),
        ({"CDS_CYTO_SWEEP_TENANT": "nosuch", "CDS_CYTO_AUTH": "disabled"}, False),  # everyone sees all
    ],
)
def test_serve_warns_of_a_sweep_tenant_no_issuer_has(extra: dict[str, str], warned: bool, tmp_path: Path) -> None:
    env = {
        "CDS_CYTO_AUTH": "required",
        "CDS_CYTO_TRUSTED_ISSUERS": ISSUERS,
        "CDS_CYTO_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",
        "CDS_CYTO_PARSE_PROCESSES": "0",
    } | extra
    result = run_cds_cyto(tmp_path, "serve", "--check", env=env)
    assert result.returncode == 0, result.stderr  # a warning, as for the unset tenant
    lines = [line for line in result.stderr.splitlines() if UNKNOWN in line]
    assert len(lines) == (1 if warned else 0), result.stderr
    if warned:
        assert json.loads(lines[0])["level"] == "warning" and "'nosuch'" in lines[0]
        assert not _warnings(result.stderr)  # one warning, the apt one


def test_sweep_warns_of_a_sweep_tenant_no_issuer_has(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("p-1\n")
    env = {
        "CDS_CYTO_FHIR_BASE_URL": f"http://127.0.0.1:{_closed_port()}/fhir",
        "CDS_CYTO_TRUSTED_ISSUERS": ISSUERS,
        "CDS_CYTO_SWEEP_TENANT": "ward-z",
    }
    result = run_cds_cyto(tmp_path, "sweep", "--once", "--ids", str(ids), "--no-progress", env=env)
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if UNKNOWN in line]) == 1, result.stderr


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"CDS_CYTO_SWEEP_INTERVAL_MINUTES": "60"}, ("CDS_CYTO_FHIR_BASE_URL",)),  # a sweep with nothing to sweep
        ({"CDS_CYTO_SWEEP_CRON": "every morning", "CDS_CYTO_FHIR_BASE_URL": "http://127.0.0.1:9/fhir"}, ("CRON",)),
    ],
)
def test_a_scheduled_sweep_that_cannot_run_stops_serve_in_one_line(
    extra: dict[str, str], words: tuple[str, ...], tmp_path: Path
) -> None:
    """Found here: both were a traceback and exit 1."""
    env = {"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_PARSE_PROCESSES": "0"} | extra
    assert_one_line_error(run_cds_cyto(tmp_path, "serve", "--check", env=env), "configuration", *words)
