"""The timeline and the worklist in a real headless browser (Debian's chromium, tests/screen/browser.py) against a
real `cds-cyto serve --demo`: they render with their data, the filters and acknowledging work, the keyboard reaches
every mark, and both fit 1280×800 and an 800 px tablet. Screenshots go to var/test-artifacts/screen/."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.screen.browser import ARTIFACTS, browser, require_chromium
from tests.support.serve import Served

PATIENT = "syn-all-0038"  # day +9, grade-3 CRS ongoing, on G-CSF, red cells and platelets given (README demo table)


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _labels(page: Page, selector: str) -> list[str]:
    found = page.locator(selector)
    return [found.nth(i).get_attribute("aria-label") or "" for i in range(found.count())]


def test_a_missing_browser_fails_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="is not installed: run `make chromium`"):
        require_chromium(tmp_path / "no-chromium")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (800, 1100)])
def test_the_timeline_renders_the_assessment_of_the_card(demo: Served, tmp_path: Path, width: int, height: int) -> None:
    with browser(tmp_path / "profile", width, height) as context:
        page = context.new_page()
        page.goto(f"{demo.url}/app/patients/{PATIENT}")
        assert page.locator("h1").inner_text() == f"Patient {PATIENT}"
        assert "day +9 · as of 2026-11-20 · infusion 2026-11-11" in page.locator(".sub").inner_text()
        # the values, as the lab wrote them with their unit, time and source
        points = _labels(page, ".pt")
        assert len(points) >= 60
        assert any(p.startswith("ANC 0.36 10*9/L, day +9, 2026-11-20T18:50:00+01:00") for p in points)
        assert all(", source " in p for p in points)
        # thresholds from the profile, events, CRS
        thresholds = _labels(page, ".threshold")
        assert "threshold < 0.5: seed 000 severe; Therapeutic G-CSF" in thresholds
        assert "threshold < 20: seed 000 severe; Platelet transfusion" in thresholds
        events = _labels(page, ".ev")
        for kind in ("G-CSF day +", "Red cells day +8", "Platelets day +5", "Tocilizumab day +", "Corticosteroid"):
            assert any(e.startswith(kind) for e in events), kind
        assert any(e.startswith("CRS grade 3, day +4 to ongoing") for e in events)
        # the same recommendations as the hook's cards, with their evidence
        cards = httpx.post(
            f"{demo.url}/cds-services/cyto-patient-view",
            json={
                "hook": "patient-view",
                "hookInstance": "6f1c2a4e-1d2b-4c1a-9a55-0d4d3b1e2f10",
                "context": {"userId": "Practitioner/demo", "patientId": PATIENT},
            },
            timeout=30,
        ).json()["cards"]
        shown = page.locator("article.rec")
        assert [shown.nth(i).get_attribute("data-code") for i in range(shown.count())] == [
            c["source"]["topic"]["code"] for c in cards
        ]
        for i, card in enumerate(cards):
            assert card["summary"] in shown.nth(i).inner_text()
        assert "Observation/syn-all-0038-obs-341" in shown.first.inner_text()
        # the scores
        scores = page.locator("#scores").locator("..").inner_text()
        assert "ICAHT early\t1\tdays ANC ≤ 0.5: 5; days ANC ≤ 0.1: 0\tprovisional" in scores
        assert "CAR-HEMATOTOX: 3 of 7 (high risk" in scores
        assert "ferritin" in scores
        # results not used, each with its data problem
        assert "status-excluded" in page.locator("table.problems").inner_text()
        # fits the width: nothing scrolls sideways
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        _shot(page, f"timeline-{width}.png")


def test_the_keyboard_reaches_the_marks_and_reads_them(demo: Served, tmp_path: Path) -> None:
    with browser(tmp_path / "profile") as context:
        page = context.new_page()
        page.goto(f"{demo.url}/app/patients/{PATIENT}")
        for _ in range(40):  # skip link, nav, the recommendations' and tables' links: then the first mark
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('pt')"):
                break
        first = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert first.startswith("ANC ")
        assert page.locator("#detail").inner_text() == first
        page.keyboard.press("ArrowRight")
        second = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert second != first and second.startswith("ANC ")
        assert page.locator("#detail").inner_text() == second


def _rows(page: Page) -> list[str]:
    rows = page.locator("table.worklist tbody tr")
    return [rows.nth(i).get_attribute("data-patient") or "" for i in range(rows.count())]


def test_the_worklist_filters_and_acknowledges(demo: Served, tmp_path: Path) -> None:
    with browser(tmp_path / "profile") as context:
        page = context.new_page()
        page.goto(f"{demo.url}/app/worklist")
        assert "Changes since sweep 1 (as of 2026-11-20)" in page.locator(".sub").inner_text()
        assert _rows(page) == ["syn-all-0038", "syn-nhl-0035", "syn-all-0036"]  # the worklist's own order
        _shot(page, "worklist-1280.png")

        page.select_option("#f-urgency", "warning")
        page.click("button[type=submit]:has-text('Apply')")
        assert _rows(page) == ["syn-all-0038", "syn-nhl-0035", "syn-all-0036"]
        assert page.locator("li.alert").count() == 5  # only the warnings of those patients (5 of the demo's alerts)
        page.goto(f"{demo.url}/app/worklist")
        page.select_option("#f-recommendation", "gcsf-therapeutic")
        page.fill("#f-day_from", "9")
        page.fill("#f-day_to", "20")
        page.click("button[type=submit]:has-text('Apply')")
        assert _rows(page) == ["syn-all-0038"]
        assert "recommendation=gcsf-therapeutic" in page.url

        # acknowledge: who and when, kept with the filters, and the same alert acknowledged in the worklist API
        page.click("li.alert >> button:has-text('Acknowledge')")
        page.wait_for_load_state()
        assert page.url.endswith("/app/worklist?recommendation=gcsf-therapeutic&day_from=9&day_to=20")
        acked = page.locator("li.alert .acked").inner_text()
        assert acked.startswith("Acknowledged by anonymous at 20")
        assert acked.endswith(" UTC")
        alert_id = page.locator("li.alert").get_attribute("data-alert")
        api = httpx.get(f"{demo.url}/worklist/patients/syn-all-0038", timeout=10).json()
        assert {a["id"]: a["state"] for a in api["alerts"]}[alert_id] == "acknowledged"

        page.goto(f"{demo.url}/app/worklist?acknowledged=yes")
        assert _rows(page) == ["syn-all-0038"]
        page.goto(f"{demo.url}/app/worklist?acknowledged=no")
        assert "syn-all-0038" in _rows(page)  # its other alert is not acknowledged yet
        assert alert_id not in [
            page.locator("li.alert").nth(i).get_attribute("data-alert") for i in range(page.locator("li.alert").count())
        ]

        # each row links to the timeline
        page.goto(f"{demo.url}/app/worklist")
        page.click("a:has-text('syn-nhl-0035')")
        assert page.url == f"{demo.url}/app/patients/syn-nhl-0035"
        assert page.locator("h1").inner_text() == "Patient syn-nhl-0035"


def test_the_worklist_fits_a_tablet(demo: Served, tmp_path: Path) -> None:
    with browser(tmp_path / "profile", 800, 1000) as context:
        page = context.new_page()
        page.goto(f"{demo.url}/app/worklist")
        assert page.evaluate("document.documentElement.scrollWidth") <= 800
        _shot(page, "worklist-800.png")


def test_bad_input_gets_a_clear_page_never_a_500(demo: Served) -> None:
    r = httpx.get(f"{demo.url}/app/worklist", params={"urgency": "<script>x</script>"}, timeout=10)
    assert r.status_code == 400
    assert "&#x27;urgency&#x27; must be one of" in r.text and "<script>x" not in r.text
    r = httpx.get(f"{demo.url}/app/patients/no-such-patient", timeout=10)
    assert r.status_code == 404 and "no such patient" in r.text
    r = httpx.get(f"{demo.url}/app/patients/a%20b", timeout=10)
    assert r.status_code == 400
    r = httpx.post(f"{demo.url}/app/worklist/alerts/nope/acknowledge", data={"back": "/app/worklist"}, timeout=10)
    assert r.status_code == 404
    r = httpx.post(
        f"{demo.url}/app/worklist/alerts/nope/acknowledge",
        data={"back": "https://evil.example/"},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert r.status_code == 403
    assert "no-store" in httpx.get(f"{demo.url}/app/worklist", timeout=10).headers["cache-control"]
