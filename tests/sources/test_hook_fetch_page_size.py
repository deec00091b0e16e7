"""The hook's own fetch, through the real entry point: `cds-cyto serve` with CDS_CYTO_FHIR_PAGE_SIZE asks every
search with that `_count` (the prefetch templates say 1000, what an EHR accepts), in one batch round trip when the
server's CapabilityStatement lists batch, and as separate searches when it does not (issue 18 item 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.cds.scenario import hook_request
from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.serve import served

TEMPLATES = 6  # hooks/cyto-patient-view.json: patient, observations, procedures, conditions, two medication uses


def requests_since(recorder: str, start: int) -> list[dict[str, Any]]:
    asked: list[dict[str, Any]] = httpx.get(recorder + "/_requests", trust_env=False).json()
    return asked[start:]


def counts(url: str) -> list[str]:
    return parse_qs(url.split("?", 1)[1]).get("_count", []) if "?" in url else []


def call_hook(tmp_path: Path, recorder: str, behaviour: str, env: dict[str, str]) -> list[dict[str, Any]]:
    start = len(requests_since(recorder, 0))
    with served(tmp_path, {"CDS_CYTO_AUTH": "disabled", **env}) as server:
        answer = httpx.post(
            server.url + "/cds-services/cyto-patient-view",
            json=hook_request("pt-7", fhirServer=f"{recorder}/{behaviour}/fhir"),
            timeout=30,
            trust_env=False,
        )
    assert answer.status_code == 200, answer.text
    return requests_since(recorder, start)


def test_one_batch_with_the_site_page_size(tmp_path: Path, recorder: str) -> None:
    asked = call_hook(tmp_path, recorder, "batch", {"CDS_CYTO_FHIR_PAGE_SIZE": "1234"})
    assert [(r["method"], r["path"]) for r in asked] == [("GET", "/batch/fhir/metadata"), ("POST", "/batch/fhir")]
    urls = asked[1]["batch"]
    assert len(urls) == TEMPLATES
    assert urls[0] == "Patient/pt-7"
    assert all(counts(u) == ["1234"] for u in urls[1:]), urls


def test_separate_searches_when_batch_is_not_listed(tmp_path: Path, recorder: str) -> None:
    asked = call_hook(tmp_path, recorder, "plain", {"CDS_CYTO_FHIR_PAGE_SIZE": "777"})
    assert asked[0]["path"] == "/plain/fhir/metadata"
    gets = sorted(r["path"].removeprefix("/plain/fhir/") for r in asked[1:])
    assert all(r["method"] == "GET" for r in asked)
    assert len(gets) == TEMPLATES
    assert "Patient/pt-7" in gets
    assert all(counts(u) == ["777"] for u in gets if u != "Patient/pt-7"), gets


def test_the_default_page_size_is_2000(tmp_path: Path, recorder: str) -> None:
    asked = call_hook(tmp_path, recorder, "batch", {})
    assert all(counts(u) == ["2000"] for u in asked[-1]["batch"][1:])


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0", ("CDS_CYTO_FHIR_PAGE_SIZE",)),
        ("10001", ("CDS_CYTO_FHIR_PAGE_SIZE",)),
        ("lots", ("CDS_CYTO_FHIR_PAGE_SIZE",)),
    ],
)
def test_a_bad_page_size_stops_the_start(tmp_path: Path, value: str, words: tuple[str, ...]) -> None:
    result = run_cds_cyto(tmp_path, "serve", "--demo", "--check", env={"CDS_CYTO_FHIR_PAGE_SIZE": value})
    assert_one_line_error(result, *words)


def test_the_page_size_is_capped_at_the_page_entry_limit(tmp_path: Path, recorder: str) -> None:
    env = {"CDS_CYTO_FHIR_PAGE_SIZE": "3000", "CDS_CYTO_FHIR_MAX_PAGE_ENTRIES": "2500"}
    asked = call_hook(tmp_path, recorder, "batch", env)
    assert all(counts(u) == ["2500"] for u in asked[-1]["batch"][1:])  # a page of 3000 would be refused
