"""`fhirServer` tied to the issuer: `fhir_base_urls` parsed with the other issuer fields, compared normalised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_cyto.cds.auth import parse_trusted_issuers
from cds_cyto.cds.fhir_servers import normalise_base_url, server_allowed
from tests.support.cli import assert_one_line_error, run_cds_cyto

JWKS: dict[str, list[object]] = {"keys": []}  # never used: the parse fails or succeeds before keys matter
BASES = [
    b
    for b in (normalise_base_url("https://EHR.example.org:443/fhir/r4/"), normalise_base_url("http://127.0.0.1:8080"))
    if b is not None
]


@pytest.mark.parametrize(
    "server",
    [
        "https://ehr.example.org/fhir/r4",
        "https://ehr.example.org/fhir/r4/",
        "https://EHR.EXAMPLE.ORG:443/fhir/r4",
        "https://ehr.example.org/fhir/r4/tenant-1",
        "http://127.0.0.1:8080/anything",
    ],
)
def test_a_listed_base_and_what_lies_under_it_match(server: str) -> None:
    assert server_allowed(server, BASES)


@pytest.mark.parametrize(
    "server",
    [
        "http://ehr.example.org/fhir/r4",  # another scheme
        "https://ehr.example.org:8443/fhir/r4",  # another port
        "https://ehr.example.org/fhir",  # above the base
        "https://ehr.example.org/fhir/r4x",  # a prefix of characters is not a path prefix
        "https://ehr.example.org/fhir/r4/../../admin",
        "https://user@ehr.example.org/fhir/r4",
        "https://ehr.example.org/fhir/r4?x=1",
        "https://evil.example.org/fhir/r4",
        "http://localhost:8080",  # the same machine under another name is another origin
        "not a url",
        # decoded, these climb above the base on a tolerant server (attack on #15)
        "https://ehr.example.org/fhir/r4/x%2F..%2F..%2Fadmin",
        "https://ehr.example.org/fhir/r4/x%5C..%5C..%5Cadmin",
        "https://ehr.example.org/fhir/r4/\\..\\..\\admin",
        "https://ehr.example.org/fhir/r4/..;/..;/admin",
        "https://ehr.example.org/fhir/r4/a%0d%0aHost:evil",
        "https://ehr.example.org/fhir/r4/%00",
    ],
)
def test_anything_else_does_not(server: str) -> None:
    assert not server_allowed(server, BASES)


def test_the_issuer_field_is_parsed_normalised() -> None:
    issuers = parse_trusted_issuers(
        json.dumps({"https://ehr": {"jwks_url": "https://ehr/jwks", "fhir_base_urls": ["https://EHR/fhir/"]}})
    )
    assert issuers["https://ehr"].fhir_base_urls == (("https", "ehr", 443, ("fhir",)),)
    unlisted = parse_trusted_issuers(json.dumps({"https://ehr": {"jwks_url": "https://ehr/jwks"}}))
    assert unlisted["https://ehr"].fhir_base_urls == ()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("https://ehr/fhir", ["fhir_base_urls", "list"]),
        ([5], ["fhir_base_urls", "string"]),
        (["http://ehr.example.org/fhir"], ["fhir_base_urls", "https"]),  # a token must not travel in clear
        (["https://ehr/fhir?x=1"], ["fhir_base_urls", "query"]),
    ],
)
def test_a_bad_list_is_refused_naming_the_field(value: object, words: list[str]) -> None:
    issuers = {"https://ehr": {"jwks_url": "https://ehr/jwks", "fhir_base_urls": value}}
    with pytest.raises(ValueError, match="fhir_base_urls") as caught:
        parse_trusted_issuers(json.dumps(issuers))
    assert all(w in str(caught.value) for w in words)


def test_a_bad_list_stops_serve_in_one_line(tmp_path: Path) -> None:
    issuers = {"https://ehr": {"jwks_url": "https://ehr/jwks", "fhir_base_urls": "https://ehr/fhir"}}
    r = run_cds_cyto(tmp_path, "serve", "--check", env={"CDS_CYTO_TRUSTED_ISSUERS": json.dumps(issuers)})
    assert_one_line_error(r, "CDS_CYTO_TRUSTED_ISSUERS", "fhir_base_urls")
