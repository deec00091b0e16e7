"""Property tests (hypothesis): unit conversions round-trip; a grade never improves as a value falls; arbitrary
junk inside a Bundle never raises — it becomes data problems; the order of a Bundle's entries does not matter."""

from __future__ import annotations

import copy
import json
import os
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_cyto.core.evaluate import evaluate
from cds_cyto.core.extract import extract_record
from cds_cyto.core.grading import ctcae
from cds_cyto.core.grading.icaht import early_icaht, early_t_icaht, late_icaht, late_t_icaht
from cds_cyto.core.grading.pht import pht_seed000
from cds_cyto.core.profile import LINEAGES, default_profile
from tests.support.fhir import (
    DAY0,
    FILGRASTIM,
    PLATELET_TRANSFUSION,
    UCUM,
    at,
    bundle,
    day_date,
    infusion,
    med_admin,
    obs,
    patient,
    procedure,
)

PROFILE = default_profile()
# Modest by default (the whole tests/core run stays well under a minute); CORE_HYPOTHESIS_SCALE=20 for a deep run.
_SCALE = float(os.environ.get("CORE_HYPOTHESIS_SCALE", "1"))
SETTINGS = settings(max_examples=int(200 * _SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=int(100 * _SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A representative analyte (and LOINC key in builders) per dimension.
REPRESENTATIVE = {
    "count": "neutrophils",
    "percent": "neutrophils_pct",
    "hemoglobin": "hemoglobin",
    "crp": "crp",
    "ferritin": "ferritin",
    "cytokine": "il6",
    "ddimer": "ddimer",
    "enzyme": "ldh",
    "fibrinogen": "fibrinogen",
    "temperature": "temperature",
}
UNIT_CASES = [(dim, code) for dim, d in PROFILE.dimensions.items() for code in d.factors]
ALIAS_CASES = [
    (spelling, ucum, dim)
    for spelling, ucum in PROFILE.unit_aliases.items()
    for dim, d in PROFILE.dimensions.items()
    if ucum.replace("{FEU}", "") in d.factors and not ucum.endswith("{DDU}")
]


def _extract_value(analyte_key: str, quantity: dict[str, Any]) -> float | None:
    record = extract_record(bundle(infusion(), obs(analyte_key, None, None, day=1, quantity=quantity)))
    name = {"hemoglobin_mmol": "hemoglobin", "ddimer_ddu": "ddimer"}.get(analyte_key, analyte_key)
    results = record.series(name)
    return results[0].value if results else None


# ---------------------------------------------------------------------------------------------------------------
# Unit conversions round-trip
# ---------------------------------------------------------------------------------------------------------------


@SETTINGS
@given(case=st.sampled_from(UNIT_CASES), fraction=st.floats(min_value=0.0, max_value=1.0))
def test_unit_round_trip(case: tuple[str, str], fraction: float) -> None:
    """canonical → written in unit u → extracted → the same canonical value (to the 9-decimal rounding)."""
    dim, unit = case
    analyte = REPRESENTATIVE[dim]
    if dim == "hemoglobin" and unit == "mmol/L":
        analyte = "hemoglobin_mmol"
    low, high = PROFILE.analytes[REPRESENTATIVE[dim]].plausible
    canonical = low + (min(high, 1000.0) - low) * fraction
    factor, offset = PROFILE.dimensions[dim].factors[unit], PROFILE.dimensions[dim].offsets.get(unit, 0.0)
    written = (canonical - offset) / factor
    got = _extract_value(analyte, {"value": written, "system": UCUM, "code": unit, "unit": unit})
    if got is None:  # only when float error pushed a bound value just outside the plausibility range
        assert canonical in (low, high) or not low < canonical < high
        return
    assert abs(got - canonical) <= 1e-6 * max(1.0, abs(canonical))
    back = (got - offset) / factor
    assert abs(back - written) <= 1e-6 * max(1.0, abs(written))


@SETTINGS
@given(case=st.sampled_from(ALIAS_CASES), value=st.decimals(min_value=0, max_value=200, places=2))
def test_alias_spelling_equals_its_ucum_code(case: tuple[str, str, str], value: Decimal) -> None:
    """A free-text spelling gives exactly what its UCUM code gives."""
    spelling, ucum, dim = case
    analyte = REPRESENTATIVE[dim]
    if dim == "hemoglobin" and ucum == "mmol/L":
        analyte = "hemoglobin_mmol"
    v = float(value)
    by_alias = _extract_value(analyte, {"value": v, "unit": spelling})
    by_code = _extract_value(analyte, {"value": v, "system": UCUM, "code": ucum})
    assert by_alias == by_code


@SETTINGS
@given(cells=st.integers(min_value=0, max_value=200_000))
def test_cells_per_ul_equal_thousands(cells: int) -> None:
    """n /uL and n/1000 ×10⁹/L are the same count — bit for bit, so a cut-off cannot tell them apart."""
    per_ul = _extract_value("neutrophils", {"value": cells, "system": UCUM, "code": "/uL"})
    giga = _extract_value("neutrophils", {"value": float(Decimal(cells) / 1000), "system": UCUM, "code": "10*9/L"})
    assert per_ul == giga


@SETTINGS
@given(gdl=st.decimals(min_value=3, max_value=25, places=1))  # Hb 30–250 g/L is plausible
def test_hb_g_per_dl_equals_g_per_l(gdl: Decimal) -> None:
    assert _extract_value("hemoglobin", {"value": float(gdl), "unit": "g/dL"}) == float(gdl * 10)


# ---------------------------------------------------------------------------------------------------------------
# A grade never improves as a value falls
# ---------------------------------------------------------------------------------------------------------------

TERMS = [(v, lin) for v in PROFILE.ctcae for lin in LINEAGES]
SCALE = {"neutrophils": 3.0, "platelets": 200.0, "leukocytes": 6.0, "lymphocytes": 2.0, "hemoglobin": 160.0}


@SETTINGS
@given(
    term=st.sampled_from(TERMS),
    a=st.floats(min_value=0, max_value=1),
    b=st.floats(min_value=0, max_value=1),
    lln=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
)
def test_ctcae_grade_never_improves_as_the_value_falls(
    term: tuple[str, str], a: float, b: float, lln: float | None
) -> None:
    version, lineage = term
    scale = SCALE[lineage]
    low, high = sorted((a * scale, b * scale))
    limit = None if lln is None else lln * scale
    t = PROFILE.ctcae[version][lineage]
    g_low, g_high = ctcae.grade(t, low, limit), ctcae.grade(t, high, limit)
    if limit is not None:
        assert g_low is not None and g_high is not None
    if g_high is not None:
        assert g_low is not None and g_low >= g_high
    if lineage == "hemoglobin":
        assert g_low != 4


COUNT_UNITS = ["10*9/L", "10*3/uL", "K/uL", "/uL", "/mm3", "{cells}/uL", "x10^9/L", "cells/uL"]


def _written(value: Decimal, unit: str) -> float:
    per = 1000 if unit in ("/uL", "/mm3", "{cells}/uL", "cells/uL") else 1
    return float(value * per)


@FEW
@given(
    lineage=st.sampled_from(["neutrophils", "platelets", "leukocytes", "lymphocytes"]),
    a=st.decimals(min_value=0, max_value=300, places=2),
    b=st.decimals(min_value=0, max_value=300, places=2),
    units=st.tuples(st.sampled_from(COUNT_UNITS), st.sampled_from(COUNT_UNITS)),
)
def test_grades_and_flags_never_improve_as_the_value_falls_in_any_unit(
    lineage: str, a: Decimal, b: Decimal, units: tuple[str, str]
) -> None:
    if lineage == "neutrophils":
        a, b = a / 100, b / 100
    low, high = sorted((a, b))
    out = []
    for value, unit in ((low, units[0]), (high, units[1])):
        q = {"value": _written(value, unit), "unit": unit}
        record = extract_record(bundle(infusion(), obs(lineage, None, None, day=3, quantity=q, low=None)))
        out.append(evaluate(record).lineages[lineage])
    worse, better = out
    for version in PROFILE.ctcae:
        worse_grade, better_grade = worse.ctcae[version], better.ctcae[version]
        if better_grade is not None:
            assert worse_grade is not None and worse_grade >= better_grade
    for flag in ("severe", "grade3plus", "cytopenia"):
        if getattr(better, flag) is True:
            assert getattr(worse, flag) is True


day_values = st.dictionaries(st.integers(min_value=-5, max_value=110), st.floats(min_value=0, max_value=3), max_size=40)


def _lowered(values: dict[int, float], cuts: list[float]) -> dict[int, float]:
    return {d: max(0.0, v - cuts[i % len(cuts)]) for i, (d, v) in enumerate(sorted(values.items()))}


@SETTINGS
@given(values=day_values, cuts=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=5))
def test_icaht_grade_never_improves_as_values_fall(values: dict[int, float], cuts: list[float]) -> None:
    rules = PROFILE.icaht
    lower = _lowered(values, cuts)
    for as_of in (12, 30, 100):
        before, after = sorted(values.items()), sorted(lower.items())
        e0, e1 = early_icaht(before, as_of, rules), early_icaht(after, as_of, rules)
        if e0.grade is not None:
            assert e1.grade is not None and e1.grade >= e0.grade
            assert all(e1.counts[k] >= e0.counts[k] for k in e0.counts)
        l0, l1 = late_icaht(before, as_of, rules), late_icaht(after, as_of, rules)
        if l0.grade is not None:
            assert l1.grade is not None and l1.grade >= l0.grade
        plt0 = [(d, v * 60) for d, v in before]
        plt1 = [(d, v * 60) for d, v in after]
        t0, t1 = early_t_icaht(plt0, as_of, rules), early_t_icaht(plt1, as_of, rules)
        if t0.grade is not None:
            assert t1.grade is not None and t1.grade >= t0.grade
        u0, u1 = late_t_icaht(plt0, as_of, rules), late_t_icaht(plt1, as_of, rules)
        if u0.grade is not None:
            assert u1.grade is not None and u1.grade >= u0.grade


@SETTINGS
@given(values=day_values, cuts=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=5))
def test_pht_never_clears_as_values_fall(values: dict[int, float], cuts: list[float]) -> None:
    severe = PROFILE.definitions["seed000"].severe
    lower = _lowered(values, cuts)
    for as_of in (27, 29, 40):

        def pts(v: dict[int, float]) -> dict[str, list[tuple[int, float]]]:
            return {
                "neutrophils": sorted(v.items()),
                "platelets": [(d, x * 60) for d, x in sorted(v.items())],
                "hemoglobin": [(d, x * 100) for d, x in sorted(v.items())],
            }

        before = pht_seed000(pts(values), severe, as_of, 28, (26, 30))
        after = pht_seed000(pts(lower), severe, as_of, 28, (26, 30))
        if before is True:
            assert after is True
        if before is not None:
            assert after is not None


# ---------------------------------------------------------------------------------------------------------------
# Junk inside a Bundle never raises: it becomes data problems
# ---------------------------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "2024-03-05", "2024-03-05T08:00:00Z", "2024-03-05T23:30:00+10:00", "2024-13-45", "T", "<0.1"]),
)
json_junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
UNIT_SPELLINGS = ["10*9/L", "/uL", "g/dL", "mmol/L", "K/uL", "", "furlongs", "%", "mg/L{FEU}", "ng/mL{DDU}"]
quantities = st.one_of(
    json_junk,
    st.fixed_dictionaries(
        {},
        optional={
            "value": scalars,
            "unit": st.one_of(st.sampled_from(UNIT_SPELLINGS), scalars),
            "system": st.one_of(st.just(UCUM), scalars),
            "code": st.one_of(st.sampled_from(UNIT_SPELLINGS), scalars),
            "comparator": st.one_of(st.sampled_from(["<", "<=", ">", ">=", "~"]), scalars),
        },
    ),
)
dates = st.one_of(
    st.dates(min_value=DAY0.replace(year=2023), max_value=DAY0.replace(year=2025)).map(lambda d: d.isoformat()),
    st.integers(min_value=-10, max_value=110).map(lambda d: at(d, tz="+10:00")),
    st.integers(min_value=-10, max_value=110).map(lambda d: at(d, "23:30:00", "-05:00")),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2024-03-05 08:00", "2024-03"]),
    scalars,
)
OBS_FIELDS = {
    "status": st.one_of(
        st.sampled_from(["final", "amended", "corrected", "entered-in-error", "registered"]), json_junk
    ),
    "effectiveDateTime": dates,
    "effectivePeriod": st.one_of(st.fixed_dictionaries({"start": dates}), json_junk),
    "valueQuantity": quantities,
    "valueString": json_junk,
    "dataAbsentReason": json_junk,
    "referenceRange": st.one_of(st.lists(st.fixed_dictionaries({"low": quantities}), max_size=2), json_junk),
    "subject": json_junk,
    "category": json_junk,
}


@st.composite
def junk_observation(draw: st.DrawFn, index: int) -> dict[str, Any]:
    analyte = draw(st.sampled_from(["neutrophils", "hemoglobin", "platelets", "leukocytes", "neutrophils_pct"]))
    res = obs(analyte, 0.4, "10*9/L", day=draw(st.integers(min_value=-3, max_value=40)), id=f"junk-{index}")
    for key in draw(st.lists(st.sampled_from(sorted(OBS_FIELDS)), max_size=4, unique=True)):
        if draw(st.booleans()):
            res[key] = draw(OBS_FIELDS[key])
        else:
            res.pop(key, None)
    return res


@st.composite
def junk_resource(draw: st.DrawFn) -> Any:
    base = draw(
        st.sampled_from(
            [
                infusion(),
                procedure(PLATELET_TRANSFUSION, 5, id="tx"),
                med_admin(FILGRASTIM, 4, id="gcsf"),
                patient("female"),
                {"resourceType": "Condition", "id": "crs", "code": {"coding": [{"system": "x", "code": "y"}]}},
                {"resourceType": "Bundle", "entry": []},
            ]
        )
    )
    res = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        key = draw(st.sampled_from([*res.keys(), "performedPeriod", "effectivePeriod", "entry", "contained", "gender"]))
        res[key] = draw(json_junk)
    return res


@st.composite
def junk_bundle(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    entries: list[Any] = [{"resource": infusion()}]
    observation_ids = []
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        res = draw(junk_observation(i))
        observation_ids.append(f"Observation/{res['id']}")
        entries.append({"resource": res})
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        entries.append({"resource": draw(junk_resource())})
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        entries.append(draw(json_junk))  # an entry that is not even {"resource": ...}
    entries = draw(st.permutations(entries))
    out = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return out, observation_ids


@FEW
@given(data=junk_bundle(), as_of=st.one_of(st.none(), st.integers(min_value=-5, max_value=120)))
def test_junk_in_a_bundle_never_raises_and_becomes_data_problems(
    data: tuple[dict[str, Any], list[str]], as_of: int | None
) -> None:
    doc, observation_ids = data
    record = extract_record(doc)
    assessment = evaluate(record, None if as_of is None else day_date(as_of))
    text = json.dumps(assessment.to_json(), allow_nan=False)  # strict JSON: no NaN or Infinity escapes
    assert text
    used = {r.source_id for s in record.labs.values() for r in s}
    used |= {part for s in record.labs.values() for r in s if r.source_id for part in r.source_id.split("+")}
    reported = {p.resource for p in record.problems}
    for label in observation_ids:
        # every Observation of a known analyte is either used or explained as a data problem
        assert label in used or label in reported, (label, record.problems)
    for result in (r for s in record.labs.values() for r in s):
        low, high = PROFILE.analytes[result.analyte].plausible
        assert result.derived or low <= result.value <= high
        assert result.lln is None or low <= result.lln <= high


@FEW
@given(junk=st.lists(json_junk, max_size=6))
def test_arbitrary_entries_never_raise(junk: list[Any]) -> None:
    doc = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": j} for j in junk] + junk}
    record = extract_record(doc)
    json.dumps(evaluate(record).to_json(), allow_nan=False)
    not_resources = [j for j in junk if not isinstance(j, dict)]
    assert sum(p.code == "not-a-resource" for p in record.problems) >= 2 * len(not_resources)


# ---------------------------------------------------------------------------------------------------------------
# The order of entries does not matter
# ---------------------------------------------------------------------------------------------------------------


@st.composite
def clinical_bundle(draw: st.DrawFn) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = [infusion(), patient(draw(st.sampled_from(["male", "female"])))]
    n = draw(st.integers(min_value=1, max_value=25))
    for i in range(n):
        lineage = draw(st.sampled_from(["neutrophils", "platelets", "hemoglobin", "leukocytes", "neutrophils_pct"]))
        scale = {"neutrophils": 2, "platelets": 120, "hemoglobin": 140, "leukocytes": 5, "neutrophils_pct": 90}[lineage]
        day = draw(st.integers(min_value=-4, max_value=45))
        time = draw(st.sampled_from(["08:00:00", "20:00:00"]))
        status = draw(st.sampled_from(["final", "final", "amended", "preliminary"]))
        value = round(draw(st.floats(min_value=0.0, max_value=1.0)) * scale, 2)
        if lineage == "hemoglobin":
            value = max(value, 10.0)
        unit = {"hemoglobin": "g/L", "neutrophils_pct": "%"}.get(lineage, "10*9/L")
        resources.append(obs(lineage, value, unit, when=at(day, time), id=f"o{i}", status=status))
    for i in range(draw(st.integers(min_value=0, max_value=3))):
        resources.append(procedure(PLATELET_TRANSFUSION, draw(st.integers(min_value=0, max_value=30)), id=f"t{i}"))
    return resources


@FEW
@given(resources=clinical_bundle(), order=st.randoms(use_true_random=False))
def test_entry_order_does_not_change_the_assessment(resources: list[dict[str, Any]], order: Any) -> None:
    shuffled = list(resources)
    order.shuffle(shuffled)
    one = evaluate(extract_record(bundle(resources))).to_json()
    two = evaluate(extract_record(bundle(shuffled))).to_json()
    one["data_problems"].sort(key=json.dumps)
    two["data_problems"].sort(key=json.dumps)
    assert one == two
