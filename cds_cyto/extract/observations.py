"""Observations → normalised lab results and charted CRS grades, following clinical-reference §1
("rules that protect patients")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_cyto.extract.fhir_json import codings, parse_instant
from cds_cyto.extract.problems import ProblemLog
from cds_cyto.extract.units import UnitNormaliser, UnitProblem
from cds_cyto.profile import AnalyteDef, Profile
from cds_cyto.record import CrsGradeReading, LabResult

__all__ = ["ObservationReader", "RawLab"]

EXCLUDED_STATUSES = frozenset({"entered-in-error", "cancelled", "registered"})
# Among results of one analyte at one instant, the highest rank supersedes the others.
STATUS_RANK = {"amended": 3, "corrected": 3, "final": 2}
_COMPARATORS = frozenset({"<", "<=", ">", ">="})


class RawLab:
    """A result before supersession and duplicate handling (a plain class: this is the hot path)."""

    __slots__ = ("rank", "result")

    def __init__(self, result: LabResult, rank: int) -> None:
        self.result = result
        self.rank = rank


class ObservationReader:
    def __init__(self, profile: Profile, problems: ProblemLog) -> None:
        self._profile = profile
        self._codes = profile.observation_codes
        self._crs_codes = profile.crs_grade_observation_codes
        self._units = UnitNormaliser(profile)
        self._problems = problems
        self.labs: dict[str, list[RawLab]] = {}
        self.crs_grades: list[CrsGradeReading] = []

    def read(self, obs: Mapping[str, Any], label: str) -> None:
        analyte_name = None
        matched_code = ""
        for code in codings(obs.get("code")):
            analyte_name = self._codes.get(code)
            if analyte_name is not None:
                matched_code = code
                break
            if code in self._crs_codes:
                self._read_crs_grade(obs, label)
                return
        if analyte_name is None:
            return  # not an analyte this service reads
        analyte = self._profile.analytes[analyte_name]
        status = obs.get("status")
        if status in EXCLUDED_STATUSES:
            self._problems.info(label, "status-excluded", f"{analyte.label}: status {status} is not used")
            return
        when = parse_instant(_effective(obs))
        if when is None:
            self._problems.warn(label, "no-time", f"{analyte.label}: no usable effective date/time")
            return
        quantity = obs.get("valueQuantity")
        if not isinstance(quantity, Mapping):
            self._no_quantity(obs, label, analyte)
            return
        value = quantity.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._problems.warn(label, "non-numeric", f"{analyte.label}: valueQuantity has no numeric value")
            return
        loinc = matched_code
        try:
            conv = self._units.conversion(
                analyte,
                _str(quantity.get("system")),
                _str(quantity.get("code")),
                _str(quantity.get("unit")),
                loinc,
            )
        except UnitProblem as exc:
            code = "unit-missing" if "no unit" in str(exc) else "unit-unknown"
            self._problems.warn(label, code, f"{exc}; not graded")
            return
        # Rounded so that a conversion never moves a value across a cut-off by float noise (500 /uL is 0.5).
        canonical = round(value * conv.factor + conv.offset, 9)
        low, high = analyte.plausible
        if not low <= canonical <= high:
            self._problems.warn(
                label,
                "implausible",
                f"{analyte.label}: {value} {quantity.get('unit') or conv.ucum} = {canonical:g} "
                f"{self._profile.dimensions[analyte.dimension].canonical} is outside {low:g}–{high:g} "
                "(likely a unit error); not graded",
            )
            return
        comparator = quantity.get("comparator")
        result = LabResult(
            analyte=analyte_name,
            value=canonical,
            unit=self._profile.dimensions[analyte.dimension].canonical,
            time=when[0],
            local_date=when[1],
            source_id=label,
            original_value=float(value),
            original_unit=_str(quantity.get("unit")) or conv.ucum,
            lln=self._lln(obs, analyte, loinc),
            censored=comparator if comparator in _COMPARATORS else None,
            note=conv.note,
        )
        rank = STATUS_RANK.get(status, 1) if isinstance(status, str) else 1
        self.labs.setdefault(analyte_name, []).append(RawLab(result, rank))

    def _no_quantity(self, obs: Mapping[str, Any], label: str, analyte: AnalyteDef) -> None:
        if "dataAbsentReason" in obs:
            self._problems.warn(label, "value-absent", f"{analyte.label}: value absent (dataAbsentReason)")
        elif any(k.startswith("value") for k in obs):
            # A text value such as "<0.1" carries no unit: it cannot be normalised, so it is never graded.
            self._problems.warn(label, "non-numeric", f"{analyte.label}: value is not a Quantity; not graded")
        else:
            self._problems.warn(label, "no-value", f"{analyte.label}: no value")

    def _lln(self, obs: Mapping[str, Any], analyte: AnalyteDef, loinc: str) -> float | None:
        ranges = obs.get("referenceRange")
        if not isinstance(ranges, list):
            return None
        for rr in ranges:
            low = rr.get("low") if isinstance(rr, Mapping) else None
            if not isinstance(low, Mapping):
                continue
            value = low.get("value")
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            try:
                conv = self._units.conversion(
                    analyte,
                    _str(low.get("system")),
                    _str(low.get("code")),
                    _str(low.get("unit")),
                    loinc,
                )
            except UnitProblem:
                return None  # an LLN in an unknown unit is no LLN: grade 1 then needs a site default
            return round(value * conv.factor + conv.offset, 9)
        return None

    def _read_crs_grade(self, obs: Mapping[str, Any], label: str) -> None:
        if obs.get("status") in EXCLUDED_STATUSES:
            return
        when = parse_instant(_effective(obs))
        grade = _grade_value(obs)
        if when is None or grade is None:
            self._problems.warn(label, "crs-grade-unreadable", "CRS grade observation without a date or a 0–5 grade")
            return
        self.crs_grades.append(CrsGradeReading(when[1], grade, label))


def _effective(obs: Mapping[str, Any]) -> Any:
    value = obs.get("effectiveDateTime") or obs.get("effectiveInstant")
    if value is None:
        period = obs.get("effectivePeriod")
        if isinstance(period, Mapping):
            value = period.get("start")
    return value


def _grade_value(obs: Mapping[str, Any]) -> int | None:
    raw: Any = obs.get("valueInteger")
    if raw is None and isinstance(obs.get("valueQuantity"), Mapping):
        raw = obs["valueQuantity"].get("value")
    if raw is None:
        for code in codings(obs.get("valueCodeableConcept")):
            raw = code.rpartition("|")[2]
            break
    try:
        grade = int(raw) if not isinstance(raw, bool) and raw is not None else None
    except (TypeError, ValueError):
        return None
    if grade is None or not 0 <= grade <= 5 or (isinstance(raw, float) and raw != grade):
        return None
    return grade


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
