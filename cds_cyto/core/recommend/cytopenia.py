"""Recommendations from an Assessment: what to do, with the evidence, the rule that fired and its citation.

Pure: the thresholds come from the profile (thresholds.toml, site-configurable), the date from the Assessment.
The CDS service renders each recommendation as one card; sweeps store them as alerts. The rules every card follows
(clinical-reference.md §8): treatment advice rests on a fresh result; what was already done (a transfusion after
the count, a G-CSF course) turns a prompt into information; the G-CSF cards show active CRS.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from cds_cyto.core.assessment.recommendation import Evidence, Recommendation, Urgency
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.extract.record import LabResult, TherapyEvent
from cds_cyto.core.grading.interval import below, shown
from cds_cyto.core.profile import Profile
from cds_cyto.core.recommend.context import (
    active_crs_text,
    escalation,
    gcsf_course,
    transfusion_given,
    transfusion_text,
)
from cds_cyto.core.recommend.data_quality import data_quality
from cds_cyto.core.recommend.evidence import (
    age_text,
    code_text,
    day_text,
    fresh,
    given_on,
    result_evidence,
    unidentified_evidence,
    unidentified_since,
)
from cds_cyto.core.recommend.followup import counts_overdue, prolonged_cytopenia
from cds_cyto.core.recommend.monitoring import extended_monitoring
from cds_cyto.core.recommend.risk_based import antibacterial_prophylaxis, risk_recommendations

__all__ = ["Evidence", "Recommendation", "recommend"]


def _day(a: Assessment, r: LabResult) -> str:
    """The day the value was sampled (not the day of the assessment): a day +39 count reads "day +39" on day +40."""
    if a.infusion_date is None:
        return r.local_date.isoformat()
    return day_text((r.local_date - a.infusion_date).days)


def _crs_context(a: Assessment) -> tuple[str, tuple[Evidence, ...]]:
    """The sentence and evidence of active CRS for a G-CSF card (empty when CRS is not active)."""
    crs = active_crs_text(a)
    if crs is None or a.risk is None:
        return "", ()
    where = a.risk.crs.source_ids[0] if a.risk.crs.source_ids else None
    onset = a.risk.crs.date_of(a.risk.crs.onset_day)
    return (
        f" {crs[0].upper()}{crs[1:]}: weigh G-CSF during CRS per protocol.",
        (Evidence("Active CRS", crs, None if onset is None else onset.isoformat(), where),),
    )


def _gcsf_therapeutic(
    a: Assessment, anc: LabResult, cut: float, profile: Profile, recent: bool, why_warning: str | None
) -> Recommendation:
    t: dict[str, Any] = profile.thresholds
    assert a.as_of is not None
    latest_course = gcsf_course(a.record, a.as_of, int(t["gcsf_recent"]["course_gap_days"]))
    before_infusion = (
        a.infusion_date is not None and latest_course is not None and latest_course.last.start < a.infusion_date
    )
    if not recent and before_infusion:
        latest_course = None  # G-CSF long before infusion (mobilisation) is no course of this phase
    course = latest_course if recent else None
    evidence = [result_evidence("ANC", anc)]
    if latest_course is not None:
        label = "G-CSF given" if course is not None else "G-CSF given earlier"
        evidence += [
            Evidence(label, code_text(e.code, profile.code_names), e.start.isoformat(), e.source_id)
            for e in latest_course.doses
        ]
    crs_text, crs_evidence = _crs_context(a)
    evidence += crs_evidence
    agent = f"{t['gcsf_therapeutic']['drug']} {t['gcsf_therapeutic']['dose']}"
    if course is None:
        text = f"ANC {shown(anc)} ×10⁹/L on {_day(a, anc)}: consider therapeutic G-CSF ({agent}) per protocol."
        if latest_course is not None:  # an earlier course, more than gcsf_recent.days ago: the team sees it
            earlier = latest_course.text(a.infusion_date, profile.code_names, ended=True)
            text += f" Last G-CSF: {earlier}, no longer running (gcsf_recent)."
        summary = f"ANC {shown(anc)} ×10⁹/L ({_day(a, anc)}): severe neutropenia — consider therapeutic G-CSF"
    else:
        given = course.text(a.infusion_date, profile.code_names)
        text = f"ANC {shown(anc)} ×10⁹/L on {_day(a, anc)}, {given}: continue per protocol."
        short = course.short(a.infusion_date, profile.code_names)
        summary = f"ANC {shown(anc)} ×10⁹/L ({_day(a, anc)}): severe neutropenia — G-CSF already given ({short})"
    text += crs_text
    urgency: Urgency = "info" if course is not None else "warning"
    rule = (
        f"latest ANC < {cut:g} ×10⁹/L (site threshold gcsf_therapeutic.anc_below), at most "
        f"{int(t['freshness']['max_age_days'])} days old (freshness.max_age_days)"
    )
    if course is not None:
        rule += (
            f"; G-CSF running: last dose at most {int(t['gcsf_recent']['days'])} day(s) old, "
            f"{int(t['gcsf_recent']['long_acting_days'])} for a long-acting one (gcsf_recent): already given"
        )
    if why_warning is not None:
        urgency = "warning"
        rule += f"; at least a warning: {why_warning} (thresholds urgency)"
    citation = str(t["gcsf_therapeutic"]["source"])
    if why_warning is not None:
        citation += f"; {t['urgency']['source']}"
    return Recommendation(
        "gcsf-therapeutic",
        summary,
        text,
        urgency,
        rule,
        citation,
        tuple(evidence),
        facts={"already_given": course is not None},
    )


def _gcsf_unknown(a: Assessment, anc: LabResult, cut: float, t: dict[str, Any]) -> Recommendation:
    """No G-CSF on record, but a drug given in the look-back could not be identified: it may have been G-CSF, so
    the card says so, asks to check, and offers no order."""
    assert a.as_of is not None
    unknown = unidentified_since(a.record, a.as_of - timedelta(days=int(t["gcsf_recent"]["days"])), a.as_of)
    latest = unknown[-1]
    crs_text, crs_evidence = _crs_context(a)
    return Recommendation(
        "gcsf-therapeutic",
        f"ANC {shown(anc)} ×10⁹/L ({_day(a, anc)}): severe neutropenia — check whether G-CSF was given",
        f"ANC {shown(anc)} ×10⁹/L on {_day(a, anc)}. The drug of {latest.source_id or 'an administration'} "
        f"{given_on(latest)} could not be identified: check whether G-CSF was given before starting therapeutic "
        f"G-CSF ({t['gcsf_therapeutic']['drug']} {t['gcsf_therapeutic']['dose']}) per protocol." + crs_text,
        "warning",
        f"latest ANC < {cut:g} ×10⁹/L (site threshold gcsf_therapeutic.anc_below)",
        str(t["gcsf_therapeutic"]["source"]),
        (result_evidence("ANC", anc), *unidentified_evidence(unknown), *crs_evidence),
        facts={"already_given": None, "unidentified_medication": True},
    )


def _transfusion(
    a: Assessment,
    code: str,
    r: LabResult,
    label: str,
    unit: str,
    section: str,
    key: str,
    profile: Profile,
) -> Recommendation:
    """The red-cell or platelet card: critical, or information when the product was already given after the count."""
    t: dict[str, Any] = profile.thresholds
    assert a.as_of is not None
    cut = float(t[section][key])
    product = "packed red-cell transfusion, one unit at a time" if code == "rbc-transfusion" else "platelet transfusion"
    short = "red-cell transfusion" if code == "rbc-transfusion" else "platelet transfusion"
    looked = t["transfusion_given"]
    hours_key = "rbc_lookback_hours" if code == "rbc-transfusion" else "lookback_hours"
    hours = float(looked[hours_key])
    given = transfusion_given(a.record, code, r, a.as_of, hours)
    rule = (
        f"latest {label} < {cut:g} {unit} (site threshold {section}.{key}), at most "
        f"{int(t['freshness']['max_age_days'])} days old (freshness.max_age_days)"
    )
    # the value's age, when it is not today's: a transfusion is not drafted on a days-old count without saying so
    age = "" if r.local_date == a.as_of else f", {age_text(r, a.as_of)}"
    citation = f"{t[section]['source']}; {t['irradiated_products']['source']}"
    evidence: tuple[Evidence, ...] = (result_evidence("Hemoglobin" if label == "Hb" else "Platelets", r),)
    if given is not None:
        done = transfusion_text(given, r, label)
        evidence += (
            Evidence("Transfusion given", done, (given.start_time or given.start).isoformat(), given.source_id),
        )
        # §8 speaks of the *matching* product: an unspecified one may have been the other product, so it is not
        # "already done" — the card stays a warning and asks which product it was
        unspecified = given.kind == "blood_product_transfusion"
        check = f"check which product it was before another unit ({label} not yet re-checked)"
        then = check if unspecified else f"re-check {label} before another unit"
        return Recommendation(
            code,
            f"{label} {shown(r)} {unit} ({_day(a, r)}{age}): {done} — {then}",
            f"{label} {shown(r)} {unit} on {_day(a, r)}{age}: {done}; {then}.",
            "warning" if unspecified else "info",
            rule + f"; a transfusion after the count or up to {hours:g} h before it (thresholds "
            f"transfusion_given.{hours_key}): "
            + ("a blood product of unknown kind given" if unspecified else "already given"),
            f"{citation}; {t['transfusion_given']['source']}",
            evidence,
            facts={"already_given": True, "unspecified_product": unspecified},  # no draft before the check
        )
    extra = f"irradiated ({_irradiated_window(t)})" if code == "rbc-transfusion" else "irradiated products"
    return Recommendation(
        code,
        f"{label} {shown(r)} {unit} ({_day(a, r)}{age}): below {cut:g} {unit} — consider {short}",
        f"{label} {shown(r)} {unit} on {_day(a, r)}{age}: consider {product} per institutional standards, {extra}.",
        "critical",
        rule,
        citation,
        evidence,
        facts={"already_given": False},
    )


def _covers(e: TherapyEvent, t: dict[str, Any]) -> int:
    """Days a G-CSF dose keeps a course running: one for a daily drug, more for a long-acting one (gcsf_recent)."""
    rule = t["gcsf_recent"]
    return int(rule["long_acting_days"]) if e.code in rule["long_acting_codes"] else int(rule["days"])


def _treatment_cards(a: Assessment, profile: Profile) -> list[Recommendation]:
    t: dict[str, Any] = profile.thresholds
    out: list[Recommendation] = []
    if a.as_of is None or a.day is None or a.day < 0:
        return out
    max_age = int(t["freshness"]["max_age_days"])
    anc = fresh(a.lineages["neutrophils"].latest, a.as_of, max_age)
    cut = float(t["gcsf_therapeutic"]["anc_below"])
    if anc is not None and below(anc, cut):  # a censored ANC that may be above the cut: no treatment card
        days = int(t["gcsf_recent"]["days"])
        recent = [e for e in a.record.events_of("gcsf") if 0 <= (a.as_of - (e.end or e.start)).days <= _covers(e, t)]
        if not recent and unidentified_since(a.record, a.as_of - timedelta(days=days), a.as_of):
            out.append(_gcsf_unknown(a, anc, cut, t))
        else:
            out.append(_gcsf_therapeutic(a, anc, cut, profile, bool(recent), escalation(a, profile)))
    hb = fresh(a.lineages["hemoglobin"].latest, a.as_of, max_age)
    if hb is not None and below(hb, float(t["rbc_transfusion"]["hb_below"])):
        out.append(_transfusion(a, "rbc-transfusion", hb, "Hb", "g/L", "rbc_transfusion", "hb_below", profile))
    plt = fresh(a.lineages["platelets"].latest, a.as_of, max_age)
    if plt is not None and below(plt, float(t["platelet_transfusion"]["plt_below"])):
        out.append(
            _transfusion(a, "platelet-transfusion", plt, "PLT", "×10⁹/L", "platelet_transfusion", "plt_below", profile)
        )
    return out


def _irradiated_window(t: dict[str, Any]) -> str:
    w = t["irradiated_products"]
    return (
        f"from {int(w['from_days_before_apheresis'])} days before apheresis to at least "
        f"{int(w['until_days_after_infusion'])} days after infusion"
    )


def _same(e: Evidence, others: tuple[Evidence, ...]) -> bool:
    """The same fact already on the card (a result is the same by its source and time, whatever its label)."""
    return any(e == o or (e.source is not None and e.source == o.source and e.when == o.when) for o in others)


def recommend(a: Assessment, profile: Profile) -> list[Recommendation]:
    out = _treatment_cards(a, profile)
    risk_reasons: list[Evidence] = []
    if a.risk is not None and a.as_of is not None:
        latest_anc = a.lineages["neutrophils"].latest
        recovered = [
            e.recovery_day
            for e in a.lineages["neutrophils"].episodes
            if e.profile == "seed000" and e.recovery_day is not None
        ]
        risk_recs, risk_reasons = risk_recommendations(
            a.risk, a.record, a.as_of, a.day, latest_anc, profile, anc_recovered_day=min(recovered, default=None)
        )
        crs_text, crs_evidence = _crs_context(a)
        out += [
            replace(r, text=r.text + crs_text, evidence=r.evidence + crs_evidence)
            if r.code == "gcsf-prophylaxis"
            else r
            for r in risk_recs
        ]
        addition = antibacterial_prophylaxis(a.risk, a.as_of, a.day, latest_anc, profile)
        if addition is not None:
            out = [
                replace(
                    r,
                    text=f"{r.text} {addition.text}",
                    rule=f"{r.rule}; {addition.rule}",
                    citation=f"{r.citation}; {addition.citation}",
                    evidence=r.evidence + tuple(e for e in addition.evidence if not _same(e, r.evidence)),
                )
                if r.code == addition.code
                else r
                for r in out
            ]
    evaluation = prolonged_cytopenia(a, profile)
    # "if cytopenia persists, evaluate the marrow" says less than the evaluation card that fires: one of the two
    monitoring = None if evaluation is not None else extended_monitoring(a, profile, risk_reasons)
    if monitoring:
        out.append(monitoring)
    for extra in (counts_overdue(a, profile), evaluation, data_quality(a, profile.thresholds)):
        if extra is not None:
            out.append(extra)
    order = {rule.code: i for i, rule in enumerate(profile.rules)}  # rules.toml: the cards' order
    return sorted(out, key=lambda r: order.get(r.code, len(order)))
