"""Where the screen sits in the package, the card's SMART link, and when its cookies are Secure."""

from __future__ import annotations

import json

import pytest

from cds_cyto.cds.card_links import smart_links
from cds_cyto.screen.smart_config import normalise_url, smart_app_from_environment
from tests.core.test_import_graph import GRAPH


def test_no_door_imports_the_screen() -> None:
    # the screen composes the CDS door's runtime and the sweep's worklist; a door reaching back would be a cycle
    doors = ("cds_cyto.cds", "cds_cyto.sweep", "cds_cyto.analytics", "cds_cyto.core", "cds_cyto.sources")
    back = [
        f"{m} → {t}"
        for m, targets in GRAPH.items()
        if m.startswith(doors)
        for t, _ in targets
        if t.startswith("cds_cyto.screen")
    ]
    assert back == []


def test_the_card_link_launches_the_app_on_the_patient_and_recommendation() -> None:
    (link,) = smart_links("https://cds.example.org/", "p-1", "gcsf-therapeutic")
    assert link["type"] == "smart"
    assert link["url"] == "https://cds.example.org/app/launch"
    assert json.loads(link["appContext"]) == {"patient": "p-1", "recommendation": "gcsf-therapeutic"}


@pytest.mark.parametrize(
    ("base", "secure"),
    [
        ("https://cds.example.org", True),
        ("http://127.0.0.1:8000", False),  # plain http on loopback only (development): a Secure cookie would be lost
        ("http://localhost:8000", False),
    ],
)
def test_cookies_are_secure_outside_loopback(monkeypatch: pytest.MonkeyPatch, base: str, secure: bool) -> None:
    monkeypatch.setenv("CDS_CYTO_SMART_APP_CLIENT_ID", "screen")
    monkeypatch.setenv("CDS_CYTO_SMART_APP_ISSUERS", '{"https://ehr.example.org/fhir": {"tenant": "a"}}')
    app = smart_app_from_environment(base)
    assert app is not None
    assert app.secure_cookies is secure
    assert app.redirect_uri == base + "/app/callback"
    # outside loopback, `__Host-` cookies: Secure, Path=/, no Domain, so no sibling subdomain can plant one
    names = (app.session_cookie, app.state_cookie, app.cookie_path)
    if secure:
        assert names == ("__Host-cds_cyto_session", "__Host-cds_cyto_launch", "/")
    else:
        assert names == ("cds_cyto_session", "cds_cyto_launch", "/app")


@pytest.mark.parametrize(
    ("iss", "same"),
    [
        ("https://EHR.example.org:443/fhir/", True),
        ("https://ehr.example.org/fhir", True),
        ("https://ehr.example.org/fhir/r4", False),
        ("https://ehr.example.org:8443/fhir", False),
        ("http://ehr.example.org/fhir", False),
    ],
)
def test_an_iss_is_matched_in_one_spelling(iss: str, same: bool) -> None:
    assert (normalise_url(iss) == normalise_url("https://ehr.example.org/fhir")) is same
