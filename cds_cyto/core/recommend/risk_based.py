"""Recommendations that rest on the risk picture (pure; every threshold from thresholds.toml or risk.toml).

- `risk_recommendations` → (recommendations, extended-monitoring reasons):
  * `gcsf-prophylaxis` — see `prophylaxis.py`: inside its start window (thresholds gcsf_prophylaxis.from_day to
    start_until_day), no G-CSF since day 0, no recovered neutropenia episode, and not when the therapeutic card
    applies.
  * extended-monitoring reasons (Evidence for the lead's `extended-monitoring` card): CRS grade ≥
    thresholds.extended_monitoring.crs_grade_at_least; late CRS onset; late CRS recovery (risk.toml [crs.late]);
    high CAR-HEMATOTOX (the baseline score alone, as §8 lists it).
- `antibacterial_prophylaxis` → a `CardAddition` for the `gcsf-therapeutic` card: high CAR-HEMATOTOX risk and a fresh
  ANC < 0.5 ×10⁹/L (EHA/EBMT: antibacterial prophylaxis may be considered). There is no topic code of its own, and the
  prophylaxis card is silent exactly then, so the sentence and its evidence belong on the therapeutic card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_cyto.core.assessment.recommendation import Evidence, Recommendation
from cds_cyto.core.extract.record import LabResult, PatientRecord
from cds_cyto.core.grading.interval import below
from cds_cyto.core.profile import Profile
from cds_cyto.core.recommend.evidence import (
    day_text,
    fresh,
    result_evidence,
)
from cds_cyto.core.recommend.prophylaxis import gcsf_prophylaxis, score_text
from cds_cyto.core.risk.engine import RiskAssessment

__all__ = ["CardAddition", "antibacterial_prophylaxis", "risk_recommendations"]


@dataclass(frozen=True, slots=True)
class CardAddition:
    """A sentence and evidence to add to another card (`code`), with the rule and citation they rest on."""

    code: str
    text: str
    rule: str
    citation: str
    evidence: tuple[Evidence, ...]


# Where a CRS feature came from (risk/crs.py), as a clinician reads it.
_SOURCE_WORDS = {
    "condition": "CRS diagnosis",
    "observation": "charted daily grades",
    "temperature": "temperatures",
    "fever-derived": "temperatures",
    "none": "record",
}


def _source_words(source: str) -> str:
    return _SOURCE_WORDS.get(source, "record")


def _day(day: int) -> str:
    return day_text(day)


def _anc_evidence(r: LabResult) -> Evidence:
    return result_evidence("ANC", r)


def _monitoring_reasons(risk: RiskAssessment, day: int | None, profile: Profile) -> list[Evidence]:
    if day is None or day < 0:
        return []
    t = profile.thresholds
    data = risk.data
    crs = risk.crs
    reasons: list[Evidence] = []
    where = crs.source_ids[0] if crs.source_ids else None
    cut = int(t["extended_monitoring"]["crs_grade_at_least"])
    if crs.max_grade is not None and crs.max_grade >= cut:
        peak = crs.date_of(crs.peak_day)
        reasons.append(
            Evidence(
                f"CRS grade ≥ {cut} (thresholds extended_monitoring.crs_grade_at_least; {data.severe_source})",
                f"maximum grade {crs.max_grade} (from the {_source_words(crs.sources.get('max_grade', crs.source))})"
                + (f", first reached on {_day(crs.peak_day)}" if crs.peak_day is not None else ""),
                None if peak is None else peak.isoformat(),
                where,
            )
        )
    recorded = crs.source in ("condition", "observation")
    if recorded and crs.onset_day is not None and crs.onset_day > data.late_onset_after_day:
        onset = crs.date_of(crs.onset_day)
        reasons.append(
            Evidence(
                f"late CRS onset: after day +{data.late_onset_after_day} ({data.late_onset_source})",
                f"CRS onset {_day(crs.onset_day)} ({crs.sources.get('onset', crs.source)})",
                None if onset is None else onset.isoformat(),
                where,
            )
        )
    if recorded and crs.onset_day is not None and (crs.recovery_day is not None or crs.ongoing):
        end = crs.recovery_day if crs.recovery_day is not None else day
        duration = end - crs.onset_day
        if duration > data.late_duration_over_days:
            value = (
                f"CRS {_day(crs.onset_day)} → recovered {_day(crs.recovery_day)} ({duration} days)"
                if crs.recovery_day is not None
                else f"CRS from {_day(crs.onset_day)} not recovered by {_day(day)} ({duration} days so far)"
            )
            when = crs.date_of(end)
            reasons.append(
                Evidence(
                    f"late CRS recovery: CRS longer than {data.late_duration_over_days} days "
                    f"({data.late_duration_source})",
                    value,
                    None if when is None else when.isoformat(),
                    where,
                )
            )
    h = risk.hematotox
    if h.high_risk:
        # §8 names high CAR-HEMATOTOX on its own (a baseline score: it holds from day 0 whatever today's ANC is).
        window = None if h.window is None else h.window.last.isoformat()
        reasons.append(
            Evidence(
                f"high CAR-HEMATOTOX (≥ {h.high_risk_at_least}; {data.monitoring_hematotox_source})",
                f"score {score_text(h)} before lymphodepletion",
                window,
                None,
            )
        )
    return reasons


def risk_recommendations(
    risk: RiskAssessment,
    record: PatientRecord,
    as_of: date,
    day: int | None,
    latest_anc: LabResult | None,
    profile: Profile,
    *,
    anc_recovered_day: int | None = None,
) -> tuple[list[Recommendation], list[Evidence]]:
    """(recommendations, extended-monitoring reasons). `day` = as_of − infusion date (None without an infusion);
    `latest_anc` = the latest ANC on or before `as_of` (the engine checks its freshness itself);
    `anc_recovered_day` = the day a neutropenia episode (seed 000) recovered, if one did."""
    recs: list[Recommendation] = []
    prophylaxis = gcsf_prophylaxis(risk, record, as_of, day, latest_anc, profile.thresholds, anc_recovered_day)
    if prophylaxis is not None:
        recs.append(prophylaxis)
    return recs, _monitoring_reasons(risk, day, profile)


def antibacterial_prophylaxis(
    risk: RiskAssessment,
    as_of: date,
    day: int | None,
    latest_anc: LabResult | None,
    profile: Profile,
) -> CardAddition | None:
    """For the `gcsf-therapeutic` card: high CAR-HEMATOTOX and a fresh ANC below risk.toml antibacterial.anc_below."""
    if day is None or day < 0 or not risk.hematotox.high_risk:
        return None
    anc = fresh(latest_anc, as_of, int(profile.thresholds["freshness"]["max_age_days"]))
    cut = risk.data.antibacterial_anc_below
    if anc is None or not below(anc, cut):  # unknown (censored across the cut) adds nothing
        return None
    return CardAddition(
        "gcsf-therapeutic",
        risk.data.antibacterial_text,
        f"CAR-HEMATOTOX high risk (≥ {risk.hematotox.high_risk_at_least}) and latest ANC < {cut:g} ×10⁹/L "
        "(risk.toml antibacterial.anc_below)",
        risk.data.antibacterial_source,
        (
            Evidence("CAR-HEMATOTOX score", f"{score_text(risk.hematotox)} (high risk)"),
            _anc_evidence(anc),
        ),
    )
