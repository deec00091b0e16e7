"""The worklist page: the sweep's worklist as built by `sweep.worklist.build_worklist` (its order kept), narrowed by
the filters in the query string, each alert with its acknowledgement (who, when) or a button to acknowledge it.

Filters are a plain GET form and acknowledging a plain POST form, so the page works without its script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlencode

from cds_cyto.screen.pages import URGENCY_WORDS, frame
from cds_cyto.sweep.worklist import Worklist, WorklistAlert, WorklistRow

__all__ = ["FilterError", "Filters", "parse_filters", "worklist_page"]

URGENCIES = ("critical", "warning", "info")
ACK_CHOICES = ("any", "yes", "no")
PARAMS = ("recommendation", "urgency", "day_from", "day_to", "acknowledged")


class FilterError(ValueError):
    """A query value the page does not take; the message names the parameter, never the value."""


@dataclass(frozen=True, slots=True)
class Filters:
    recommendation: str | None = None
    urgency: str | None = None
    day_from: int | None = None
    day_to: int | None = None
    acknowledged: str = "any"

    @property
    def on_alerts(self) -> bool:
        return self.recommendation is not None or self.urgency is not None or self.acknowledged != "any"

    def query(self) -> str:
        pairs = {
            "recommendation": self.recommendation,
            "urgency": self.urgency,
            "day_from": self.day_from,
            "day_to": self.day_to,
            "acknowledged": None if self.acknowledged == "any" else self.acknowledged,
        }
        return urlencode({k: v for k, v in pairs.items() if v is not None})

    def keeps(self, a: WorklistAlert) -> bool:
        if self.recommendation is not None and a.code != self.recommendation:
            return False
        if self.urgency is not None and a.urgency != self.urgency:
            return False
        if self.acknowledged == "yes":
            return a.state == "acknowledged"
        if self.acknowledged == "no":
            return a.state == "new"
        return True

    def keeps_day(self, day: int | None) -> bool:
        if self.day_from is None and self.day_to is None:
            return True
        if day is None:
            return False
        return (self.day_from is None or day >= self.day_from) and (self.day_to is None or day <= self.day_to)


def _int(name: str, raw: str) -> int | None:
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise FilterError(f"'{name}' must be a whole number of days") from None
    if not -1000 <= value <= 10000:
        raise FilterError(f"'{name}' must be between -1000 and 10000")
    return value


def parse_filters(query: Mapping[str, Sequence[str]], codes: Sequence[str]) -> Filters:
    unknown = sorted(set(query) - set(PARAMS))
    if unknown:
        raise FilterError("unknown query parameter: this page takes only " + ", ".join(PARAMS))
    one: dict[str, str] = {}
    for name, values in query.items():
        if len(values) > 1:
            raise FilterError(f"'{name}' may be given once")
        one[name] = values[0].strip()
    rec = one.get("recommendation") or None
    if rec is not None and rec not in codes:
        raise FilterError("'recommendation' must be one of: " + ", ".join(codes))
    urgency = one.get("urgency") or None
    if urgency is not None and urgency not in URGENCIES:
        raise FilterError("'urgency' must be one of: " + ", ".join(URGENCIES))
    ack = one.get("acknowledged") or "any"
    if ack not in ACK_CHOICES:
        raise FilterError("'acknowledged' must be one of: " + ", ".join(ACK_CHOICES))
    return Filters(rec, urgency, _int("day_from", one.get("day_from", "")), _int("day_to", one.get("day_to", "")), ack)


def _select(name: str, label: str, options: Sequence[tuple[str, str]], chosen: str | None) -> str:
    opts = "".join(
        f'<option value="{escape(v)}"{" selected" if v == (chosen or "") else ""}>{escape(text)}</option>'
        for v, text in options
    )
    return f'<label>{escape(label)} <select name="{name}" id="f-{name}">{opts}</select></label>'


def _filter_form(f: Filters, codes: Sequence[tuple[str, str]]) -> str:
    day_from = "" if f.day_from is None else str(f.day_from)
    day_to = "" if f.day_to is None else str(f.day_to)
    return (
        '<form class="filters" method="get" action="/app/worklist" aria-label="Filters">'
        + _select("recommendation", "Recommendation", [("", "any"), *codes], f.recommendation)
        + _select("urgency", "Urgency", [("", "any"), *((u, URGENCY_WORDS[u]) for u in URGENCIES)], f.urgency)
        + f'<label>Day from <input name="day_from" id="f-day_from" type="number" inputmode="numeric" value="{day_from}"'
        ' size="5"></label>'
        + f'<label>to <input name="day_to" id="f-day_to" type="number" inputmode="numeric" value="{day_to}" size="5">'
        "</label>"
        + _select("acknowledged", "Acknowledged", [("any", "any"), ("yes", "yes"), ("no", "not yet")], f.acknowledged)
        + '<button type="submit">Apply</button> <a href="/app/worklist">Clear</a></form>'
    )


def _when(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def _alert(a: WorklistAlert, acked_at: Mapping[str, datetime | None], back: str) -> str:
    word = URGENCY_WORDS.get(a.urgency, a.urgency)
    if a.state == "acknowledged":
        ack = (
            f'<span class="acked">Acknowledged by {escape(a.acknowledged_by or "unknown")}'
            f" at {escape(_when(acked_at.get(a.id)))}</span>"
        )
    elif a.state == "new":
        ack = (
            f'<form class="ack" method="post" action="/app/worklist/alerts/{escape(a.id)}/acknowledge">'
            f'<input type="hidden" name="back" value="{escape(back)}">'
            f'<button type="submit" aria-label="Acknowledge {escape(a.code)} alert">Acknowledge</button></form>'
        )
    else:
        ack = f'<span class="resolved">{escape(a.state)}</span>'
    change = a.change + (f" (was {a.previous_urgency})" if a.previous_urgency and a.change != "new" else "")
    return (
        f'<li class="alert urgency-{escape(a.urgency)}" data-alert="{escape(a.id)}" data-state="{escape(a.state)}">'
        f'<span class="badge">{escape(word)}</span> <strong>{escape(a.code)}</strong> '
        f'<span class="change">[{escape(change)}]</span> {escape(a.summary)} {ack}</li>'
    )


def _row(r: WorklistRow, alerts: list[WorklistAlert], acked_at: Mapping[str, datetime | None], back: str) -> str:
    urgency = URGENCY_WORDS.get(r.urgency, r.urgency) if r.urgency else "changes only"
    day = "–" if r.day is None else f"{r.day:+d}"
    grades = "; ".join(f"{k} {v[0]} → {v[1]}" for k, v in r.grade_changes.items()) or "–"
    items = "".join(_alert(a, acked_at, back) for a in alerts) or "<li>no open alert</li>"
    return (
        f'<tr data-patient="{escape(r.patient_id)}"><td>{escape(urgency)}</td><td>{escape(day)}</td>'
        f'<th scope="row"><a href="/app/patients/{escape(r.patient_id)}">{escape(r.patient_id)}</a></th>'
        f'<td><ul class="alerts">{items}</ul></td><td>{escape(grades)}</td></tr>'
    )


def worklist_page(
    w: Worklist,
    f: Filters,
    codes: Sequence[tuple[str, str]],
    acked_at: Mapping[str, datetime | None],
    *,
    signed_in: bool = False,
) -> str:
    run = w.since_run
    if run is None:
        head = "<p>No completed sweep yet.</p>"
    else:
        head = (
            f'<p class="sub">Changes since sweep {run.id} (as of {escape(run.as_of.isoformat())}): '
            f"{run.cohort_size} patients in the cohort, {run.evaluated} assessed, {run.alerts_opened} alerts opened,"
            f" {run.alerts_resolved} resolved.</p>"
        )
    back = "/app/worklist" + (f"?{f.query()}" if f.query() else "")
    rows = []
    for r in w.rows:
        if not f.keeps_day(r.day):
            continue
        alerts = [a for a in r.alerts if f.keeps(a)]
        if f.on_alerts and not alerts:
            continue
        rows.append(_row(r, alerts, acked_at, back))
    table = (
        '<table class="worklist"><caption>Patients, most urgent first '
        f'({len(rows)} shown of {len(w.rows)})</caption><thead><tr><th scope="col">Urgency</th>'
        '<th scope="col">Day</th><th scope="col">Patient</th><th scope="col">Alerts (what changed)</th>'
        '<th scope="col">Grade changes</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        if rows
        else '<p class="empty">Nothing to review with these filters.</p>'
    )
    failed = ""
    if w.failed:
        items = "".join(
            f"<li>{escape(x.patient_id)}: {escape(x.reason or 'unknown')} (failed {x.failures}×)</li>" for x in w.failed
        )
        failed = (
            '<section aria-labelledby="failed"><h2 id="failed">Not assessed by the last sweeps</h2>'
            f"<ul>{items}</ul></section>"
        )
    body = "<h1>Worklist</h1>" + head + _filter_form(f, codes) + table + failed
    return frame("Worklist", body, signed_in=signed_in)
