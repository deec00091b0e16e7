"""The prophylactic G-CSF card (clinical-reference.md §8): advice to *start* G-CSF in a high-risk patient
(CAR-HEMATOTOX ≥ thresholds gcsf_prophylaxis.hematotox_at_least; the points known suffice, more can only add), only
inside its start window (from_day to start_until_day), while no G-CSF was given since day 0, never once a
neutropenia episode has recovered, and not when the therapeutic card applies (a fresh ANC below
gcsf_therapeutic.anc_below). Its rule says what was checked of the ANC. A drug given since infusion that could not be
identified may have been G-CSF: the card then asks to check and offers no order."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from cds_cyto.core.assessment.recommendation import Evidence, Recommendation
from cds_cyto.core.extract.record import LabResult, PatientRecord, TherapyEvent
from cds_cyto.core.grading.interval import below, shown
from cds_cyto.core.recommend.evidence import (
    day_text,
    given_on,
    result_evidence,
    unidentified_evidence,
    unidentified_since,
    value_text,
)
from cds_cyto.core.risk.engine import RiskAssessment
from cds_cyto.core.risk.hematotox import Hematotox

__all__ = ["gcsf_prophylaxis", "score_text"]


def score_text(h: Hematotox) -> str:
    if h.complete:
        return f"{h.score}/{h.max_score}"
    return f"≥ {h.score} (incomplete: {', '.join(h.missing)} missing)"


def _hematotox_evidence(h: Hematotox) -> list[Evidence]:
    window = ""
    if h.window is not None:
        window = f"; baseline window {h.window.first.isoformat()} to {h.window.last.isoformat()} ({h.window.anchor})"
    out = [Evidence("CAR-HEMATOTOX score", f"{score_text(h)} — high risk ≥ {h.high_risk_at_least}{window}")]
    for c in h.components:
        if c.result is not None:
            out.append(
                Evidence(
                    f"CAR-HEMATOTOX {c.name}",
                    f"{shown(c.result, c.unit)} → "
                    + (f"{c.points} point(s)" if c.points is not None else "band unknown (censored value)")
                    + f" [{c.published}]",
                    c.result.time.isoformat(),
                    c.result.source_id,
                )
            )
    if h.caveat:
        out.append(Evidence("CAR-HEMATOTOX caveat", h.caveat))
    return out


def _gcsf_since(record: PatientRecord, day0: date, as_of: date) -> list[TherapyEvent]:
    return [e for e in record.events_of("gcsf") if day0 <= e.start <= as_of]


def _anc_checked(anc: LabResult | None, as_of: date, day0: date, max_age: int, cut: float) -> str | None:
    """What the rule checked of the ANC, as true words; None when the latest ANC is fresh and below the therapeutic
    cut (that card speaks then)."""
    if anc is None:
        return "no ANC since infusion"
    age = (as_of - anc.local_date).days
    if age <= max_age and below(anc, cut):
        return None  # fresh and below the cut, even from before infusion: the therapeutic card speaks, not two cards
    if anc.local_date < day0:
        return "no ANC since infusion"
    where = f"ANC {value_text(anc)} on {day_text((anc.local_date - day0).days)}"
    if age > max_age:
        return f"latest {where} is {age} days old (older than freshness.max_age_days {max_age}): not used"
    low = below(anc, cut)
    if low:
        return None
    if low is None:
        return f"latest {where}: cannot tell whether below {cut:g} (gcsf_therapeutic.anc_below)"
    return f"latest {where} not below {cut:g} (gcsf_therapeutic.anc_below)"


def gcsf_prophylaxis(
    risk: RiskAssessment,
    record: PatientRecord,
    as_of: date,
    day: int | None,
    latest_anc: LabResult | None,
    t: dict[str, Any],
    anc_recovered_day: int | None,
) -> Recommendation | None:
    """Advice to *start* prophylactic G-CSF (clinical-reference.md §8): only inside its start window, while no
    G-CSF has been given and never once a neutropenia episode has recovered."""
    rule = t["gcsf_prophylaxis"]
    h = risk.hematotox
    at_least, from_day = int(rule["hematotox_at_least"]), int(rule["from_day"])
    until = int(rule["start_until_day"])
    if day is None or not from_day <= day <= until or h.score is None or h.score < at_least:
        return None
    if anc_recovered_day is not None:
        return None
    day0 = as_of - timedelta(days=day)
    if _gcsf_since(record, day0 + timedelta(days=risk.data.gcsf_already_from_day), as_of):
        return None
    checked = _anc_checked(
        latest_anc, as_of, day0, int(t["freshness"]["max_age_days"]), float(t["gcsf_therapeutic"]["anc_below"])
    )
    if checked is None:
        return None  # the therapeutic card applies
    dose = str(rule["dose"])
    evidence = _hematotox_evidence(h)
    # A drug given since infusion that could not be identified may have been G-CSF: never say "no G-CSF" then.
    unknown = unidentified_since(record, day0 + timedelta(days=risk.data.gcsf_already_from_day), as_of)
    if unknown:
        evidence += unidentified_evidence(unknown)
    else:
        evidence.append(Evidence("G-CSF since infusion", "none recorded", day0.isoformat()))
    if latest_anc is not None:
        evidence.append(result_evidence("ANC", latest_anc))
    score = str(h.score) if h.complete else f"≥ {h.score}"
    window = f"day +{from_day} to +{until}"
    if unknown:
        latest = unknown[-1]
        text = (
            f"CAR-HEMATOTOX {score_text(h)}: high risk of prolonged neutropenia. The drug of "
            f"{latest.source_id or 'an administration'} {given_on(latest)} could not be identified: check whether "
            f"G-CSF was given before starting prophylactic G-CSF ({dose}); the start window is {window} (EHA/EBMT)."
        )
        summary = f"CAR-HEMATOTOX {score} (high risk), {day_text(day)}: check whether G-CSF was given"
    else:
        text = (
            f"CAR-HEMATOTOX {score_text(h)}: high risk of prolonged neutropenia, and no G-CSF since infusion. "
            f"Consider starting prophylactic G-CSF ({dose}) now, {day_text(day)} (start window {window}, EHA/EBMT)."
        )
        summary = f"CAR-HEMATOTOX {score} (high risk), {day_text(day)}: consider starting prophylactic G-CSF"
    if h.caveat:
        text += " " + h.caveat
    return Recommendation(
        "gcsf-prophylaxis",
        summary,
        text,
        "warning",
        f"CAR-HEMATOTOX ≥ {at_least} (thresholds gcsf_prophylaxis.hematotox_at_least); {day_text(day)} within the "
        f"start window {window} (gcsf_prophylaxis.from_day, start_until_day); no G-CSF since day 0; no recovered "
        f"neutropenia episode; {checked}",
        f"{rule['source']}; {rule['start_until_source']}; {h.citation}",
        tuple(evidence),
        facts={
            "dose": dose,
            "hematotox_score": h.score,
            "hematotox_complete": h.complete,
            "from_day": from_day,
            "unidentified_medication": bool(unknown),
        },
    )
