"""The two new rules render as CDS Hooks cards like every other: their topic and title from rules.toml, their rule
page as source, override reasons; the overdue card offers one blood count, the evaluation card no order."""

from __future__ import annotations

from cds_cyto.cds.cards import render_cards
from cds_cyto.core.profile import default_profile
from tests.core.harness import run
from tests.support.fhir import infusion, obs, patient

BASE = "https://cds.example.org"


def test_counts_overdue_and_prolonged_cytopenia_render_as_cards() -> None:
    profile = default_profile()
    # day +40: PLT 12 on day +35 is stale (counts overdue); the ANC ≤ 0.5 on days 31 and 33 make late ICAHT 3
    a = run(
        patient(),
        infusion(),
        obs("neutrophils", 0.4, "10*9/L", day=31),
        obs("neutrophils", 0.45, "10*9/L", day=33),
        obs("neutrophils", 0.9, "10*9/L", day=35),
        obs("platelets", 12, "10*9/L", day=35),
        as_of_day=40,
    )
    cards = {c["source"]["topic"]["code"]: c for c in render_cards(a, BASE, profile)}
    overdue, evaluation = cards["counts-overdue"], cards["prolonged-cytopenia-evaluation"]
    assert overdue["source"]["topic"]["display"] == "Blood counts overdue"
    assert overdue["source"]["url"] == f"{BASE}/recommendations/counts-overdue"
    assert overdue["indicator"] == "warning" and overdue["summary"].startswith("Last ANC 0.9 ×10⁹/L on day +35")
    assert [s["label"] for s in overdue["suggestions"]] == ["Draft order: blood count with differential"]
    assert evaluation["source"]["topic"]["display"] == "Prolonged cytopenia: evaluation"
    assert evaluation["indicator"] == "warning" and "suggestions" not in evaluation
    assert "late ICAHT grade 3" in evaluation["detail"] and "not an order" in evaluation["detail"]
    assert overdue["overrideReasons"] and evaluation["overrideReasons"]
