"""The timeline drawn from one Assessment: censored values as bounds, unusable results listed apart with their data
problem, events and thresholds written in text (pure: the page's HTML, no browser)."""

from __future__ import annotations

import re
from typing import Any

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.profile import default_profile
from cds_cyto.screen.pages import timeline_page
from cds_cyto.screen.timeline import build_timeline
from tests.support.fhir import PLATELET_TRANSFUSION, day_date, infusion, obs, patient, procedure

PROFILE = default_profile()


def _page(*resources: dict[str, Any]) -> str:
    record = extract_record([patient("female"), infusion(0), *resources], PROFILE, patient_id="p1")
    assessment = evaluate(record, day_date(6), PROFILE)
    return timeline_page(assessment, build_timeline(assessment, PROFILE))


def _labels(html: str, kind: str) -> list[str]:
    return re.findall(rf'<g class="{kind}" tabindex="0" role="img" aria-label="([^"]*)"', html)


def test_a_censored_anc_is_drawn_as_a_bound_and_read_as_the_lab_wrote_it() -> None:
    html = _page(
        obs("neutrophils", 0.8, "10*9/L", day=2, id="anc-2"),
        obs("neutrophils", 0.1, "10*9/L", day=3, id="anc-3", comparator="<"),
    )
    points = _labels(html, "pt")
    censored = [p for p in points if "anc-3" in p]
    assert len(censored) == 1
    assert censored[0].startswith("ANC &lt;0.1 10*9/L, day +3")
    assert "censored: the value is &lt; 0.1 ×10⁹/L" in censored[0]
    assert html.count('class="mark censored"') == 1 + 1  # the point, and the legend's sample
    assert any("anc-2" in p and p.startswith("ANC 0.8 10*9/L, day +2") for p in points)


def test_a_value_in_another_unit_is_shown_as_written_and_placed_in_the_canonical_one() -> None:
    html = _page(obs("hemoglobin", 8.1, "g/dL", day=2, id="hb-2"))
    (label,) = [p for p in _labels(html, "pt") if "hb-2" in p]
    assert label.startswith("Hb 8.1 g/dL, day +2")
    assert "graded as 81 g/L" in label


def test_an_unusable_result_is_listed_apart_with_its_data_problem_and_not_drawn() -> None:
    html = _page(obs("platelets", 35, "cells", day=2, id="plt-bad"), obs("platelets", 40, "10*9/L", day=3))
    assert not [p for p in _labels(html, "pt") if "plt-bad" in p]
    unused = html.split('id="unused"', 1)[1]
    assert "Observation/plt-bad" in unused
    assert "unit-unknown" in unused


def test_events_thresholds_and_day_zero_are_written_in_text() -> None:
    html = _page(procedure(PLATELET_TRANSFUSION, 4, id="plt-tx"), obs("platelets", 15, "10*9/L", day=4))
    events = _labels(html, "ev")
    assert any(e.startswith("Platelets day +4") and "Procedure/plt-tx" in e for e in events)
    assert '<text class="letter"' in html
    assert "&lt; 20: seed 000 severe; Platelet transfusion" in html
    assert "&lt; 0.5: seed 000 severe; Therapeutic G-CSF" in html
    assert "day 0 (2024-03-01)" in html


def test_no_infusion_no_axis_and_the_page_says_so() -> None:
    record = extract_record([patient(), obs("neutrophils", 0.3, "10*9/L", day=2)], PROFILE, patient_id="p1")
    assessment = evaluate(record, day_date(3), PROFILE)
    html = timeline_page(assessment, build_timeline(assessment, PROFILE))
    assert '<svg class="timeline"' not in html
    assert "No CAR-T infusion is recorded" in html
    assert "no-infusion" in html


def test_data_from_the_record_is_escaped() -> None:
    html = _page(obs("neutrophils", 0.4, "10*9/L", day=2, id="a-b.c"))
    assert "<script" not in html.replace('<script src="/app/static/screen.js" defer></script>', "")
