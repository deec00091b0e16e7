"""A one-patient FHIR Bundle of exactly N Observations: 90 days of CBC with differential plus cytokines.

Shared by the benchmarks so that every figure is measured on the same shape of data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = ["make_patient_bundle"]

_TZ = timezone(timedelta(hours=1))
Curve = Callable[[int], float]  # value on a day after infusion
_CBC: tuple[tuple[str, str, Curve, float], ...] = (
    ("751-8", "10*9/L", lambda d: 0.3 + 3.0 * (1 - math.exp(-max(d, 0) / 20)) if d >= 2 else 2.4, 1.8),
    ("718-7", "g/L", lambda d: 95 - 20 * math.exp(-((d - 8) ** 2) / 60), 120),
    ("777-3", "10*9/L", lambda d: 110 - 90 * math.exp(-((d - 10) ** 2) / 80), 150),
    ("6690-2", "10*9/L", lambda d: 4.0 - 3 * math.exp(-((d - 6) ** 2) / 50), 4.0),
    ("731-0", "10*9/L", lambda d: 0.9 - 0.7 * math.exp(-((d - 4) ** 2) / 40), 1.0),
    ("770-8", "%", lambda d: 60.0, 40.0),
)
_MARKERS: tuple[tuple[str, str, Curve], ...] = (
    ("26881-3", "pg/mL", lambda d: 5 + 400 * math.exp(-((d - 4) ** 2) / 8)),
    ("26848-2", "pg/mL", lambda d: 3 + 80 * math.exp(-((d - 5) ** 2) / 10)),
    ("27415-9", "pg/mL", lambda d: 2 + 60 * math.exp(-((d - 5) ** 2) / 10)),
    ("2276-4", "ng/mL", lambda d: 400 + 3000 * math.exp(-((d - 7) ** 2) / 30)),
    ("48065-7", "ug/mL{FEU}", lambda d: 0.5 + 6 * math.exp(-((d - 7) ** 2) / 20)),
    ("1988-5", "mg/L", lambda d: 5 + 150 * math.exp(-((d - 4) ** 2) / 10)),
    ("2532-0", "U/L", lambda d: 250 + 300 * math.exp(-((d - 5) ** 2) / 20)),
)


def _obs(pid: str, n: int, code: str, unit: str, value: float, at: datetime, low: float | None) -> dict[str, Any]:
    q = {"value": round(value, 3), "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{pid}-obs-{n}",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": q,
    }
    if low is not None:
        obs["referenceRange"] = [{"low": {**q, "value": low}}]
    return obs


def make_patient_bundle(
    n_observations: int = 1500, pid: str = "bench-1", day0: date = date(2026, 3, 1)
) -> dict[str, Any]:
    start = datetime(day0.year, day0.month, day0.day, 7, 0, tzinfo=_TZ) - timedelta(days=5)
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1961-04-02"},
        {
            "resourceType": "Procedure",
            "id": f"{pid}-cart",
            "status": "completed",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1156961008"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "performedDateTime": day0.isoformat(),
        },
    ]
    n = 0
    step = 0
    while n < n_observations:
        at = start + timedelta(hours=12 * step)
        day = (at.date() - day0).days
        for code, unit, curve, low in _CBC:
            if n < n_observations:
                resources.append(_obs(pid, n, code, unit, curve(day), at, low))
                n += 1
        if step % 3 == 0:
            for code, unit, curve in _MARKERS:
                if n < n_observations:
                    resources.append(_obs(pid, n, code, unit, curve(day), at, None))
                    n += 1
        step += 1
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
