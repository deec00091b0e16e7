"""Recommendations rendered as CDS Hooks 2.0 cards. No clinical rule lives here: only presentation.

Optional card fields are omitted, never null or empty (CDS Hooks 2.0). `detail` is markdown: every text that
comes from data or from the core (values, ids, reasons, site titles) goes through `md_text` where it enters it;
`summary`, labels and displays are plain text (CDS Hooks) and are not escaped.
"""

from __future__ import annotations

import uuid
from typing import Any

from cds_cyto.cds.card_links import smart_links
from cds_cyto.cds.drafts import draft_for
from cds_cyto.cds.markdown import md_text
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.grading.interval import shown
from cds_cyto.core.profile import Profile
from cds_cyto.core.profile.unit_text import unit_text
from cds_cyto.core.recommend.cytopenia import Recommendation
from cds_cyto.core.recommend.rules import title_of
from cds_cyto.core.risk.site_score import LABEL as SITE_LABEL
from cds_cyto.core.risk.site_score import SiteScore

__all__ = ["TOPIC_SYSTEM", "render_cards"]

TOPIC_SYSTEM = "urn:cds-cyto:recommendation"
OVERRIDE_SYSTEM = "urn:cds-cyto:override-reason"
# The uuids of cards (and of their suggestions) are stable for a patient, a recommendation and a day, so an EHR
# can de-duplicate and feedback can be matched to the card it answers.
_NAMESPACE = uuid.UUID("9f0c6c4e-5d1b-4d7e-9b1e-8a3d2c7f6e10")
_INDICATOR = {"critical": "critical", "warning": "warning", "info": "info"}
OVERRIDE_REASONS = (
    ("already-addressed", "Already addressed"),
    ("not-clinically-indicated", "Not clinically indicated for this patient"),
    ("patient-declined", "Patient declined"),
    ("data-incorrect", "The data shown are incorrect"),
)


def card_uuid(patient_id: str | None, code: str, day: str | None, part: str = "card") -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{patient_id}|{code}|{day}|{part}"))


def _trend(a: Assessment) -> list[str]:
    rows = []
    for name, label in (("neutrophils", "ANC"), ("hemoglobin", "Hb"), ("platelets", "PLT")):
        series = [r for r in a.record.series(name) if a.as_of is None or r.local_date <= a.as_of][-5:]
        if series:
            values = md_text(" → ".join(shown(r) for r in series))  # a censored value with its comparator
            unit = md_text(unit_text(series[-1].unit))  # the record's canonical unit, one per analyte
            rows.append(
                f"- {label} ({unit}), last {len(series)}: {values} ({series[0].local_date} to {series[-1].local_date})"
            )
    return rows


def _detail(rec: Recommendation, a: Assessment) -> str:
    lines = [md_text(rec.text), "", "**Evidence**", ""]
    lines += [
        f"- {md_text(e.label)}: {md_text(e.value)}"
        + (f" ({md_text(e.when)})" if e.when else "")
        + (f" — {md_text(e.source)}" if e.source else "")
        for e in rec.evidence
    ]
    grades = []
    for name, label in (("neutrophils", "ANC"), ("hemoglobin", "Hb"), ("platelets", "PLT")):
        la = a.lineages.get(name)
        if la is not None and la.latest is not None:
            g5 = la.ctcae_text("5.0")  # "≥ 3" for a censored value spanning grades
            grades.append(
                f"- {label}: CTCAE v5 grade {'not gradable' if g5 is None else g5}; "
                f"seed 000 severe: {_yn(la.severe)}; seed 001 grade ≥ 3: {_yn(la.grade3plus)}"
            )
    if grades:
        lines += ["", "**Grades (latest values)**", "", *grades]
    if a.icaht_early is not None and a.icaht_early.grade is not None:
        e = a.icaht_early
        lines += [
            "",
            f"**ICAHT (early)**: grade {e.grade}{' (provisional, a lower bound)' if e.provisional else ''}; "
            f"days ANC ≤ 0.5: {e.counts['days_le_500']}, ≤ 0.1: {e.counts['days_le_100']}",
        ]
    lines += _risk_lines(rec, a)
    trend = _trend(a)
    if trend:
        lines += ["", "**Trend**", "", *trend]
    label = "Published association, not calibrated" if rec.kind == "published-association" else "Rule"
    lines += ["", f"**{label}**: {md_text(rec.rule)}", "", f"**Source**: {md_text(rec.citation)}"]
    return "\n".join(lines)


def _risk_lines(rec: Recommendation, a: Assessment) -> list[str]:
    if a.risk is None:
        return []
    risk = a.risk.to_json()
    h = risk["hematotox"]
    out: list[str] = []
    if h["score"] is not None:
        verdict = {True: "high risk", False: "low risk", None: "risk class not yet known"}[h["high_risk"]]
        known = "" if h["complete"] else f" (incomplete: missing {md_text(', '.join(h['missing']))})"
        out += ["", f"**CAR-HEMATOTOX** (validated baseline score): {h['score']} of 7{known} — {verdict}"]
        if h.get("caveat"):
            out.append(f"_{md_text(h['caveat'])}_")
    if rec.code in ("extended-monitoring", "gcsf-prophylaxis"):
        present = [f for f in risk["published_factors"] if f["present"]]
        if present:
            out += ["", "**Published associations, not calibrated** (factors present in this patient)", ""]
            for f in present:
                e = f["effect"]
                ci = f" (95% CI {f['ci'][0]}–{f['ci'][1]})" if f.get("ci") else ""
                effect = f"{e['measure']} {e['estimate']}{ci}"
                text = f"{f['factor']}: {_as_written(f['value'])} — {effect} for {f['outcome']}; {f['source']}"
                out.append(f"- {md_text(text)}")
        out += _site_model_lines(a.risk.site_score)
    return out


def _site_model_lines(score: SiteScore | None) -> list[str]:
    """The site model's probability, never without its validation figures; or why it is not scored today."""
    if score is None:
        return []
    m = score.model
    if score.probability is None:
        reasons = md_text("; ".join(score.reasons))
        return ["", f"**{SITE_LABEL}** for {md_text(m.outcome_definition)}: not scored — {reasons}"]
    inputs = ", ".join(dict.fromkeys(i.text() for i in score.inputs))
    out = [
        "",
        f"**{SITE_LABEL}**: probability of {md_text(m.outcome_definition)}: **{md_text(score.probability_text())}**",
        "",
        f"- validation: {md_text(score.validation_text())}",
        f"- rests on these inputs only — CRS as recorded by its day +{m.landmark_day} landmark, not today's counts: "
        f"{md_text(inputs)}",
    ]
    out += [f"- caution: {md_text(c)}" for c in score.cautions]
    return out


def _as_written(value: Any) -> str:
    """A factor's value as a clinician writes it: "yes", not "True"; grade "3", not "3.0"."""
    if isinstance(value, bool) or value is None:
        return _yn(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _yn(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def render_card(rec: Recommendation, a: Assessment, public_base_url: str, profile: Profile) -> dict[str, Any]:
    day = a.as_of.isoformat() if a.as_of else None
    card: dict[str, Any] = {
        "uuid": card_uuid(a.patient_id, rec.code, day),
        "summary": _summary(rec.summary),
        "detail": _detail(rec, a),
        "indicator": _INDICATOR[rec.urgency],
        "source": {
            "label": "cds-cyto: cytopenia after CAR-T",
            "url": f"{public_base_url.rstrip('/')}/recommendations/{rec.code}",
            "topic": {"system": TOPIC_SYSTEM, "code": rec.code, "display": title_of(rec.code, profile)},
        },
    }
    draft = draft_for(rec, a, profile)
    if draft is not None:
        label, resource = draft
        card["suggestions"] = [
            {
                "label": label,
                "uuid": card_uuid(a.patient_id, rec.code, day, "suggestion"),
                # The one draft is the card's first choice (CDS Hooks 2.0 `isRecommended`; some clients need it).
                "isRecommended": True,
                "actions": [{"type": "create", "description": label, "resource": resource}],
            }
        ]
        card["selectionBehavior"] = "at-most-one"
    card["links"] = smart_links(public_base_url, a.patient_id, rec.code)  # opens the timeline (issue 17)
    if rec.code != "data-quality":
        card["overrideReasons"] = [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display} for code, display in OVERRIDE_REASONS
        ]
    return card


def _summary(text: str) -> str:
    # CDS Hooks: "<140 characters".
    return text if len(text) < 140 else text[:138] + "…"


def render_cards(a: Assessment, public_base_url: str, profile: Profile) -> list[dict[str, Any]]:
    return [render_card(rec, a, public_base_url, profile) for rec in a.recommendations]
