"""HTML of the screen's pages: the shared frame and the patient timeline. Everything from data is escaped here."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.grading.icaht import EarlyGrade, LateGrade
from cds_cyto.core.profile.unit_text import unit_text
from cds_cyto.screen.chart import timeline_svg
from cds_cyto.screen.timeline import Timeline

__all__ = ["error_page", "frame", "signed_out_page", "timeline_page"]

URGENCY_WORDS = {"critical": "Critical", "warning": "Warning", "info": "Information"}
EVIDENCE_SHOWN = 3  # the first evidence items of a recommendation (its count, then its reasons); the rest fold


SIGN_OUT = '<form class="signout" method="post" action="/app/logout"><button type="submit">Sign out</button></form>'


def frame(title: str, body: str, *, script: bool = True, signed_in: bool = False) -> str:
    js = '<script src="/app/static/screen.js" defer></script>' if script else ""
    out = SIGN_OUT if signed_in else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} — cds-cyto</title>"
        f'<link rel="stylesheet" href="/app/static/screen.css">{js}</head>'
        '<body><a class="skip" href="#main">Skip to content</a>'
        '<header class="top"><span class="brand">cds-cyto</span>'
        '<nav aria-label="Screens"><a href="/app/worklist">Worklist</a></nav>'
        f"{out}</header>"
        f'<main id="main" tabindex="-1">{body}</main>'
        '<footer class="foot">Decision support: it shows its reasons; the treating team decides.</footer>'
        "</body></html>"
    )


def error_page(status: int, message: str) -> str:
    return frame(f"Error {status}", f'<h1>Cannot show this page</h1><p class="error">{escape(message)}</p>')


def signed_out_page() -> str:
    body = "<h1>Signed out</h1><p>The sign-in has ended. Open the app again from the EHR to see a patient.</p>"
    return frame("Signed out", body, script=False)


def _breakable(source: str) -> str:
    """A resource id that may wrap after its "/" (a narrow column breaks it there, not mid-word)."""
    return "/<wbr>".join(escape(part) for part in source.split("/"))


def _day(day: int | None) -> str:
    return "–" if day is None else (f"day {day:+d}" if day else "day 0")


def _rows(rows: Iterable[Iterable[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)


def _table(caption: str, head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    th = "".join(f'<th scope="col">{escape(h)}</th>' for h in head)
    return (
        f'<table class="{cls}"><caption>{escape(caption)}</caption><thead><tr>{th}</tr></thead>'
        f"<tbody>{_rows(rows)}</tbody></table>"
    )


def _recommendations(a: Assessment) -> str:
    if not a.recommendations:
        return '<section aria-labelledby="recs"><h2 id="recs">Open recommendations</h2><p>None today.</p></section>'
    items = []
    for r in a.recommendations:
        lines = [
            f'<li>{escape(e.label)}: <span class="value">{escape(e.value)}</span>'
            + (f" ({escape(e.when)})" if e.when else "")
            + (f" — <code>{_breakable(e.source)}</code>" if e.source else "")
            + "</li>"
            for e in r.evidence
        ]
        evidence = "".join(lines[:EVIDENCE_SHOWN])
        if len(lines) > EVIDENCE_SHOWN:  # nine G-CSF doses must not push the next recommendation off the screen
            more = "".join(lines[EVIDENCE_SHOWN:])
            evidence += f'<li class="more"><details><summary>{len(lines) - EVIDENCE_SHOWN} more</summary>'
            evidence += f"<ul>{more}</ul></details></li>"
        word = URGENCY_WORDS.get(r.urgency, r.urgency)
        items.append(
            f'<article class="rec urgency-{escape(r.urgency)}" id="rec-{escape(r.code)}" data-code="{escape(r.code)}">'
            f'<h3><span class="badge">{escape(word)}</span> {escape(r.summary)}</h3>'
            f"<p>{escape(r.text)}</p><h4>Evidence</h4><ul>{evidence}</ul>"
            f'<p class="rule"><strong>Rule:</strong> {escape(r.rule)}</p>'
            f'<p class="cite"><strong>Source:</strong> {escape(r.citation)}</p></article>'
        )
    return f'<section aria-labelledby="recs"><h2 id="recs">Open recommendations</h2>{"".join(items)}</section>'


def _early(name: str, g: EarlyGrade | None, keys: dict[str, str]) -> list[str]:
    if g is None:
        return [name + " early", "–", "cannot be told yet", ""]
    counts = "; ".join(f"{label}: {g.counts.get(k, '–')}" for k, label in keys.items())
    return [name + " early", "–" if g.grade is None else str(g.grade), counts, "provisional" if g.provisional else ""]


def _late(name: str, g: LateGrade | None) -> list[str]:
    if g is None:
        return [name + " late", "–", "", "provisional"]
    return [name + " late", "–" if g.grade is None else str(g.grade), "", "provisional" if g.provisional else ""]


def _icaht(a: Assessment) -> str:
    rows = [
        _early("ICAHT", a.icaht_early, {"days_le_500": "days ANC ≤ 0.5", "days_le_100": "days ANC ≤ 0.1"}),
        _late("ICAHT", a.icaht_late),
        _early("T-ICAHT", a.t_icaht_early, {"days_lt_50": "days PLT < 50", "days_lt_20": "days PLT < 20"}),
        _late("T-ICAHT", a.t_icaht_late),
    ]
    return _table("ICAHT and T-ICAHT", ["grade", "value", "day counts", "status"], [map(escape, r) for r in rows])


def _hematotox(a: Assessment) -> str:
    if a.risk is None:
        return ""
    h = a.risk.hematotox
    if h.score is None:
        head = "CAR-HEMATOTOX: score incomplete"
    else:
        risk = {True: "high risk", False: "low risk", None: "risk not yet known"}[h.high_risk]
        head = f"CAR-HEMATOTOX: {h.score} of {h.max_score} ({risk}, high at ≥ {h.high_risk_at_least})"
    rows = []
    for c in h.components:
        r = c.result
        value = "missing" if r is None else f"{r.censored or ''}{r.original_value:g} {r.original_unit or ''}".strip()
        rows.append(
            [
                escape(c.name.upper() if len(c.name) <= 3 else c.name.capitalize()),  # ANC, CRP; Ferritin
                escape(value),
                "–" if c.points is None else str(c.points),
                escape(c.published),
                "" if r is None else escape(r.local_date.isoformat()),
                "" if r is None or r.source_id is None else f"<code>{_breakable(r.source_id)}</code>",
            ]
        )
    notes = f'<p class="note">{escape(h.caveat)}</p>' if h.caveat else ""
    notes += f'<p class="note">Validated baseline score. {escape(h.performance)}</p>'
    if h.missing:
        notes += f'<p class="note">Missing: {escape(", ".join(h.missing))}</p>'
    table = _table(head, ["component", "value", "points", "published bands", "date", "source"], rows, "hematotox")
    return table + notes


def _crs(a: Assessment) -> str:
    if a.risk is None:
        return ""
    c = a.risk.crs
    grade = "unknown" if c.max_grade is None else str(c.max_grade)
    rows = [
        ["maximum grade", escape(grade)],
        ["onset", escape(_day(c.onset_day))],
        ["peak", escape(_day(c.peak_day))],
        ["recovery", escape("ongoing" if c.ongoing else _day(c.recovery_day))],
        ["tocilizumab given", "yes" if c.tocilizumab else "no"],
        ["corticosteroid given", "yes" if c.corticosteroid else "no"],
        ["read from", escape(c.source)],
    ]
    return _table("CRS", ["", ""], rows, "crs-table")


def _problems(a: Assessment) -> str:
    rows = [
        [
            escape(p.severity),
            f"<code>{escape(p.resource)}</code>",
            escape(p.code),
            escape(p.reason),
            escape(p.when.isoformat() if p.when else "–"),
        ]
        for p in a.data_problems
    ]
    if not rows:
        return '<section aria-labelledby="unused"><h2 id="unused">Results not used</h2><p>None.</p></section>'
    return (
        '<section aria-labelledby="unused"><h2 id="unused">Results not used</h2>'
        "<p>Never graded, never on the chart: each with the reason.</p>"
        + _table("Data problems", ["severity", "resource", "problem", "why", "date"], rows, "problems")
        + "</section>"
    )


def _results_tables(t: Timeline) -> str:
    parts = []
    for lin in t.lineages:
        rows = [
            [
                escape(_day(p.day)),
                f'<span class="value">{escape(p.shown)}</span>' + (" (censored)" if p.censored else ""),
                escape(f"{p.value:g} {unit_text(p.unit)}") + (" (derived)" if p.derived else ""),
                escape(p.time),
                "" if p.source is None else f"<code>{escape(p.source)}</code>",
            ]
            for p in lin.points
        ]
        th = "; ".join(f"< {x.value:g} ({x.label.split(': ', 1)[1]})" for x in lin.thresholds)
        parts.append(
            f"<details><summary>{escape(lin.label)}: {len(rows)} results — thresholds {escape(th)}</summary>"
            + _table(f"{lin.label} results", ["day", "as written", "graded as", "time", "source"], rows, "results")
            + "</details>"
        )
    return "".join(parts)


LEGEND = (
    '<ul class="legend" aria-label="How to read the chart">'
    '<li><svg viewBox="0 0 14 14" aria-hidden="true"><circle class="mark" cx="7" cy="7" r="4.5"/></svg> a result</li>'
    '<li><svg viewBox="0 0 14 14" aria-hidden="true"><path class="mark censored" d="M1,2 L13,2 L7,13 Z"/></svg>'
    " censored (“&lt;”: at most this value)</li>"
    '<li><svg viewBox="0 0 14 14" aria-hidden="true"><rect class="mark derived" x="3" y="3" width="8" height="8"/>'
    "</svg> derived ANC</li>"
    "<li>dashed line: a threshold, its number and rules written on it</li>"
    "<li>solid vertical line: day 0; dotted: as of</li><li>hatched band: CRS</li>"
    "<li>letters: G G-CSF, R red cells, P platelets, B other product, T tocilizumab, S corticosteroid</li></ul>"
)


def timeline_page(a: Assessment, t: Timeline, *, signed_in: bool = False) -> str:
    infusion = f"infusion {t.day0.isoformat()}" if t.day0 else "no CAR-T infusion recorded"
    as_of = a.as_of.isoformat() if a.as_of else "–"
    head = (
        f'<h1>Patient <span class="pid">{escape(t.patient_id)}</span></h1>'
        f'<p class="sub">{escape(_day(t.day))} · as of {escape(as_of)} · {escape(infusion)}</p>'
    )
    if a.recommendations:  # above the chart: what is advised, in one line each, linked to its evidence below
        items = "".join(
            f'<li class="urgency-{escape(r.urgency)}">'
            f'<span class="badge">{escape(URGENCY_WORDS.get(r.urgency, r.urgency))}</span> '
            f'<a href="#rec-{escape(r.code)}">{escape(r.summary)}</a></li>'
            for r in a.recommendations
        )
        head += f'<ul class="open-recs" aria-label="Open recommendations">{items}</ul>'
    chart = timeline_svg(t)
    figure = (
        '<section aria-labelledby="chart-h"><h2 id="chart-h">Blood counts by day from infusion</h2>'
        '<p class="hint">Tab to a point (arrow keys move along a series) or hover it to read it.</p>'
        f'<figure class="chart">{chart}<figcaption id="detail" aria-live="polite">No point selected.</figcaption>'
        f"</figure>{LEGEND}{_results_tables(t)}</section>"
        if chart
        else "<p>No CAR-T infusion is recorded: there is no day axis to draw.</p>"
    )
    side = f'<section aria-labelledby="scores"><h2 id="scores">Scores</h2>{_icaht(a)}{_hematotox(a)}{_crs(a)}</section>'
    # the counts first: what a clinician looks at before reading; then the advice and the scores beside it
    body = head + figure + f'<div class="cols"><div class="main-col">{_recommendations(a)}</div>'
    body += f'<div class="side-col">{side}</div></div>' + _problems(a)
    return frame(f"Patient {t.patient_id}", body, signed_in=signed_in)
