"""Draft FHIR R4 resources that a card suggests (MedicationRequest for filgrastim, ServiceRequests for a
transfusion, a blood-count schedule or one overdue count). A card whose product was already given, and the
prolonged-cytopenia evaluation (it prompts a work-up, never an order), offer none. Built as plain JSON; `tests/cds`
validates them with fhir.resources."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cds_cyto.core.assessment.recommendation import Recommendation
from cds_cyto.core.assessment.result import Assessment
from cds_cyto.core.profile import Profile

__all__ = ["draft_for"]

_SNOMED = "http://snomed.info/sct"


def _base(resource_type: str, a: Assessment, rec: Recommendation) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": resource_type, "status": "draft", "intent": "proposal"}
    if a.patient_id:
        out["subject"] = {"reference": f"Patient/{a.patient_id}"}
    out["note"] = [{"text": f"Suggested by cds-cyto: {rec.rule}. {rec.citation}"}]
    return out


def _gcsf(a: Assessment, rec: Recommendation, rule: dict[str, Any]) -> dict[str, Any]:
    r = _base("MedicationRequest", a, rec)
    system, _, code = str(rule["drug_code"]).rpartition("|")
    name = str(rule["drug"])
    r["medicationCodeableConcept"] = {"coding": [{"system": system, "code": code, "display": name}], "text": name}
    r["dosageInstruction"] = [{"text": str(rule["draft_dosage"])}]
    return r


def _transfusion(a: Assessment, rec: Recommendation, code: str, text: str) -> dict[str, Any]:
    r = _base("ServiceRequest", a, rec)
    r["code"] = {"coding": [{"system": _SNOMED, "code": code}], "text": text}
    r["quantityQuantity"] = {"value": 1, "unit": "unit"}
    return r


def _blood_count(
    a: Assessment, rec: Recommendation, per_week: int | None, window: tuple[int, int] | None = None
) -> dict[str, Any]:
    r = _base("ServiceRequest", a, rec)
    # No verified public code for "CBC schedule" is in the project's references: text only, never a guessed code.
    r["code"] = {"text": "Complete blood count with differential"}
    if per_week is not None:  # a schedule; without one, a single count
        repeat: dict[str, Any] = {"frequency": per_week, "period": 1, "periodUnit": "wk"}
        if window is not None and a.infusion_date is not None and a.as_of is not None:
            # the schedule is for the days *beyond* day 28 (§8), to day +100: accepting it early must not replace
            # the closer counts of the first weeks
            start = max(a.as_of, a.infusion_date + timedelta(days=window[0] + 1))
            end = a.infusion_date + timedelta(days=window[1])
            repeat["boundsPeriod"] = {"start": start.isoformat(), "end": end.isoformat()}
        r["occurrenceTiming"] = {"repeat": repeat}
    return r


def draft_for(rec: Recommendation, a: Assessment, profile: Profile) -> tuple[str, dict[str, Any]] | None:
    t = profile.thresholds
    if (
        rec.code in ("gcsf-therapeutic", "gcsf-prophylaxis")
        and not rec.facts.get("already_given")
        and not rec.facts.get("unidentified_medication")  # it may have been G-CSF: no order until checked
    ):
        gcsf = t["gcsf_therapeutic"]
        return f"Draft {gcsf['drug']} order ({gcsf['dose']})", _gcsf(a, rec, gcsf)
    if rec.code in ("rbc-transfusion", "platelet-transfusion") and rec.facts.get("already_given"):
        return None  # given after the count: re-check first, no second unit offered
    if rec.code == "rbc-transfusion":
        return "Draft request: 1 unit irradiated red cells", _transfusion(
            a, rec, "116863004", "Irradiated packed red cells, 1 unit"
        )
    if rec.code == "platelet-transfusion":
        return "Draft request: irradiated platelet transfusion", _transfusion(
            a, rec, "12719002", "Irradiated platelets, 1 unit"
        )
    if rec.code == "extended-monitoring":
        rule = t["extended_monitoring"]
        window = (int(rule["beyond_day"]), int(rule["until_day"]))
        return f"Draft order: blood counts {rule['schedule']}", _blood_count(
            a, rec, int(rule["schedule_per_week"]), window
        )
    if rec.code == "counts-overdue":
        return "Draft order: blood count with differential", _blood_count(a, rec, None)
    return None
