"""Every card of the demo cohort read as a GFM client (the CDS Hooks sandbox) renders it: each evidence value and
unit appears as written, with no emphasis, link or HTML made of it, and no UCUM code reaches the clinician.

Over the real service (`cds-cyto serve --demo`, HTTP) at the cohort's data cut, and through the service's own card
function on days across the follow-up of every patient, so that every rule code that fires in the cohort is read,
whichever codes the rules table holds.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient

from cds_cyto.cds.cards import render_cards
from cds_cyto.cli.evaluate import read_file
from cds_cyto.core.assessment.recommendation import Recommendation
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_records
from cds_cyto.core.extract.record import PatientRecord
from cds_cyto.core.profile import default_profile
from tests.cds.scenario import count, cytopenic_patient, hook_request, prefetch_for
from tests.support.gfm import FORMATTING, inline_runs, read_text, render_html
from tests.support.serve import served

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "fixtures" / "cohort"
DATA_CUT = date(2026, 11, 20)
SERVICE = "/cds-services/cyto-patient-view"
FOLLOW_UP_DAYS = (1, 3, 5, 7, 9, 12, 15, 18, 21, 25, 28, 32, 40, 60, 90)


def _ucum_leaks() -> list[str]:
    """The UCUM codes a clinician must never read: those whose display is not the code itself."""
    units = tomllib.loads((ROOT / "cds_cyto/core/profile/data/units.toml").read_text(encoding="utf-8"))
    return [code for code, shown in units["display"].items() if shown != code]


LEAKS = _ucum_leaks()


def _plain(text: str) -> str:
    return re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()


def _html_text(text: str) -> str:
    """`text` as markdown-it writes it into HTML: contiguous in the page means no tag inside it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _records() -> list[PatientRecord]:
    profile = default_profile()
    return [r for f in sorted(COHORT.glob("syn-*.json")) for r in extract_records(read_file(f), profile)]


def check_card(card: dict[str, Any], rec: Recommendation) -> None:
    detail, summary = card["detail"], card["summary"]
    runs = inline_runs(detail)
    html = render_html(detail)
    assert runs[0][0] == _plain(rec.text), "the card's text reads as the recommendation's"
    assert not {t.type for t in runs[0][1]} & FORMATTING, runs[0][0]
    for e in rec.evidence:
        item = f"{_plain(e.label)}: {_plain(e.value)}".rstrip()  # an empty value leaves no trailing space
        found = [(text, tokens) for text, tokens in runs if text.startswith(item)]
        assert found, f"{item!r} is not in the rendered card {rec.code}"
        for text, tokens in found:
            assert not {t.type for t in tokens} & FORMATTING, (text, [t.type for t in tokens])
        assert _html_text(_plain(e.value)) in html, f"markup inside {e.value!r}"
        if e.source:
            assert _html_text(e.source) in html
    read = read_text(detail)
    for code in LEAKS:
        assert code not in summary, (code, summary)
        assert code not in read, (code, [line for line in read.splitlines() if code in line])
    suggestions = card.get("suggestions", [])
    assert all(isinstance(s["isRecommended"], bool) for s in suggestions)
    if suggestions:
        assert [s["isRecommended"] for s in suggestions].count(True) == 1, "one first choice per card"


def _by_code(a: Assessment) -> dict[str, Recommendation]:
    return {r.code: r for r in a.recommendations}


def test_every_card_of_the_cohort_across_follow_up_renders_its_evidence_as_written() -> None:
    profile = default_profile()
    seen: dict[str, int] = {}
    for record in _records():
        infusion = evaluate(record, None, profile).infusion_date
        days = [None] if infusion is None else [None, *(infusion + timedelta(days=d) for d in FOLLOW_UP_DAYS)]
        for as_of in days:
            a = evaluate(record, as_of, profile)
            recs = _by_code(a)
            for card in render_cards(a, "http://127.0.0.1", profile):
                code = card["source"]["topic"]["code"]
                check_card(card, recs[code])
                seen[code] = seen.get(code, 0) + 1
    # the cohort fires the treatment, monitoring and data cards: all are read
    assert {"gcsf-therapeutic", "extended-monitoring", "data-quality", "rbc-transfusion"} <= set(seen), seen
    assert sum(seen.values()) > 100, seen


def test_every_card_the_demo_service_answers_renders_its_evidence_as_written(tmp_path: Path) -> None:
    profile = default_profile()
    expected = {r.patient_id: _by_code(evaluate(r, DATA_CUT, profile)) for r in _records()}
    cards = 0
    with (
        served(tmp_path, {"CDS_CYTO_AS_OF": DATA_CUT.isoformat()}, "--demo") as server,
        httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client,
    ):
        for pid, recs in expected.items():
            assert pid is not None
            body = orjson.dumps(hook_request(pid))
            r = client.post(SERVICE, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 200, r.text
            answered = r.json()["cards"]
            assert sorted(c["source"]["topic"]["code"] for c in answered) == sorted(recs), pid
            for card in answered:
                check_card(card, recs[card["source"]["topic"]["code"]])
            cards += len(answered)
    assert cards >= 4  # the data cut's cards (README: the demo cohort at its data cut)


def test_a_lab_unit_full_of_markdown_reads_on_the_card_as_the_lab_wrote_it(client: TestClient) -> None:
    # an unknown unit is quoted, as written, in the data-quality reason: it must not become emphasis, code or HTML
    unit = "*10^9*/_L_ `x` <b>|</b> [k](y) &amp;"
    resources = cytopenic_patient(anc=2.0, hb=100.0, plt=150.0)
    odd = count("pt-1", "neutrophils", 6, 1.5, n=1)
    odd["valueQuantity"] = {"value": 1.5, "unit": unit}
    resources.append(odd)
    body = orjson.dumps(hook_request(prefetch=prefetch_for(resources)))
    r = client.post(SERVICE, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    (card,) = [c for c in r.json()["cards"] if c["source"]["topic"]["code"] == "data-quality"]
    runs = [(text, tokens) for text, tokens in inline_runs(card["detail"]) if repr(unit) in text]
    assert runs, read_text(card["detail"])
    for text, tokens in runs:
        assert not {t.type for t in tokens} & FORMATTING, (text, [t.type for t in tokens])


def test_published_factors_read_as_a_clinician_writes_them() -> None:
    """syn-all-0038's extended-monitoring card lists its CRS factors: "yes" and grade "3", never Python's "True" or
    "3.0" (found by an attack on issue 14)."""
    profile = default_profile()
    path = Path(__file__).resolve().parents[2] / "fixtures" / "cohort" / "syn-all-0038.json"
    (record,) = extract_records(read_file(path), profile)
    assessment = evaluate(record, date(2026, 11, 20), profile)
    details = "\n".join(c["detail"] for c in render_cards(assessment, "http://127.0.0.1:8000", profile))
    assert "Published associations" in details
    assert not re.search(r": (True|False|None)\b|grade \(ASTCT\): \d\.0\b", details), details
