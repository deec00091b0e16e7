"""The data-quality card: results that could not be used (clinical-reference §1), and fresh censored results that
cannot decide a treatment threshold. Pure; every window from thresholds.toml."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from cds_cyto.core.assessment.recommendation import Evidence, Recommendation
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.extract.record import DataProblem
from cds_cyto.core.grading.interval import below, shown
from cds_cyto.core.recommend.evidence import fresh

__all__ = ["data_quality"]


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


# What each kind of problem means to the person who checks it at its source (a code not named here reads as itself).
_PROBLEM_WORDS = {
    "unit-missing": "no unit",
    "unit-unknown": "a unit that cannot be converted safely",
    "implausible": "a value outside plausible bounds",
    "non-numeric": "a value that is not a number",
    "no-value": "no value",
    "value-absent": "no value",
    "no-time": "no readable time",
    "unreadable": "content that could not be read",
    "crs-grade-unreadable": "a CRS grade that could not be read",
    "medication-unresolved": "a drug that could not be identified",
    "anc-not-derived": "an ANC that could not be derived",
}


def _detail(warnings: list[DataProblem], urgent: bool, undecided: bool) -> str:
    kinds = sorted({_PROBLEM_WORDS.get(p.code, p.code) for p in warnings})
    text = ""
    if kinds:
        text = f"Check these records at their source ({'; '.join(kinds)}): such a result is never graded."
    if urgent:
        text += " Verify the implausible value before any transfusion decision."
    if undecided:
        text += " A censored value across a treatment threshold gives no treatment advice."
    return text.strip()


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


def data_quality(a: Assessment, t: Mapping[str, Any]) -> Recommendation | None:
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
        _detail(warnings, bool(urgent), bool(undecided)),
        "critical" if urgent else "warning",
        rule,
        "cds-cyto unit-safety rules (clinical-reference §1)"
        + (f"; {t['data_quality']['urgent_source']}" if urgent else ""),
        tuple(
            Evidence(p.code, p.reason, None if p.when is None else p.when.isoformat(), p.resource)
            for p in warnings[:20]
        )
        + tuple(undecided),
    )
