"""Recommendations from an Assessment: what to do, with the evidence, the rule that fired and its citation.

Pure: the thresholds come from the profile (thresholds.toml, site-configurable), the date from the Assessment.
The CDS service renders each recommendation as one card; sweeps store them as alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from cds_cyto.core.assessment.recommendation import Evidence, Recommendation
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.extract.record import DataProblem, LabResult, TherapyEvent
from cds_cyto.core.grading.interval import below, shown
from cds_cyto.core.profile import Profile
from cds_cyto.core.recommend.evidence import code_text, fresh, given_on, unidentified_evidence, unidentified_since
from cds_cyto.core.recommend.risk_based import antibacterial_prophylaxis, risk_recommendations

__all__ = ["Evidence", "Recommendation", "recommend"]


_UNIT_TEXT = {"10*9/L": "×10⁹/L"}


def _value(r: LabResult) -> str:
    """ "<0.5 ×10⁹/L": a censored value with its comparator, never the bare bound."""
    flags = " (derived)" if r.derived else ""
    return f"{shown(r, _UNIT_TEXT.get(r.unit, r.unit))}{flags}"


def _result_evidence(label: str, r: LabResult) -> Evidence:
    return Evidence(label, _value(r), r.time.isoformat(), r.source_id)


def _day(a: Assessment) -> str:
    return f"day +{a.day}" if a.day is not None and a.day >= 0 else f"day {a.day}"


def _gcsf_therapeutic(
    a: Assessment, anc: LabResult, cut: float, t: dict[str, Any], names: dict[str, str], recent: list[TherapyEvent]
) -> Recommendation:
    evidence = [_result_evidence("ANC", anc)]
    evidence += [Evidence("G-CSF given", code_text(e.code, names), e.start.isoformat(), e.source_id) for e in recent]
    agent = f"{t['gcsf_therapeutic']['drug']} {t['gcsf_therapeutic']['dose']}"
    text = (
        f"ANC {shown(anc)} ×10⁹/L on {_day(a)}: consider therapeutic G-CSF ({agent}) per protocol."
        if not recent
        else f"ANC {shown(anc)} ×10⁹/L on {_day(a)} despite G-CSF on {recent[-1].start}: continue per protocol."
    )
    return Recommendation(
        "gcsf-therapeutic",
        f"ANC {shown(anc)} ×10⁹/L ({_day(a)}): severe neutropenia — "
        + ("consider therapeutic G-CSF" if not recent else "G-CSF already given"),
        text,
        "info" if recent else "warning",
        f"latest ANC < {cut:g} ×10⁹/L (site threshold gcsf_therapeutic.anc_below)",
        str(t["gcsf_therapeutic"]["source"]),
        tuple(evidence),
        facts={"already_given": bool(recent)},
    )


def _gcsf_unknown(a: Assessment, anc: LabResult, cut: float, t: dict[str, Any]) -> Recommendation:
    """No G-CSF on record, but a drug given in the look-back could not be identified: it may have been G-CSF, so
    the card says so, asks to check, and offers no order."""
    assert a.as_of is not None
    unknown = unidentified_since(a.record, a.as_of - timedelta(days=int(t["gcsf_recent"]["days"])), a.as_of)
    latest = unknown[-1]
    return Recommendation(
        "gcsf-therapeutic",
        f"ANC {shown(anc)} ×10⁹/L ({_day(a)}): severe neutropenia — check whether G-CSF was given",
        f"ANC {shown(anc)} ×10⁹/L on {_day(a)}. The drug of {latest.source_id or 'an administration'} "
        f"{given_on(latest)} could not be identified: check whether G-CSF was given before starting therapeutic "
        f"G-CSF ({t['gcsf_therapeutic']['drug']} {t['gcsf_therapeutic']['dose']}) per protocol.",
        "warning",
        f"latest ANC < {cut:g} ×10⁹/L (site threshold gcsf_therapeutic.anc_below)",
        str(t["gcsf_therapeutic"]["source"]),
        (_result_evidence("ANC", anc), *unidentified_evidence(unknown)),
        facts={"already_given": None, "unidentified_medication": True},
    )


def _treatment_cards(a: Assessment, t: dict[str, Any], names: dict[str, str]) -> list[Recommendation]:
    out: list[Recommendation] = []
    if a.as_of is None or a.day is None or a.day < 0:
        return out
    max_age = int(t["freshness"]["max_age_days"])
    anc = fresh(a.lineages["neutrophils"].latest, a.as_of, max_age)
    cut = float(t["gcsf_therapeutic"]["anc_below"])
    if anc is not None and below(anc, cut):  # a censored ANC that may be above the cut: no treatment card
        days = int(t["gcsf_recent"]["days"])
        recent = [e for e in a.record.events_of("gcsf") if 0 <= (a.as_of - (e.end or e.start)).days <= days]
        if not recent and unidentified_since(a.record, a.as_of - timedelta(days=days), a.as_of):
            out.append(_gcsf_unknown(a, anc, cut, t))
        else:
            out.append(_gcsf_therapeutic(a, anc, cut, t, names, recent))
    hb = fresh(a.lineages["hemoglobin"].latest, a.as_of, max_age)
    cut = float(t["rbc_transfusion"]["hb_below"])
    if hb is not None and below(hb, cut):
        out.append(
            Recommendation(
                "rbc-transfusion",
                f"Hb {shown(hb)} g/L ({_day(a)}): below {cut:g} g/L — consider red-cell transfusion",
                f"Hb {shown(hb)} g/L on {_day(a)}: consider packed red-cell transfusion, one unit at a time, "
                f"irradiated ({_irradiated_window(t)}).",
                "critical",
                f"latest Hb < {cut:g} g/L (site threshold rbc_transfusion.hb_below)",
                f"{t['rbc_transfusion']['source']}; {t['irradiated_products']['source']}",
                (_result_evidence("Hemoglobin", hb),),
            )
        )
    plt = fresh(a.lineages["platelets"].latest, a.as_of, max_age)
    cut = float(t["platelet_transfusion"]["plt_below"])
    if plt is not None and below(plt, cut):
        out.append(
            Recommendation(
                "platelet-transfusion",
                f"PLT {shown(plt)} ×10⁹/L ({_day(a)}): below {cut:g} — consider platelet transfusion",
                f"PLT {shown(plt)} ×10⁹/L on {_day(a)}: consider platelet transfusion per institutional standards, "
                "irradiated products.",
                "critical",
                f"latest PLT < {cut:g} ×10⁹/L (site threshold platelet_transfusion.plt_below)",
                f"{t['platelet_transfusion']['source']}; {t['irradiated_products']['source']}",
                (_result_evidence("Platelets", plt),),
            )
        )
    return out


def _irradiated_window(t: dict[str, Any]) -> str:
    w = t["irradiated_products"]
    return (
        f"from {int(w['from_days_before_apheresis'])} days before apheresis to at least "
        f"{int(w['until_days_after_infusion'])} days after infusion"
    )


def _monitoring(
    a: Assessment, t: dict[str, Any], pht: dict[str, Any], risk_reasons: list[Evidence]
) -> Recommendation | None:
    if a.as_of is None or a.day is None:
        return None
    rule = t["extended_monitoring"]
    beyond = int(rule["beyond_day"])
    pht_days = {"seed000": int(pht["day"]), "seed001": int(pht["seed001_day"])}
    if a.day > int(rule["until_day"]):
        return None
    after = int(rule["severe_after_day"])
    reasons: list[Evidence] = []
    if a.day > after and a.infusion_date is not None:
        for name, la in a.lineages.items():
            latest = la.latest
            if la.severe and latest is not None and (latest.local_date - a.infusion_date).days > after:
                reasons.append(_result_evidence(f"severe {name} after day {after}", latest))
    for profile, value in a.pht_day28.items():
        if value:
            label = (
                f"prolonged toxicity at day {pht_days[profile]} (SN/SA/ST)"
                if profile == "seed000"
                else f"not recovered at day {pht_days[profile]}"
            )
            reasons.append(Evidence(label, "yes"))
    reasons += risk_reasons
    if not reasons:
        return None
    return Recommendation(
        "extended-monitoring",
        f"{_day(a).capitalize()}: risk of prolonged cytopenia — blood counts beyond day {beyond}",
        f"Continue blood counts beyond day {beyond} (e.g. {rule['schedule']}); if cytopenia persists, evaluate the"
        " marrow.",
        "warning" if any(r.label.startswith("severe") for r in reasons) else "info",
        "extended monitoring: " + "; ".join(r.label for r in reasons),
        f"{rule['source']}; schedule: {rule['schedule_source']}",
        tuple(reasons),
    )


# The treatment cards' thresholds: (lineage, label, unit, thresholds.toml section, key).
_TREATMENT_CUTS = (
    ("neutrophils", "ANC", "×10⁹/L", "gcsf_therapeutic", "anc_below"),
    ("hemoglobin", "Hb", "g/L", "rbc_transfusion", "hb_below"),
    ("platelets", "PLT", "×10⁹/L", "platelet_transfusion", "plt_below"),
)


def _undecided(a: Assessment, t: Mapping[str, Any]) -> list[Evidence]:
    """Fresh censored results that may or may not be below a treatment card's threshold ("<1.0" against 0.5): they
    fire no treatment card (never a guess), so the data-quality card names them rather than staying silent."""
    if a.as_of is None or a.day is None or a.day < 0:
        return []
    out = []
    for lineage, label, unit, section, key in _TREATMENT_CUTS:
        la = a.lineages.get(lineage)
        r = fresh(la.latest if la is not None else None, a.as_of, int(t["freshness"]["max_age_days"]))
        cut = float(t[section][key])
        if r is not None and below(r, cut) is None:
            out.append(
                Evidence(
                    "censored-across-threshold",
                    f"{label} {shown(r, unit)}: cannot tell whether below {cut:g} {unit} ({section}.{key}); "
                    "an exact count decides",
                    r.time.isoformat(),
                    r.source_id,
                )
            )
    return out


def _urgent(a: Assessment, t: Mapping[str, Any], warnings: list[DataProblem]) -> list[DataProblem]:
    """Implausible results of the analytes a site names (default Hb) within the freshness window: a unit error
    hides today's value (clinical-reference §1)."""
    analytes = set(t["data_quality"].get("urgent_implausible", ()))
    max_age = int(t["freshness"]["max_age_days"])
    urgent = [
        p
        for p in warnings
        if p.code == "implausible"
        and p.analyte in analytes
        and (a.as_of is None or p.when is None or (a.as_of - p.when).days <= max_age)
    ]
    return sorted(urgent, key=_newest_first)


def _newest_first(p: DataProblem) -> tuple[int, str, str, str]:
    """The card's order of problems: the newest first, whatever the order of the Bundle's entries."""
    return -(p.when or date.max).toordinal(), p.resource, p.code, p.reason


def _data_quality(a: Assessment, t: Mapping[str, Any]) -> Recommendation | None:
    rule = t["data_quality"]
    days = int(rule["lookback_days"])
    since = None
    if a.as_of is not None:  # an as_of in year 1 is junk data, and must not overflow the date arithmetic
        since = a.as_of - timedelta(days=days) if a.as_of.toordinal() > days else date.min
    warnings = [
        p
        for p in a.data_problems
        if p.severity == "warning"
        and p.code != "no-infusion"
        # a problem whose date could not be read counts as recent, and so does one after as_of: without a given
        # as_of that is the latest *usable* result's date, and an unusable result may be the newest of all
        and (p.when is None or since is None or p.when >= since)
    ]
    undecided = _undecided(a, t)
    if not warnings and not undecided:
        return None
    urgent = _urgent(a, t, warnings)
    # the urgent ones first, so that the card's first evidence is the value to verify
    warnings = urgent + sorted((p for p in warnings if p not in urgent), key=_newest_first)
    kinds = sorted({p.code for p in warnings} | {e.label for e in undecided})
    summary = f"{len(warnings)} result(s) could not be used ({', '.join(kinds)}) — grades may be incomplete"
    if not warnings:
        summary = f"{len(undecided)} censored result(s) cannot decide a treatment threshold — exact counts needed"
    if urgent:
        first = urgent[0].reason.removesuffix("; not graded")
        more = f" (+{len(warnings) - 1} more)" if len(warnings) > 1 else ""
        summary = first if len(first) + len(more) < 140 else first[: 138 - len(more)] + "…"
        summary += more
    rule = "a result that cannot be normalised is never graded (clinical-reference §1)"
    if urgent:
        rule += f"; an implausible {', '.join(sorted({p.analyte or '' for p in urgent}))} within the freshness window "
        rule += "is urgent (thresholds data_quality.urgent_implausible)"
    return Recommendation(
        "data-quality",
        summary,
        "Check these results in the laboratory system: a value with an unknown or missing unit, or outside plausible "
        "bounds, is never graded."
        + (" Verify the implausible value before any transfusion decision." if urgent else "")
        + (" A censored value across a treatment threshold gives no treatment advice." if undecided else ""),
        "critical" if urgent else "warning",
        rule,
        "cds-cyto unit-safety rules (clinical-reference §1)"
        + (f"; {t['data_quality']['urgent_source']}" if urgent else ""),
        tuple(Evidence(p.code, p.reason, None, p.resource) for p in warnings[:20]) + tuple(undecided),
    )


def recommend(a: Assessment, profile: Profile) -> list[Recommendation]:
    t = profile.thresholds
    out = _treatment_cards(a, t, profile.code_names)
    risk_reasons: list[Evidence] = []
    if a.risk is not None and a.as_of is not None:
        latest_anc = a.lineages["neutrophils"].latest
        risk_recs, risk_reasons = risk_recommendations(a.risk, a.record, a.as_of, a.day, latest_anc, profile)
        out += risk_recs
        addition = antibacterial_prophylaxis(a.risk, a.as_of, a.day, latest_anc, profile)
        if addition is not None:
            out = [
                replace(
                    r,
                    text=f"{r.text} {addition.text}",
                    rule=f"{r.rule}; {addition.rule}",
                    citation=f"{r.citation}; {addition.citation}",
                    evidence=r.evidence + tuple(e for e in addition.evidence if e not in r.evidence),
                )
                if r.code == addition.code
                else r
                for r in out
            ]
    monitoring = _monitoring(a, t, profile.pht, risk_reasons)
    if monitoring:
        out.append(monitoring)
    quality = _data_quality(a, t)
    if quality:
        out.append(quality)
    order = {rule.code: i for i, rule in enumerate(profile.rules)}  # rules.toml: the cards' order
    return sorted(out, key=lambda r: order.get(r.code, len(order)))
