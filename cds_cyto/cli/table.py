"""A plain-text summary of an Assessment for clinicians (`cds-cyto evaluate --format table`)."""

from __future__ import annotations

from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.grading.interval import shown, value_text

__all__ = ["assessment_table"]

_LABELS = {
    "neutrophils": ("ANC", "×10⁹/L"),
    "hemoglobin": ("Hb", "g/L"),
    "platelets": ("PLT", "×10⁹/L"),
    "leukocytes": ("WBC", "×10⁹/L"),
    "lymphocytes": ("Lymph", "×10⁹/L"),
}


_SEVERE = ("neutrophils", "hemoglobin", "platelets")  # seed 000 defines "severe" for these only


def _g(value: int | None) -> str:
    return "–" if value is None else str(value)


def _flag(value: bool | None, applies: bool = True) -> str:
    if not applies:
        return "–"  # no such definition for this lineage
    return "?" if value is None else ("yes" if value else "no")


def assessment_table(a: Assessment) -> str:
    day = f"day {a.day:+d}" if a.day is not None else "day unknown (no CAR-T infusion found)"
    lines = [
        f"Patient {a.patient_id or '?'} — as of {a.as_of or '?'} ({day}); infusion {a.infusion_date or '?'}",
        "",
        f"{'':6} {'latest':>8} {'unit':7} {'date':10}  {'CTCAE 4.03/5.0/6.0':18} {'severe':6} {'G≥3':4} "
        f"{'nadir (day)':14} episodes (onset→recovery, profile)",
    ]
    for name, la in a.lineages.items():
        label, unit = _LABELS[name]
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
        lines.append(
            f"{label:6} {latest:>8}{mark}{unit:7} {la.latest.local_date.isoformat():10}  {grades:18} "
            f"{_flag(la.severe, name in _SEVERE):6} {_flag(la.grade3plus):4} {nadir:14} {eps or '–'}"
        )
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
    score = None if a.risk is None else a.risk.site_score
    if score is not None:
        if score.probability is None:
            lines.append(f"Site model ({score.model.outcome}): not scored — " + "; ".join(score.reasons))
        else:
            lines.append(f"Site model ({score.model.outcome}): {score.probability_text()} — {score.validation_text()}")
            lines += [f"  caution: {c}" for c in score.cautions]
    warnings = [p for p in a.data_problems if p.severity == "warning"]
    if warnings:
        lines += ["", f"Data problems ({len(warnings)} not used):"]
        lines += [f"  - {p.resource}: {p.reason}" for p in warnings[:20]]
        if len(warnings) > 20:
            lines.append(f"  … and {len(warnings) - 20} more (see --format json)")
    return "\n".join(lines)
