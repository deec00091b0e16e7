"""A plain-text summary of an Assessment for clinicians (`cds-cyto evaluate --format table`): the counts and their
grades, the advice (code, urgency, summary), the CRS and CAR-HEMATOTOX, in lines of at most WIDTH characters so that
an 80–120 column terminal shows them unbroken."""

from __future__ import annotations

import textwrap

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.grading.interval import shown, value_text
from cds_cyto.core.profile.unit_text import unit_text
from cds_cyto.core.risk.crs import CrsFeatures
from cds_cyto.core.risk.hematotox import Hematotox

__all__ = ["WIDTH", "assessment_table"]

WIDTH = 80
_LABELS = {
    "neutrophils": "ANC",
    "hemoglobin": "Hb",
    "platelets": "PLT",
    "leukocytes": "WBC",
    "lymphocytes": "Lymph",
}


_SEVERE = ("neutrophils", "hemoglobin", "platelets")  # seed 000 defines "severe" for these only


def _g(value: int | None) -> str:
    return "–" if value is None else str(value)


def _flag(value: bool | None, applies: bool = True) -> str:
    if not applies:
        return "–"  # no such definition for this lineage
    return "?" if value is None else ("yes" if value else "no")


def _wrap(text: str, indent: str, hang: str) -> list[str]:
    """`text` in lines of at most WIDTH characters, the first after `indent`, the others after `hang`."""
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=hang, break_on_hyphens=False) or [
        indent.rstrip()
    ]


# where the CRS timeline was read from, as a clinician would say it
_CRS_SOURCE = {"condition": "CRS Conditions", "observation": "daily CRS grades", "fever-derived": "from fever"}


def _crs_line(crs: CrsFeatures | None) -> str:
    if crs is None or crs.source == "none" or (crs.max_grade is None and crs.onset_day is None):
        return "CRS: none recorded"
    grade = "unknown" if crs.max_grade is None else str(crs.max_grade)
    onset = "onset day unknown" if crs.onset_day is None else f"onset day {crs.onset_day:+d}"
    if crs.ongoing:
        state = "active"
    elif crs.recovery_day is not None:
        state = f"resolved day {crs.recovery_day:+d}"
    else:
        state = "recovery unknown"
    return f"CRS: max grade {grade}, {onset}, {state} ({_CRS_SOURCE.get(crs.source, crs.source)})"


def _hematotox_line(h: Hematotox | None) -> str:
    if h is None or h.score is None:
        return "CAR-HEMATOTOX: not scored (no baseline results)"
    verdict = {True: "high risk", False: "low risk", None: "risk class not yet known"}[h.high_risk]
    if h.complete:
        return f"CAR-HEMATOTOX: {h.score}/{h.max_score}, {verdict} (complete)"
    return f"CAR-HEMATOTOX: ≥ {h.score}/{h.max_score}, {verdict} (incomplete: missing {', '.join(h.missing)})"


def _recommendation_lines(a: Assessment) -> list[str]:
    if not a.recommendations:
        return ["Recommendations: none"]
    lines = [f"Recommendations ({len(a.recommendations)}):"]
    for rec in a.recommendations:
        lines += _wrap(f"[{rec.urgency}] {rec.code}: {rec.summary}", "  ", "      ")
    return lines


def assessment_table(a: Assessment) -> str:
    day = f"day {a.day:+d}" if a.day is not None else "day unknown (no CAR-T infusion found)"
    lines = [
        f"Patient {a.patient_id or '?'} — as of {a.as_of or '?'} ({day}); infusion {a.infusion_date or '?'}",
        "",
        f"{'':6} {'latest':>8} {'unit':7} {'date':10}  {'CTCAE 4.03/5.0/6.0':18} {'severe':6} {'G≥3':4} nadir (day)",
        f"{'':6} episodes (onset→recovery, profile)",
    ]
    for name, la in a.lineages.items():
        label = _LABELS[name]
        if la.latest is None:
            lines.append(f"{label:6} {'–':>8}")
            continue
        grades = "/".join((la.ctcae_text(v) or "–").replace(" ", "") for v in ("4.03", "5.0", "6.0"))
        nadir = f"{shown(la.nadir[2])} (d{la.nadir[1]})" if la.nadir else "–"
        eps = ", ".join(
            f"d{e.onset_day}→{'d' + str(e.recovery_day) if e.recovery_day is not None else 'ongoing'}"
            f" {e.profile}{'' if e.new_onset else ' (baseline)'}"
            for e in la.episodes
        )
        mark = "*" if la.latest.derived else " "
        latest = f"{la.latest.censored or ''}{la.latest.value:.4g}"  # a censored value shows its comparator
        unit = unit_text(la.latest.unit)
        lines.append(
            f"{label:6} {latest:>8}{mark}{unit:7} {la.latest.local_date.isoformat():10}  {grades:18} "
            f"{_flag(la.severe, name in _SEVERE):6} {_flag(la.grade3plus):4} {nadir}".rstrip()
        )
        if eps:
            lines += _wrap(eps, " " * 7, " " * 9)
    if a.icaht_early is not None and a.t_icaht_early is not None:
        e, t = a.icaht_early, a.t_icaht_early
        lines += [
            "",
            f"ICAHT early: grade {_g(e.grade)}{' (provisional)' if e.provisional else ''} — days ANC ≤0.5: "
            f"{e.counts['days_le_500']}, ≤0.1: {e.counts['days_le_100']}",
            f"T-ICAHT early: grade {_g(t.grade)}{' (provisional)' if t.provisional else ''} — days PLT <50: "
            f"{t.counts['days_lt_50']}, <20: {t.counts['days_lt_20']}",
        ]
    if a.icaht_late is not None and a.icaht_late.grade is not None:
        late = a.icaht_late
        lowest = "–" if late.lowest is None else value_text(late.lowest)
        lines.append(
            f"ICAHT late: grade {late.grade}{' (provisional)' if late.provisional else ''} "
            f"(lowest non-transient ANC {lowest})"
        )
    lines.append(
        f"Prolonged toxicity day 28: seed 000 {_flag(a.pht_day28['seed000'])}, "
        f"seed 001 not recovered {_flag(a.pht_day28['seed001'])}"
    )
    lines += [_crs_line(None if a.risk is None else a.risk.crs)]
    lines += _wrap(_hematotox_line(None if a.risk is None else a.risk.hematotox), "", "  ")
    score = None if a.risk is None else a.risk.site_score
    if score is not None:
        if score.probability is None:
            lines += _wrap(f"Site model ({score.model.outcome}): not scored — " + "; ".join(score.reasons), "", "  ")
        else:
            site = f"Site model ({score.model.outcome}): {score.probability_text()} — {score.validation_text()}"
            lines += _wrap(site, "", "  ")
            for c in score.cautions:
                lines += _wrap(f"caution: {c}", "  ", "    ")
    lines += ["", *_recommendation_lines(a)]
    warnings = [p for p in a.data_problems if p.severity == "warning"]
    if warnings:
        lines += ["", f"Data problems ({len(warnings)} not used):"]
        for p in warnings[:20]:
            lines += _wrap(f"- {p.resource}: {p.reason}", "  ", "    ")
        if len(warnings) > 20:
            lines.append(f"  … and {len(warnings) - 20} more (see --format json)")
    return "\n".join(lines)
