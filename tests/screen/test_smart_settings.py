"""The SMART app's settings through the real entry point: a mistake stops `serve` with one line naming the setting
(never its value); a good registration starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.serve import Signer

AUTH = {"CDS_CYTO_TRUSTED_ISSUERS": Signer().issuers()}


@pytest.mark.parametrize(
    ("issuers", "words"),
    [
        ("not json", ("CDS_CYTO_SMART_APP_ISSUERS", "expected a JSON object")),
        ("{}", ("CDS_CYTO_SMART_APP_ISSUERS", "non-empty")),
        ('{"http://ehr.example.org/fhir": {}}', ("CDS_CYTO_SMART_APP_ISSUERS", "https (http only to loopback)")),
        ('{"https://ehr.example.org/fhir": {"tenant": 7}}', ("CDS_CYTO_SMART_APP_ISSUERS", '{"tenant"')),
        ('{"https://ehr.example.org/fhir": {"tenants": "a"}}', ("CDS_CYTO_SMART_APP_ISSUERS", '{"tenant"')),
    ],
)
def test_a_bad_registration_stops_the_start_in_one_line(tmp_path: Path, issuers: str, words: tuple[str, ...]) -> None:
    env = AUTH | {"CDS_CYTO_SMART_APP_CLIENT_ID": "screen", "CDS_CYTO_SMART_APP_ISSUERS": issuers}
    result = run_cds_cyto(tmp_path, "serve", "--check", env=env)
    assert_one_line_error(result, "configuration:", *words)
    assert "tenants" not in result.stderr.replace("CDS_CYTO", "")


def test_the_smart_app_outside_loopback_needs_an_https_public_url(tmp_path: Path) -> None:
    # over plain http a Secure cookie is dropped (the sign-in could never finish) and the token's session would travel
    env = AUTH | {
        "CDS_CYTO_SMART_APP_CLIENT_ID": "screen",
        "CDS_CYTO_SMART_APP_ISSUERS": '{"https://ehr.example.org/fhir": {"tenant": "a"}}',
        "CDS_CYTO_PUBLIC_BASE_URL": "http://cds.internal:8000",
    }
    result = run_cds_cyto(tmp_path, "serve", "--check", env=env)
    assert_one_line_error(result, "configuration:", "CDS_CYTO_PUBLIC_BASE_URL", "https (http only on loopback)")
    result = run_cds_cyto(tmp_path, "serve", "--check", env=env | {"CDS_CYTO_PUBLIC_BASE_URL": "https://cds.example"})
    assert result.returncode == 0, result.stderr


def test_a_good_registration_starts(tmp_path: Path) -> None:
    env = AUTH | {
        "CDS_CYTO_SMART_APP_CLIENT_ID": "screen",
        "CDS_CYTO_SMART_APP_ISSUERS": '{"https://ehr.example.org/r4/": {"tenant": "a"}, "http://127.0.0.1:9/x": {}}',
    }
    result = run_cds_cyto(tmp_path, "serve", "--check", env=env)
    assert result.returncode == 0, result.stderr
