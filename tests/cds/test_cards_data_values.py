"""Cards for values that must not be read at face value (clinical-reference §1): a g/dL hemoglobin labelled g/L,
and censored counts, through the patient-view hook."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from tests.cds.scenario import count, cytopenic_patient, hook_request, prefetch_for
from tests.support.gfm import read_text

SERVICE = "/cds-services/cyto-patient-view"


def cards(client: TestClient, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = hook_request(prefetch=prefetch_for(resources))
    r = client.post(SERVICE, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return list(r.json()["cards"])


def topics(found: list[dict[str, Any]]) -> list[str]:
    return [c["source"]["topic"]["code"] for c in found]


def test_a_g_dl_hemoglobin_labelled_g_l_gets_an_urgent_data_quality_card_not_a_transfusion(
    client: TestClient,
) -> None:
    # Hb 11.2 "g/L" is 11.2 g/dL = 112 g/L mislabelled: below the 30 g/L plausibility floor, never severe anemia
    found = cards(client, cytopenic_patient(anc=2.0, hb=11.2, plt=150.0))
    assert "rbc-transfusion" not in topics(found)
    (card,) = [c for c in found if c["source"]["topic"]["code"] == "data-quality"]
    assert card["indicator"] == "critical"
    assert card["summary"].startswith(
        "Hemoglobin 11.2 g/L is implausible; if the unit is g/dL this is 112 g/L — verify"
    )
    assert len(card["summary"]) < 140


def test_an_old_implausible_hemoglobin_is_not_urgent(client: TestClient) -> None:
    # outside the freshness window (3 days): still on the data-quality card, but not critical
    resources = cytopenic_patient(anc=2.0, hb=100.0, plt=150.0)
    resources.append(count("pt-1", "hemoglobin", 2, 11.2, n=1))
    (card,) = [c for c in cards(client, resources) if c["source"]["topic"]["code"] == "data-quality"]
    assert card["indicator"] == "warning"


def test_a_censored_anc_below_the_threshold_fires_the_gcsf_card_with_its_comparator(client: TestClient) -> None:
    resources = cytopenic_patient(anc=2.0, hb=100.0, plt=150.0)
    resources.append(count("pt-1", "neutrophils", 7, 0.5, n=1))
    resources[-1]["valueQuantity"]["comparator"] = "<"
    resources[-1]["effectiveDateTime"] = resources[-1]["effectiveDateTime"].replace("T08:", "T09:")
    (card,) = [c for c in cards(client, resources) if c["source"]["topic"]["code"] == "gcsf-therapeutic"]
    assert "ANC <0.5 ×10⁹/L" in card["summary"]


def test_a_censored_anc_across_the_threshold_fires_no_treatment_card_but_is_named(client: TestClient) -> None:
    resources = cytopenic_patient(anc=2.0, hb=100.0, plt=150.0)
    resources.append(count("pt-1", "neutrophils", 7, 1.0, n=1))
    resources[-1]["valueQuantity"]["comparator"] = "<"
    resources[-1]["effectiveDateTime"] = resources[-1]["effectiveDateTime"].replace("T08:", "T09:")
    found = cards(client, resources)
    assert "gcsf-therapeutic" not in topics(found)
    (card,) = [c for c in found if c["source"]["topic"]["code"] == "data-quality"]
    detail = read_text(card["detail"])  # as a GFM client renders it
    assert "ANC <1" in detail and "cannot tell whether below 0.5" in detail
