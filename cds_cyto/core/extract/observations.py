"""Observations → normalised lab results and charted CRS grades, following clinical-reference §1
("rules that protect patients")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from cds_cyto.core.extract.fhir_json import codings, parse_instant
from cds_cyto.core.extract.lean import LeanObservation, Quantity
from cds_cyto.core.extract.problems import ProblemLog
from cds_cyto.core.extract.record import CrsGradeReading, LabResult
from cds_cyto.core.extract.units import UnitNormaliser, UnitProblem
from cds_cyto.core.profile import AnalyteDef, Profile
from cds_cyto.core.profile.unit_text import unit_text

__all__ = ["ObservationReader", "RawLab"]

EXCLUDED_STATUSES = frozenset({"entered-in-error", "cancelled", "registered"})
# Among results of one analyte at one instant, the highest rank supersedes the others.
STATUS_RANK = {"amended": 3, "corrected": 3, "final": 2}
_COMPARATORS = frozenset({"<", "<=", ">", ">="})
# What a panel's component takes from the panel, and what is its own (FHIR R4 Observation.component).
_PANEL_SHARED = ("resourceType", "status", "effectiveDateTime", "effectiveInstant", "effectivePeriod", "subject")
_COMPONENT_OWN = frozenset({"code", "dataAbsentReason", "referenceRange", "interpretation"})


# A result before supersession and duplicate handling, as a tuple that sorts by itself (this is the hot path):
# (POSIX time in µs, -status rank, source id, arrival number in its analyte's list, result). Integers compare much
# faster than aware datetimes with differing tzinfo objects, and exactly; the arrival number keeps the order total.
RawLab = tuple[int, int, str, int, LabResult]
# The lean route's reading of one (code, unit): factor, offset, plausible floor and ceiling, canonical unit, the
# UCUM unit the source unit resolved to, a note on the conversion, and the canonical values read so far by source
# value: `round(v * factor + offset, 9)` costs ~0.3 µs, and a patient's results and ranges repeat few values.
_Route = tuple[float, float, float, float, str, str, str | None, dict[float, float]]


class ObservationReader:
    def __init__(self, profile: Profile, problems: ProblemLog) -> None:
        self._profile = profile
        # A code under another name of its system (LOINC's OID, analytes.toml [code_systems]) is one more key of the
        # code table, so the hot path stays one lookup: "system|code" → (analyte, the code as the tables write it).
        codes = profile.observation_codes
        aliased = _aliased_codes(codes, profile.code_systems)
        self._codes = {**{k: (a, k) for k, a in codes.items()}, **{k: (codes[v], v) for k, v in aliased.items()}}
        crs = profile.crs_grade_observation_codes
        self._crs_codes = crs | _aliased_codes(dict.fromkeys(crs, ""), profile.code_systems).keys()
        self._units = UnitNormaliser(profile)
        self._problems = problems
        self.labs: dict[str, list[RawLab]] = {}
        self._instants: dict[str, tuple[datetime, date, int] | None] = {}  # a panel's results share one time
        self._routes: dict[tuple[str, str | None, str | None, str | None], _Route | Literal[False]] = {}
        self.crs_grades: list[CrsGradeReading] = []

    def read(self, obs: dict[str, Any], label: str) -> None:
        # The hot path (one call per Observation): plain dict checks, no helper calls on the common route.
        analyte_name = None
        matched_code = ""
        concept = obs.get("code")
        coding_list = concept.get("coding") if isinstance(concept, dict) else None
        for coding in coding_list if isinstance(coding_list, list) else ():
            if not isinstance(coding, dict):
                continue
            key = f"{coding.get('system')}|{coding.get('code')}"
            hit = self._codes.get(key)
            if hit is not None:
                analyte_name, matched_code = hit
                break
            if key in self._crs_codes:
                self._read_crs_grade(obs, label)
                return
        components = obs.get("component")
        if components:
            self._read_components(obs, components, label)
        if analyte_name is None:
            return  # not an analyte this service reads
        analyte = self._profile.analytes[analyte_name]
        status = obs.get("status")
        when = self._instant(_effective(obs))
        if status is not None and status.__class__ is not str:  # a list or object: whether it counts is unknown
            self._problems.warn(
                label, "unreadable", f"{analyte.label}: status is not a code; not used", when and when[1]
            )
            return
        if status in EXCLUDED_STATUSES:
            self._problems.info(
                label, "status-excluded", f"{analyte.label}: status {status} is not used", when and when[1]
            )
            return
        if when is None:
            self._problems.warn(label, "no-time", f"{analyte.label}: no usable effective date/time")
            return
        quantity = obs.get("valueQuantity")
        if not isinstance(quantity, dict):
            self._no_quantity(obs, label, analyte, when[1])
            return
        value: Any = quantity.get("value")
        if value.__class__ is bool or not isinstance(value, int | float):
            self._problems.warn(label, "non-numeric", f"{analyte.label}: valueQuantity has no numeric value", when[1])
            return
        system, code, unit = quantity.get("system"), quantity.get("code"), quantity.get("unit")
        try:
            conv = self._units.conversion(
                analyte,
                system if isinstance(system, str) else None,
                code if isinstance(code, str) else None,
                unit if isinstance(unit, str) else None,
                matched_code,
            )
        except UnitProblem as exc:
            problem = "unit-missing" if "no unit" in str(exc) else "unit-unknown"
            self._problems.warn(label, problem, f"{exc}; not graded", when[1])
            return
        # Rounded so that a conversion never moves a value across a cut-off by float noise (500 /uL is 0.5).
        canonical = round(value * conv.factor + conv.offset, 9)
        floor, ceiling = analyte.plausible
        canonical_unit = self._profile.dimensions[analyte.dimension].canonical
        if not floor <= canonical <= ceiling:
            self._problems.warn(
                label,
                "implausible",
                self._implausible(analyte, value, conv.ucum, canonical),
                when[1],
                analyte_name,
            )
            return
        comparator = quantity.get("comparator")
        ranges = obs.get("referenceRange")
        lln = None
        if ranges:
            # Most labs give the range in the value's own unit: reuse its conversion.
            first = ranges[0].get("low") if isinstance(ranges, list) and isinstance(ranges[0], dict) else None
            if (
                isinstance(first, dict)
                and first.get("unit") == unit
                and first.get("code") == code
                and first.get("system") == system
                and _is_number(first.get("value"))
            ):
                lln = round(first["value"] * conv.factor + conv.offset, 9)
            else:
                lln = self._lln(ranges, analyte, matched_code)
            if lln is not None and not floor <= lln <= ceiling:
                lln = None  # outside the plausibility bounds (NaN; usually a unit error) is no LLN (reference §1)
            if lln is None and any(isinstance(rr, dict) and "low" in rr for rr in ranges if isinstance(ranges, list)):
                self._problems.info(
                    label, "lln-unusable", f"{analyte.label}: reference range low not usable; no LLN", when[1]
                )
        self._keep(
            analyte_name,
            status,
            when,
            label,
            canonical,
            canonical_unit,
            float(value),
            unit if isinstance(unit, str) else conv.ucum,
            lln,
            comparator,
            conv.note,
        )

    def read_lean(self, obs: LeanObservation, label: str) -> None:
        """`read` for the common shape decoded by `extract.lean`: a coded, timed, final-or-amended Quantity in a
        known unit, plausible, with no range or a first range low in the value's own unit. Anything else takes the
        dict route through `read`, so every rule and every data problem lives in one place."""
        analyte_name = None
        matched_code = ""
        concept = obs.code
        if concept is not None and concept.coding:
            for coding in concept.coding:
                key = f"{coding.system}|{coding.code}"
                hit = self._codes.get(key)
                if hit is not None:
                    analyte_name, matched_code = hit
                    break
                if key in self._crs_codes:
                    self.read(obs.as_dict(), label)
                    return
        if obs.component:  # a panel: `read` reads its components
            self.read(obs.as_dict(), label)
            return
        if analyte_name is None:
            return  # not an analyte this service reads (as `read`)
        status = obs.status
        quantity = obs.valueQuantity
        text = obs.effectiveDateTime
        when = self._instants.get(text) if text else None
        if when is None and text:
            when = self._instant(text)
        if status in EXCLUDED_STATUSES or when is None or quantity is None or quantity.value is None:
            self.read(obs.as_dict(), label)
            return
        unit = quantity.unit
        route_key = (matched_code, quantity.system, quantity.code, unit)
        route = self._routes.get(route_key)
        if route is None:
            route = self._routes[route_key] = self._route(analyte_name, matched_code, quantity)
        if route is False:  # a unit problem: `read` words it
            self.read(obs.as_dict(), label)
            return
        factor, offset, floor, ceiling, canonical_unit, ucum, note, read = route
        value = quantity.value
        canonical = read.get(value)
        if canonical is None:
            canonical = read[value] = round(value * factor + offset, 9)
        lln = None
        if obs.referenceRange:
            low = obs.referenceRange[0].low
            if (
                low is not None
                and low.value is not None
                and low.unit == unit
                and low.code == quantity.code
                and low.system == quantity.system
            ):
                lln = read.get(low.value)
                if lln is None:
                    lln = read[low.value] = round(low.value * factor + offset, 9)
            if lln is None or not floor <= lln <= ceiling:
                self.read(obs.as_dict(), label)
                return
        if not floor <= canonical <= ceiling:
            self.read(obs.as_dict(), label)
            return
        # `_keep`, inlined: this is the one line run for every lab result (tests/core/test_lean_route.py holds
        # both routes to one record).
        comparator = quantity.comparator
        result = LabResult(
            analyte_name,
            canonical,
            canonical_unit,
            when[0],
            when[1],
            label,
            float(value),
            unit if unit is not None else ucum,
            lln,
            comparator if comparator in _COMPARATORS else None,
            False,
            note,
        )
        raw = self.labs.get(analyte_name)
        if raw is None:
            raw = self.labs[analyte_name] = []
        raw.append((when[2], -STATUS_RANK.get(status, 1) if status is not None else -1, label, len(raw), result))

    def _read_components(self, panel: dict[str, Any], components: Any, label: str) -> None:
        """A panel (e.g. a CBC, LOINC 58410-2) read component by component (clinical-reference §1): each with its own
        code, value, unit and range, and the panel's status and time; labelled "Observation/x#component[2]".
        A component whose code is none of ours is not our concern; one of ours is read, and judged, as any result."""
        if not isinstance(components, list):
            return
        shared = {k: panel[k] for k in _PANEL_SHARED if k in panel}
        for i, component in enumerate(components):
            if not isinstance(component, dict):
                continue
            part = {k: v for k, v in component.items() if k in _COMPONENT_OWN or k.startswith("value")}
            self.read({**shared, **part}, f"{label}#component[{i}]")

    def _route(self, analyte_name: str, matched_code: str, quantity: Quantity) -> _Route | Literal[False]:
        """How values of one analyte, code and unit are read, or False when the unit cannot be normalised."""
        analyte = self._profile.analytes[analyte_name]
        try:
            conv = self._units.conversion(analyte, quantity.system, quantity.code, quantity.unit, matched_code)
        except UnitProblem:
            return False
        floor, ceiling = analyte.plausible
        canonical_unit = self._profile.dimensions[analyte.dimension].canonical
        return (conv.factor, conv.offset, floor, ceiling, canonical_unit, conv.ucum, conv.note, {})

    def _keep(
        self,
        analyte_name: str,
        status: str | None,
        when: tuple[datetime, date, int],
        label: str,
        canonical: float,
        canonical_unit: str,
        value: float,
        unit: str,
        lln: float | None,
        comparator: Any,
        note: str | None,
    ) -> None:
        """The result both routes read, kept with its sort key until supersession and duplicates are settled."""
        result = LabResult(
            analyte_name,
            canonical,
            canonical_unit,
            when[0],
            when[1],
            label,
            value,
            unit,
            lln,
            comparator if comparator.__class__ is str and comparator in _COMPARATORS else None,
            False,
            note,
        )
        raw = self.labs.get(analyte_name)
        if raw is None:
            raw = self.labs[analyte_name] = []
        raw.append((when[2], -STATUS_RANK.get(status, 1) if status is not None else -1, label, len(raw), result))

    def _instant(self, text: Any) -> tuple[datetime, date, int] | None:
        """`parse_instant` and the POSIX time, remembered per text."""
        if text.__class__ is not str:
            parsed = parse_instant(text)
            return None if parsed is None else (parsed[0], parsed[1], _posix_us(parsed[0]))
        try:
            return self._instants[text]
        except KeyError:
            parsed = parse_instant(text)
            when = self._instants[text] = None if parsed is None else (parsed[0], parsed[1], _posix_us(parsed[0]))
            return when

    def _implausible(self, analyte: AnalyteDef, value: float, ucum: str, canonical: float) -> str:
        """ "Hemoglobin 11.2 g/L is implausible; if the unit is g/dL this is 112 g/L — verify (outside 30–250 g/L,
        likely a unit error); not graded": the hint is the analyte's commonest unit error, read through its factor."""
        dim = self._profile.dimensions[analyte.dimension]
        floor, ceiling = analyte.plausible
        unit = unit_text(dim.canonical)  # a reason is read by clinicians: units for people, never UCUM
        converted = "" if ucum == dim.canonical else f" = {canonical:g} {unit}"
        text = f"{analyte.label} {value:g} {unit_text(ucum)}{converted} is implausible"
        for hint in analyte.unit_error_hints:
            factor = dim.factors.get(hint)
            if factor is None or hint == ucum:
                continue
            reading = round(value * factor + dim.offsets.get(hint, 0.0), 9)
            if floor <= reading <= ceiling:
                text += f"; if the unit is {unit_text(hint)} this is {reading:g} {unit} — verify"
        return f"{text} (outside {floor:g}–{ceiling:g} {unit}, likely a unit error); not graded"

    def _no_quantity(self, obs: Mapping[str, Any], label: str, analyte: AnalyteDef, when: date) -> None:
        if "dataAbsentReason" in obs:
            self._problems.warn(label, "value-absent", f"{analyte.label}: value absent (dataAbsentReason)", when)
        elif any(k.startswith("value") for k in obs):
            # A text value such as "<0.1" carries no unit: it cannot be normalised, so it is never graded.
            self._problems.warn(label, "non-numeric", f"{analyte.label}: value is not a Quantity; not graded", when)
        else:
            self._problems.warn(label, "no-value", f"{analyte.label}: no value", when)

    def _lln(self, ranges: Any, analyte: AnalyteDef, loinc: str) -> float | None:
        if not isinstance(ranges, list):
            return None
        for rr in ranges:
            low = rr.get("low") if isinstance(rr, dict) else None
            if not isinstance(low, dict):
                continue
            value: Any = low.get("value")
            if value.__class__ is bool or not isinstance(value, int | float):
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
        status = obs.get("status")
        if status is not None and status.__class__ is not str:
            self._problems.warn(label, "crs-grade-unreadable", "CRS grade observation whose status is not a code")
            return
        if status in EXCLUDED_STATUSES:
            return
        when = parse_instant(_effective(obs))
        grade = _grade_value(obs)
        if when is None or grade is None:
            self._problems.warn(label, "crs-grade-unreadable", "CRS grade observation without a date or a 0–5 grade")
            return
        self.crs_grades.append(CrsGradeReading(when[1], grade, label))


def _aliased_codes(codes: Mapping[str, Any], systems: Mapping[str, str]) -> dict[str, str]:
    """{"urn:oid:2.16.840.1.113883.6.1|751-8": "http://loinc.org|751-8", …}: each code under each other system name."""
    out: dict[str, str] = {}
    for alias, system in systems.items():
        prefix = f"{system}|"
        for key in codes:
            if key.startswith(prefix):
                out[f"{alias}|{key[len(prefix) :]}"] = key
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _posix_us(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


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


def _is_number(value: Any) -> bool:
    return value.__class__ is not bool and isinstance(value, int | float)  # a JSON true is not a number


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
