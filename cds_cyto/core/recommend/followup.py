"""The follow-up cards (clinical-reference.md §8), pure, every number from thresholds.toml:

- `counts-overdue`: a severe (seed 000) or grade ≥ 3 (seed 001) ANC, Hb or PLT is its lineage's latest result but
  older than the freshness window, from day 0 to [counts_overdue] until_day — "last ANC 0.3 ×10⁹/L on day +5
  (6 days ago), none since — repeat the count". No treatment card can rest on such a value.
- `prolonged-cytopenia-evaluation`: past [prolonged_cytopenia] after_day (28) to until_day, a fresh ANC < anc_below,
  a fresh PLT < plt_below, transfusion dependence, or late ICAHT grade ≥ late_icaht_grade_at_least: prompts the
  work-up and names the consensus options with their level of evidence — never an order.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from cds_cyto.core.assessment.recommendation import Evidence, Recommendation
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.extract.record import EventKind, PatientRecord, TherapyEvent
from cds_cyto.core.grading.interval import at_most, below
from cds_cyto.core.grading.interval import value_text as series_text
from cds_cyto.core.profile import Profile
from cds_cyto.core.recommend.evidence import age_text, day_text, fresh, result_evidence, value_text

__all__ = ["counts_overdue", "prolonged_cytopenia", "transfusion_dependence"]

_LABELS = (("neutrophils", "ANC"), ("hemoglobin", "Hb"), ("platelets", "PLT"))


def counts_overdue(a: Assessment, profile: Profile) -> Recommendation | None:
    t: dict[str, Any] = profile.thresholds
    rule = t["counts_overdue"]
    if a.as_of is None or a.day is None or a.infusion_date is None or not 0 <= a.day <= int(rule["until_day"]):
        return None
    max_age = int(t["freshness"]["max_age_days"])
    stale: list[tuple[str, str, Evidence]] = []
    for lineage, label in _LABELS:
        la = a.lineages.get(lineage)
        r = la.latest if la is not None else None
        if la is None or r is None or fresh(r, a.as_of, max_age) is not None:
            continue
        if not (la.severe or la.grade3plus):
            continue
        kind = "severe" if la.severe else "grade ≥ 3"
        on = day_text((r.local_date - a.infusion_date).days)
        said = f"last {label} {value_text(r)} on {on} ({age_text(r, a.as_of)}), none since"
        stale.append((said, kind, result_evidence(f"latest {label} ({kind}), older than {max_age} days", r)))
    if not stale:
        return None
    said = "; ".join(s for s, _, _ in stale)
    first = stale[0][0] + (f" (+{len(stale) - 1} more)" if len(stale) > 1 else "")
    return Recommendation(
        "counts-overdue",
        f"{first[0].upper()}{first[1:]} — repeat the count",
        f"{said[0].upper()}{said[1:]}: repeat the blood count. No treatment advice rests on a value older than "
        f"{max_age} days.",
        "warning",
        "a severe (seed 000) or grade ≥ 3 (seed 001) value is the latest result and older than "
        f"{max_age} days (thresholds freshness.max_age_days), {day_text(a.day)} within day 0 to "
        f"+{int(rule['until_day'])} (counts_overdue.until_day)",
        f"{rule['source']}; {t['freshness']['source']}",
        tuple(e for _, _, e in stale),
    )


def transfusion_dependence(
    record: PatientRecord, day0: date, as_of: date, after_day: int, window_days: int, at_least: int
) -> dict[str, list[TherapyEvent]]:
    """Product ("red-cell", "platelet") → its transfusions after `after_day` within the `window_days` days up to
    `as_of`, for each product given at least `at_least` times (an unspecified blood product counts as either)."""
    since = max(day0 + timedelta(days=after_day + 1), as_of - timedelta(days=window_days - 1))
    kinds: dict[str, tuple[EventKind, ...]] = {
        "red-cell": ("rbc_transfusion", "blood_product_transfusion"),
        "platelet": ("platelet_transfusion", "blood_product_transfusion"),
    }
    out: dict[str, list[TherapyEvent]] = {}
    for product, ks in kinds.items():
        given = sorted((e for e in record.events_of(*ks) if since <= e.start <= as_of), key=lambda e: e.start)
        if len(given) >= at_least:
            out[product] = given
    return out


def prolonged_cytopenia(a: Assessment, profile: Profile) -> Recommendation | None:
    t: dict[str, Any] = profile.thresholds
    rule = t["prolonged_cytopenia"]
    after, until = int(rule["after_day"]), int(rule["until_day"])
    if a.as_of is None or a.day is None or a.infusion_date is None or not after < a.day <= until:
        return None
    day0 = a.infusion_date
    max_age = int(t["freshness"]["max_age_days"])
    reasons: list[Evidence] = []
    said: list[str] = []
    neutropenia = thrombocytopenia = False
    for lineage, label, key in (("neutrophils", "ANC", "anc_below"), ("platelets", "PLT", "plt_below")):
        la = a.lineages.get(lineage)
        r = fresh(la.latest if la is not None else None, a.as_of, max_age)
        cut = float(rule[key])
        if r is None or (r.local_date - day0).days <= after or not below(r, cut):
            continue
        on = day_text((r.local_date - day0).days)
        said.append(f"{label} {value_text(r)} on {on}")
        reasons.append(result_evidence(f"{label} < {cut:g} after day +{after} (prolonged_cytopenia.{key})", r))
        neutropenia |= lineage == "neutrophils"
        thrombocytopenia |= lineage == "platelets"
    window, at_least = int(rule["dependence_window_days"]), int(rule["dependence_transfusions"])
    for product, given in transfusion_dependence(a.record, day0, a.as_of, after, window, at_least).items():
        days = ", ".join(day_text((e.start - day0).days) for e in given)
        unspecified = sum(e.kind == "blood_product_transfusion" for e in given)
        of_which = f", {unspecified} of an unspecified product" if unspecified else ""
        said.append(f"{len(given)} {product} transfusions in the last {window} days ({days}{of_which})")
        reasons += [
            Evidence(
                f"{product} transfusion (dependence: ≥ {at_least} in {window} days after day +{after})",
                day_text((e.start - day0).days),
                e.start.isoformat(),
                e.source_id,
            )
            for e in given
        ]
        # the platelet option only for platelets known to have been given, not for an unspecified product
        thrombocytopenia |= product == "platelet" and unspecified < len(given)
    late = a.icaht_late
    grade_at_least = int(rule["late_icaht_grade_at_least"])
    # Late ICAHT grades the lowest ANC since day 30, so it stays 3 after recovery: it no longer counts as
    # *persisting* once the latest ANC is above late ICAHT's range (> 1.5, its grade 1 line). A stale latest ANC
    # in range still counts (nothing shows recovery; the overdue card asks for a count beside it).
    la = a.lineages.get("neutrophils")
    latest = la.latest if la is not None else None
    recovered = latest is not None and at_most(latest, float(rule["late_icaht_persisting_anc_at_most"])) is False
    if late is not None and late.grade is not None and late.grade >= grade_at_least and not recovered:
        lowest = "" if late.lowest is None else f", lowest ANC {series_text(late.lowest)} ×10⁹/L"
        said.append(f"late ICAHT grade {late.grade}{' (provisional)' if late.provisional else ''}{lowest}")
        reasons.append(
            Evidence(
                f"late ICAHT grade ≥ {grade_at_least} (prolonged_cytopenia.late_icaht_grade_at_least)",
                f"grade {late.grade}{lowest}",
            )
        )
        neutropenia = True
    if not reasons:
        return None
    options = []
    if thrombocytopenia:
        options.append(f"{rule['tpo']} — level of evidence: {rule['tpo_evidence']}")
    if neutropenia:
        options.append(f"{rule['cd34']} — level of evidence: {rule['cd34_evidence']}")
    text = f"Cytopenia persists past day +{after} ({'; '.join(said)}): {rule['workup']}."
    if options:
        text += " Options the EHA/EBMT consensus names for persistent cases, to evaluate (not an order): "
        text += "; ".join(options) + "."
    return Recommendation(
        "prolonged-cytopenia-evaluation",
        f"{day_text(a.day).capitalize()}: cytopenia persisting past day +{after} — evaluate (marrow, infection, drugs)",
        text,
        "warning",
        "prolonged cytopenia: " + "; ".join(dict.fromkeys(r.label for r in reasons)),
        f"{rule['source']}; transfusion dependence: {rule['dependence_source']}",
        tuple(reasons),
        facts={"options": len(options)},
    )
