"""Optional write-back (off by default): a RiskAssessment per patient and a Flag per alert, on the FHIR server.

Idempotent by identifier: every resource is sent as a conditional update (`PUT RiskAssessment?identifier=s|v`), so a
repeated or resumed sweep updates the same resources instead of adding copies. Each resource is validated against
the FHIR R4B models (fhir.resources) before anything is sent; one transaction per patient, all or nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from cds_cyto import __version__
from cds_cyto.sources import FhirClient, encode_query
from cds_cyto.store.alerts import AlertView

__all__ = [
    "ALERT_SYSTEM",
    "RECOMMENDATION_SYSTEM",
    "RISK_SYSTEM",
    "WriteBackError",
    "flag",
    "risk_assessment",
    "write_back",
    "write_back_bundle",
]

RISK_SYSTEM = "urn:cds-cyto:risk-assessment"
ALERT_SYSTEM = "urn:cds-cyto:alert"
RECOMMENDATION_SYSTEM = "urn:cds-cyto:recommendation"
_RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
_FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
_QUALITATIVE = {"critical": "high", "warning": "moderate", "info": "low"}


class WriteBackError(Exception):
    """A resource we built does not validate, or the server refused the transaction. Names no patient."""


def _grades_note(grades: Mapping[str, Any]) -> str:
    shown = [f"{name}: {value}" for name, value in grades.items() if value is not None]
    return "Grades — " + "; ".join(shown) if shown else "No grade available"


def risk_assessment(
    patient_id: str, assessment: Mapping[str, Any], grades: Mapping[str, Any], alerts: Sequence[AlertView]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "identifier": [{"system": RISK_SYSTEM, "value": patient_id}],
        "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"},
        "method": {"text": f"cds-cyto {__version__}: cytopenia after CAR-T cell therapy"},
        "note": [{"text": _grades_note(grades)}],
    }
    if assessment.get("as_of"):
        resource["occurrenceDateTime"] = assessment["as_of"]
    predictions = [
        {
            "outcome": {"coding": [{"system": RECOMMENDATION_SYSTEM, "code": a.code}], "text": a.summary},
            "qualitativeRisk": {"coding": [{"system": _RISK_PROBABILITY, "code": _QUALITATIVE[a.urgency]}]},
            "rationale": a.rule,
        }
        for a in alerts
        if a.state != "resolved" and a.urgency in _QUALITATIVE
    ]
    site = _site_prediction(assessment)
    if site is not None:
        predictions.append(site)
    if predictions:
        resource["prediction"] = predictions
    return resource


def _site_prediction(assessment: Mapping[str, Any]) -> dict[str, Any] | None:
    """The site model's probability, when it scored this patient, with its validation figures as the rationale."""
    site = (assessment.get("risk") or {}).get("site_model") or {}
    if site.get("status") != "scored" or site.get("probability") is None:
        return None
    v, t = site["validation"], site["training"]
    lo, hi = v["auc_cv_ci95"]
    return {
        "outcome": {"text": site["outcome"]["definition"]},
        "probabilityDecimal": site["probability"],
        "rationale": (
            f"{site['label']}: cross-validated AUC {v['auc_cv']:.2f} (95% CI {lo:.2f}-{hi:.2f}), calibration slope "
            f"{v['calibration_slope']:.2f}, intercept {v['calibration_intercept']:.2f}; fitted on {t['n']} patients "
            f"({t['events']} events, {t.get('population', 'population not stated')}), model of {t['created']}"
            + "".join(f"; caution: {c}" for c in site.get("cautions") or ())
        ),
    }


def flag(patient_id: str, alert: AlertView) -> dict[str, Any]:
    period: dict[str, str] = {"start": alert.opened_at.isoformat()}
    if alert.resolved_at is not None:
        period["end"] = alert.resolved_at.isoformat()
    return {
        "resourceType": "Flag",
        "identifier": [{"system": ALERT_SYSTEM, "value": alert.uid}],
        "status": "inactive" if alert.state == "resolved" else "active",
        "category": [{"coding": [{"system": _FLAG_CATEGORY, "code": "clinical", "display": "Clinical"}]}],
        "code": {"coding": [{"system": RECOMMENDATION_SYSTEM, "code": alert.code}], "text": alert.summary},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": period,
    }


def _validate(resource: Mapping[str, Any]) -> None:
    from fhir.resources.R4B.flag import Flag
    from fhir.resources.R4B.riskassessment import RiskAssessment

    model: Any = {"RiskAssessment": RiskAssessment, "Flag": Flag}[resource["resourceType"]]
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        raise WriteBackError(f"{resource['resourceType']} does not validate (R4B): {', '.join(fields)}") from None


def write_back_bundle(resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A transaction of conditional updates, each keyed by the resource's first identifier."""
    entries = []
    for resource in resources:
        _validate(resource)
        ident = resource["identifier"][0]
        query = encode_query({"identifier": f"{ident['system']}|{ident['value']}"})
        entries.append(
            {"resource": dict(resource), "request": {"method": "PUT", "url": f"{resource['resourceType']}?{query}"}}
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def write_back(
    client: FhirClient,
    patient_id: str,
    assessment: Mapping[str, Any],
    grades: Mapping[str, Any],
    alerts: Sequence[AlertView],
) -> int:
    """Send the patient's RiskAssessment and Flags; returns how many resources were written."""
    resources = [risk_assessment(patient_id, assessment, grades, alerts)]
    resources += [flag(patient_id, a) for a in alerts]
    await client.transaction(write_back_bundle(resources))
    return len(resources)
