"""The extended-monitoring card (clinical-reference.md §8): counts beyond day 28 for patients at risk of prolonged
cytopenia — CRS ≥ grade 3, late CRS onset or recovery, high CAR-HEMATOTOX (the risk
engine's reasons, up to day 28), a severe count after day 21 on a fresh result, or PHT at day 28; to day +100; not
beside the prolonged-cytopenia evaluation card. At least a warning
for a severe count after day 21, or active CRS ≥ grade 3 with severe neutropenia (thresholds urgency)."""

from __future__ import annotations

from typing import Any

from cds_cyto.core.assessment.recommendation import Evidence, Recommendation, Urgency
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.profile import Profile
from cds_cyto.core.recommend.context import escalation
from cds_cyto.core.recommend.evidence import day_text, fresh, result_evidence

__all__ = ["extended_monitoring"]


_LINEAGE_WORDS = {"neutrophils": "neutropenia", "hemoglobin": "anemia", "platelets": "thrombocytopenia"}


def extended_monitoring(a: Assessment, profile: Profile, risk_reasons: list[Evidence]) -> Recommendation | None:
    t: dict[str, Any] = profile.thresholds
    if a.as_of is None or a.day is None or a.infusion_date is None:
        return None
    rule = t["extended_monitoring"]
    beyond = int(rule["beyond_day"])
    pht_days = {"seed000": int(profile.pht["day"]), "seed001": int(profile.pht["seed001_day"])}
    if a.day > int(rule["until_day"]):
        return None
    after = int(rule["severe_after_day"])
    max_age = int(t["freshness"]["max_age_days"])
    reasons: list[Evidence] = []
    if a.day > after:
        for name, la in a.lineages.items():
            latest = fresh(la.latest, a.as_of, max_age)  # a weeks-old severe value is not "ongoing"
            if la.severe and latest is not None and (latest.local_date - a.infusion_date).days > after:
                reasons.append(result_evidence(f"severe {_LINEAGE_WORDS.get(name, name)} after day {after}", latest))
    for profile_name, value in a.pht_day28.items():
        if value:
            label = (
                f"prolonged toxicity at day {pht_days[profile_name]} (SN/SA/ST)"
                if profile_name == "seed000"
                else f"not recovered at day {pht_days[profile_name]}"
            )
            reasons.append(Evidence(label, "yes"))
    if a.day <= beyond:
        # risk alone (CRS, CAR-HEMATOTOX) is a reason to plan counts beyond day 28; once there, the counts speak
        reasons += risk_reasons
    if not reasons:
        return None
    why_warning = escalation(a, profile)
    severe_after = any(r.label.startswith("severe") for r in reasons)
    urgency: Urgency = "warning" if severe_after or why_warning is not None else "info"
    text = (
        f"Continue blood counts beyond day {beyond} (e.g. {rule['schedule']}); if cytopenia persists, evaluate the "
        "marrow."
    )
    rule_text = "extended monitoring: " + "; ".join(r.label for r in reasons)
    citation = f"{rule['source']}; schedule: {rule['schedule_source']}"
    if why_warning is not None:
        text = f"{why_warning[0].upper()}{why_warning[1:]}. {text}"
        rule_text += f"; at least a warning: {why_warning} (thresholds urgency)"
        citation += f"; {t['urgency']['source']}"
    return Recommendation(
        "extended-monitoring",
        f"{day_text(a.day).capitalize()}: risk of prolonged cytopenia — blood counts beyond day {beyond}",
        text,
        urgency,
        rule_text,
        citation,
        tuple(reasons),
    )
