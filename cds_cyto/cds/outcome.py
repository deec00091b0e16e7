"""OperationOutcome bodies for errors, each with a stable code (in `issue.details.coding`)."""

from __future__ import annotations

from typing import Any

__all__ = ["ERROR_SYSTEM", "operation_outcome"]

ERROR_SYSTEM = "urn:cds-cyto:error"


def operation_outcome(
    code: str, text: str, *, fhir_code: str = "invalid", expression: str | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error",
        "code": fhir_code,
        "details": {"coding": [{"system": ERROR_SYSTEM, "code": code}], "text": text},
        "diagnostics": text,
    }
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
