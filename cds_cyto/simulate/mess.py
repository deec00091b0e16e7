"""Realistic data problems, injected on purpose and recorded, so tests can check what the engine makes of them.

Each kind is switchable through `MessRates`; `MESS_LEVELS` has `none` (all off), `default` (light: a few per
patient) and `heavy` (for tests). Kinds, and whether a correct reader must report them as a data problem:

- unit_variant: a blood count from an outside lab in other units (10*3/uL or /uL; g/dL or mmol/L) — no
- manual_code: ANC charted as a manual count (LOINC 753-4 instead of 751-8) — no
- amended: a preliminary result superseded by an amended one with the same code and time — no
- entered_in_error: an extra result marked entered-in-error — no
- duplicate: the same analyte, time and value in a second resource — no
- missing_day / weekend_gap: no blood count on a day that would have had one — no (nothing to report)
- unparseable_unit: a count with unit "cells" (no UCUM code, not an alias) — yes
- implausible_value: a unit slip that puts the value outside the analyte's plausible bounds — yes
"""

from __future__ import annotations

import math
import random
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from cds_cyto.simulate.catalogue import (
    ANALYTES,
    COUNT_ANALYTES,
    CRS_GRADE_CODE,
    MANUAL_ANC,
    Coding,
    reference_range,
)
from cds_cyto.simulate.trajectories import Sample

__all__ = [
    "DATA_PROBLEM_KINDS",
    "MESS_LEVELS",
    "Charted",
    "MessItem",
    "MessLevel",
    "MessRates",
    "apply_mess",
    "canonical_value",
    "plausible_bounds",
]

MessLevel = Literal["none", "default", "heavy"]
DATA_PROBLEM_KINDS = frozenset({"unparseable_unit", "implausible_value"})
_CBC_DROP_DAYS = range(15, 31)  # outpatient-ish days where a missed draw or a weekend gap is realistic
_BLOOD_COUNT = ("neutrophils", "hemoglobin", "platelets", "leukocytes", "lymphocytes", "neutrophils_pct")
_VARIANT_SCHEMES = (("10*3/uL", "g/dL"), ("/uL", "g/dL"), ("10*9/L", "mmol/L"))
_WRITTEN_DECIMALS = {"10*3/uL": None, "/uL": 0, "g/dL": 1, "mmol/L": 1}


@dataclass(frozen=True, slots=True)
class MessRates:
    """Expected numbers per patient (Poisson), except where a probability is said."""

    unit_variant_draws: float  # probability per blood-count draw
    manual_code: float  # probability per ANC result
    amended: float
    entered_in_error: float
    duplicate: float
    missing_day: float
    weekend_gap: float  # probability per patient of no blood counts on weekends, days 15-30
    unparseable_unit: float
    implausible_value: float


MESS_LEVELS: dict[MessLevel, MessRates] = {
    "none": MessRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "default": MessRates(0.03, 0.02, 0.5, 0.3, 1.0, 0.5, 0.15, 0.25, 0.25),
    "heavy": MessRates(0.15, 0.15, 4.0, 3.0, 6.0, 2.0, 0.5, 3.0, 3.0),
}


@dataclass(slots=True)
class Charted:
    """One Observation as it will be written, and what a correct reader makes of it."""

    id: str
    analyte: str
    coding: Coding
    day: int
    minute: int
    status: str
    value: float
    unit: str | None  # Quantity.unit
    ucum: str | None  # Quantity.code (system UCUM); None writes no system and no code
    ref: tuple[float, float] | None  # reference range in the written unit
    canonical: float | None  # the written value in the canonical unit; None if the unit cannot be read
    counts: bool  # a correct reader uses this value
    integer: bool = False  # valueInteger instead of valueQuantity


@dataclass(frozen=True, slots=True)
class MessItem:
    resource: str | None  # "Observation/<id>", or None for something missing
    kind: str
    analyte: str
    day: int
    detail: str

    @property
    def data_problem(self) -> bool:
        return self.kind in DATA_PROBLEM_KINDS

    def to_json(self) -> dict[str, object]:
        return {
            "resource": self.resource,
            "kind": self.kind,
            "data_problem": self.data_problem,
            "analyte": self.analyte,
            "day": self.day,
            "detail": self.detail,
        }


def _load_tables() -> tuple[dict[str, dict[str, float]], dict[str, tuple[float, float]]]:
    data = resources.files("cds_cyto.core.profile") / "data"
    units = tomllib.loads((data / "units.toml").read_text(encoding="utf-8"))
    analytes = tomllib.loads((data / "analytes.toml").read_text(encoding="utf-8"))
    dims = {name: units["dimensions"][spec["dimension"]]["factors"] for name, spec in analytes["analytes"].items()}
    bounds = {
        name: (float(spec["plausible"][0]), float(spec["plausible"][1])) for name, spec in analytes["analytes"].items()
    }
    return dims, bounds


_FACTORS, _BOUNDS = _load_tables()


def plausible_bounds(analyte: str) -> tuple[float, float]:
    return _BOUNDS[analyte]


def canonical_value(analyte: str, value: float, ucum: str) -> float:
    """The written value in the canonical unit, by the factors of cds_cyto/core/profile/data/units.toml."""
    code = ucum.split("{", maxsplit=1)[0] if analyte == "ddimer" else ucum
    return round(value * _FACTORS[analyte][code], 9)


def _write(value: float, unit: str) -> float:
    """A canonical value written in another unit, with the precision a lab would print."""
    if unit == "/uL":
        return float(round(value * 1000.0))
    if unit == "g/dL":
        return round(value / 10.0, 1)
    if unit == "mmol/L":
        return round(value * 0.06206, 1)
    return value


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0.0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _plain(sample: Sample, rid: str, sex: str) -> Charted:
    analyte = sample.analyte
    if analyte == "crs_grade":
        return Charted(
            rid,
            "crs_grade",
            CRS_GRADE_CODE,
            sample.day,
            sample.minute,
            "final",
            int(sample.value),
            None,
            None,
            None,
            sample.value,
            True,
            integer=True,
        )
    spec = ANALYTES[analyte]
    value: float = int(sample.value) if spec.decimals == 0 else sample.value
    ref = reference_range(analyte, sex) if spec.cbc else None
    return Charted(
        rid,
        analyte,
        spec.coding,
        sample.day,
        sample.minute,
        "final",
        value,
        spec.unit,
        spec.unit,
        ref,
        sample.value,
        True,
    )


def apply_mess(
    rng: random.Random,
    patient_id: str,
    samples: list[Sample],
    sex: str,
    rates: MessRates,
    infusion_weekday: int,
) -> tuple[list[Charted], list[MessItem]]:
    """Chart the samples as Observations, injecting the mess `rates` ask for. Ids do not depend on the mess."""
    ids = [f"{patient_id}-obs-{k + 1}" for k in range(len(samples))]
    if rates == MESS_LEVELS["none"]:
        return [_plain(s, rid, sex) for s, rid in zip(samples, ids, strict=True)], []
    items: list[MessItem] = []

    dropped_days: set[int] = set()
    cbc_days = sorted({s.day for s in samples if s.analyte == "neutrophils" and s.day in _CBC_DROP_DAYS})
    if cbc_days and rng.random() < rates.weekend_gap:
        for day in cbc_days:
            if (infusion_weekday + day) % 7 in (5, 6):
                dropped_days.add(day)
                items.append(MessItem(None, "weekend_gap", "blood_count", day, "no blood count on a weekend"))
    free_days = [d for d in cbc_days if d not in dropped_days]
    for day in rng.sample(free_days, min(len(free_days), _poisson(rng, rates.missing_day))):
        dropped_days.add(day)
        items.append(MessItem(None, "missing_day", "blood_count", day, "blood count not drawn"))
    keep = [k for k, s in enumerate(samples) if not (s.day in dropped_days and s.analyte in _BLOOD_COUNT)]

    charted = {k: _plain(samples[k], ids[k], sex) for k in keep}
    extras: dict[int, list[Charted]] = {}
    used: set[int] = set()

    def pick(eligible: list[int], count: int) -> list[int]:
        free = [k for k in eligible if k not in used]
        chosen = rng.sample(free, min(len(free), count))
        used.update(chosen)
        return sorted(chosen)

    def note(k: int, kind: str, detail: str) -> None:
        s = samples[k]
        items.append(MessItem(f"Observation/{charted[k].id}", kind, s.analyte, s.day, detail))

    # Outside-lab blood counts: the whole draw in other units.
    draws: dict[tuple[int, int], list[int]] = {}
    for k in keep:
        if samples[k].analyte in COUNT_ANALYTES or samples[k].analyte == "hemoglobin":
            draws.setdefault((samples[k].day, samples[k].minute), []).append(k)
    for key in sorted(draws):
        if rng.random() >= rates.unit_variant_draws:
            continue
        count_unit, hb_unit = _VARIANT_SCHEMES[rng.randrange(len(_VARIANT_SCHEMES))]
        for k in draws[key]:
            c = charted[k]
            unit = hb_unit if c.analyte == "hemoglobin" else count_unit
            if k in used or unit == c.unit:
                continue
            used.add(k)
            c.value = _write(float(c.value), unit)
            c.unit = c.ucum = unit
            if c.ref is not None:
                c.ref = (_write(c.ref[0], unit), _write(c.ref[1], unit))
            c.canonical = canonical_value(c.analyte, c.value, unit)
            note(k, "unit_variant", unit)

    anc = [k for k in keep if samples[k].analyte == "neutrophils"]
    for k in anc:
        if k not in used and rng.random() < rates.manual_code:
            used.add(k)
            charted[k].coding = MANUAL_ANC
            note(k, "manual_code", MANUAL_ANC.code)

    labs = [
        k
        for k in keep
        if samples[k].analyte in ANALYTES
        and samples[k].analyte != "marrow_blasts"
        and ANALYTES[samples[k].analyte].category == "laboratory"
    ]
    for k in pick(labs, _poisson(rng, rates.amended)):
        c = charted[k]
        factor = rng.choice((0.7, 0.8, 1.25, 1.4))
        c.status = "amended"
        extras.setdefault(k, []).append(_copy(c, f"{c.id}-p", status="preliminary", value=_scaled(c, factor)))
        note(k, "amended", f"supersedes preliminary Observation/{c.id}-p")
    for k in pick(labs, _poisson(rng, rates.entered_in_error)):
        c = charted[k]
        wrong = _copy(c, f"{c.id}-e", status="entered-in-error", value=_scaled(c, rng.choice((0.3, 2.5, 4.0))))
        extras.setdefault(k, []).append(wrong)
        items.append(
            MessItem(
                f"Observation/{wrong.id}",
                "entered_in_error",
                c.analyte,
                c.day,
                f"wrong value charted next to Observation/{c.id}",
            )
        )
    for k in pick(labs, _poisson(rng, rates.duplicate)):
        c = charted[k]
        dup = _copy(c, f"{c.id}-d")
        extras.setdefault(k, []).append(dup)
        items.append(MessItem(f"Observation/{dup.id}", "duplicate", c.analyte, c.day, f"copy of Observation/{c.id}"))

    counts = [k for k in keep if samples[k].analyte in COUNT_ANALYTES]
    for k in pick(counts, _poisson(rng, rates.unparseable_unit)):
        c = charted[k]
        c.value, c.unit, c.ucum, c.ref, c.canonical, c.counts = (
            _write(float(c.value), "/uL"),
            "cells",
            None,
            None,
            None,
            False,
        )
        note(k, "unparseable_unit", "unit 'cells' without a UCUM code")

    implausible = [k for k in keep if _slip(samples[k]) is not None]
    for k in pick(implausible, _poisson(rng, rates.implausible_value)):
        c = charted[k]
        slipped, what = _slip(samples[k]) or (0.0, "")
        c.value, c.canonical, c.counts = slipped, slipped, False
        lo, hi = plausible_bounds(c.analyte)
        assert not lo <= slipped <= hi, (c.analyte, slipped)
        note(k, "implausible_value", what)

    out: list[Charted] = []
    for k in keep:
        out.append(charted[k])
        out.extend(extras.get(k, ()))
    return out, items


def _slip(sample: Sample) -> tuple[float, str] | None:
    """A unit slip that lands outside the plausible bounds, or None if this value cannot be made one."""
    if sample.analyte == "hemoglobin":
        return float(round(sample.value * 10)), "g/dL-scale number x 100 charted as g/L"
    if sample.analyte == "neutrophils" and sample.value >= 0.25:
        return float(round(sample.value * 1000)), "cells/uL number charted as 10*9/L"
    if sample.analyte == "platelets" and sample.value >= 10:
        return float(round(sample.value * 1000)), "cells/uL number charted as 10*9/L"
    if sample.analyte == "temperature":
        return round(sample.value * 9.0 / 5.0 + 32.0, 1), "degrees Fahrenheit charted as Cel"
    return None


def _scaled(c: Charted, factor: float) -> float:
    """A wrong but plausible value (a preliminary or mis-charted result must not be an unintended data problem)."""
    spec = ANALYTES[c.analyte]
    value = float(c.value) * factor
    if not plausible_bounds(c.analyte)[0] <= value <= plausible_bounds(c.analyte)[1]:
        value = float(c.value) * 0.5
    wrong = round(value) if spec.decimals == 0 else round(value, spec.decimals)
    return wrong if wrong != c.value else float(c.value) + 10.0**-spec.decimals


def _copy(c: Charted, rid: str, *, status: str | None = None, value: float | None = None) -> Charted:
    return Charted(
        rid,
        c.analyte,
        c.coding,
        c.day,
        c.minute,
        status or c.status,
        c.value if value is None else value,
        c.unit,
        c.ucum,
        c.ref,
        c.canonical,
        False,
        c.integer,
    )
