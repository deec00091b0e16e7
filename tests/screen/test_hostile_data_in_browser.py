"""An attacker's data in the pages: a patient whose record carries markup and `javascript:` URLs in its name, units,
notes, comparator, status, a text value and a resource id, served by a real `cds-cyto serve --demo` and opened in
Debian's chromium. Every string is shown as text (escaped where it enters the page), nothing runs, nothing is
injected; and a patient id that climbs out of its path is refused with a page, never read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Dialog

from tests.screen.browser import browser
from tests.support.fhir import bundle, crs_condition, day_date, infusion, obs, patient
from tests.support.serve import Served, served

MARKUP = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
JS_URL = "javascript:window.__xss=3"


def _hostile_bundle() -> dict[str, object]:
    who = patient(id="p1")
    who["name"] = [{"text": MARKUP, "family": MARKUP}]
    noted = obs("neutrophils", 0.4, "10*9/L", day=4)
    noted["note"] = [{"text": MARKUP}]
    text_value = obs("hemoglobin", 50, "g/L", day=4)
    del text_value["valueQuantity"]
    text_value["valueString"] = MARKUP
    comparator = obs("neutrophils", 0.2, "10*9/L", day=5)
    comparator["valueQuantity"]["comparator"] = MARKUP
    status = obs("platelets", 15, "10*9/L", day=5)
    status["status"] = MARKUP
    return bundle(
        who,
        infusion(0),
        obs("neutrophils", 0.3, MARKUP, day=3, ucum=False),
        obs("platelets", 12, JS_URL, day=4, ucum=False),
        noted,
        text_value,
        comparator,
        status,
        obs("neutrophils", 0.25, "10*9/L", day=5, id='x"><svg onload="window.__xss=4">'),
        crs_condition(3, 2),
        id="p1",
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("hostile")
    cohort = tmp / "cohort"
    cohort.mkdir()
    (cohort / "p1.json").write_text(json.dumps(_hostile_bundle()))
    env = {"CDS_CYTO_DEMO_DIR": str(cohort), "CDS_CYTO_AS_OF": day_date(5).isoformat()}
    with served(tmp, env, "--demo") as server:
        yield server


@pytest.mark.parametrize("path", ["/app/patients/p1", "/app/worklist"])
def test_markup_in_patient_data_is_shown_as_text_and_never_runs(hostile: Served, tmp_path: Path, path: str) -> None:
    with browser(tmp_path / "profile") as context:
        page = context.new_page()
        dialogs: list[str] = []

        def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        response = page.goto(hostile.url + path)
        assert response is not None and response.status == 200
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert page.evaluate("window.__xss === undefined")
        assert dialogs == []
        # nothing the data carried became an element: the only script is the app's, no image, no foreign svg
        assert page.locator("script").count() == 1
        assert page.locator("script").get_attribute("src") == "/app/static/screen.js"
        assert page.locator("img").count() == 0
        assert page.locator("svg[onload]").count() == 0 and page.locator("[onerror]").count() == 0
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert hrefs and all(h.startswith(("/app/", "#")) for h in hrefs)
        if path == "/app/patients/p1":
            text = page.locator("main").inner_text()
            assert MARKUP in text  # the lab's unit and the text value, as written, where a clinician can read them
            assert JS_URL in text


@pytest.mark.parametrize(
    "path",
    [
        "/app/patients/%2E%2E",  # ".." itself is folded by every client library before it is sent
        "/app/patients/%2e",
        "/app/patients/...",
        "/app/patients/p1%00",
        "/app/patients/" + "a" * 65,
    ],
)
def test_a_patient_id_that_climbs_out_of_its_path_is_refused_with_a_page(hostile: Served, path: str) -> None:
    with httpx.Client(timeout=10) as client:
        request = client.build_request("GET", hostile.url)
        request.url = request.url.copy_with(raw_path=path.encode())
        r = client.send(request)
    assert r.status_code == 400, (path, r.status_code)
    assert "a patient id is" in r.text and "Traceback" not in r.text
