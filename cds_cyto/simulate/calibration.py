"""Calibration report: simulated cohort statistics beside the published seed numbers, PASS/FAIL per target.

Every statistic is computed from the patients' ground truth (the same numbers truth.json holds), so the report
checks the charted data and the truth rules together, not the latent model alone. Effect directions are checked
as well: the seeds' risk factors must move the outcomes the way the papers report.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from cds_cyto.simulate.params import DISEASES, TARGETS, Disease, DiseaseModel, Target
from cds_cyto.simulate.patient import simulate_patient
from cds_cyto.simulate.plan import CohortSpec, DiseaseChoice, PatientPlan, plan_cohort

__all__ = [
    "CalibrationReport",
    "DirectionCheck",
    "TargetResult",
    "calibration_report",
    "cohort_truths",
    "statistics_for",
]

Truth = dict[str, Any]
_SHORT = {"neutrophils": "anc", "hemoglobin": "hb", "platelets": "plt"}
_SEVERE = {"neutrophils": "sn", "hemoglobin": "sa", "platelets": "st"}


@dataclass(frozen=True, slots=True)
class TargetResult:
    target: Target
    simulated: float | None
    n: int  # patients the statistic is computed on

    @property
    def passed(self) -> bool:
        return self.target.passes(self.simulated)


@dataclass(frozen=True, slots=True)
class DirectionCheck:
    disease: Disease
    label: str
    expected: str  # "higher" or "lower" in the exposed group
    exposed: float | None
    unexposed: float | None
    source: str

    @property
    def passed(self) -> bool:
        if self.exposed is None or self.unexposed is None:
            return False
        return self.exposed > self.unexposed if self.expected == "higher" else self.exposed < self.unexposed


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    n: int
    seed: int
    results: tuple[TargetResult, ...]
    directions: tuple[DirectionCheck, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results) and all(d.passed for d in self.directions)

    def to_json(self) -> dict[str, Any]:
        return {
            "n_per_disease": self.n,
            "seed": self.seed,
            "passed": self.passed,
            "targets": [
                {
                    "key": r.target.key,
                    "label": r.target.label,
                    "kind": r.target.kind,
                    "published": r.target.published,
                    "simulated": r.simulated,
                    "n": r.n,
                    "tolerance": r.target.tolerance,
                    "passed": r.passed,
                    "source": r.target.source,
                    "note": r.target.note,
                }
                for r in self.results
            ],
            "directions": [
                {
                    "disease": d.disease,
                    "label": d.label,
                    "expected": d.expected,
                    "exposed": d.exposed,
                    "unexposed": d.unexposed,
                    "passed": d.passed,
                    "source": d.source,
                }
                for d in self.directions
            ],
        }

    def to_text(self) -> str:
        lines = [f"Calibration of the synthetic cohort: n={self.n} per disease, seed {self.seed}", ""]
        header = (
            f"{'target':<24} {'statistic':<52} {'published':>9} {'simulated':>9} {'tolerance':>9} {'(SE)':>7} "
            f"{'n':>5}  result"
        )
        for disease in DISEASES:
            rows = [r for r in self.results if r.target.disease == disease]
            if not rows:
                continue
            lines += [f"[{disease.upper()}]", header]
            for r in rows:
                t = r.target
                lines.append(
                    f"{t.key:<24} {t.label[:52]:<52} {_fmt(t, t.published):>9} "
                    f"{_fmt(t, r.simulated):>9} {_tol(t):>9} {_in_se(t, r.n):>7} {r.n:>5}  "
                    f"{'PASS' if r.passed else 'FAIL'}"
                )
            lines.append("")
        if self.directions:
            lines.append("Effect directions (exposed vs unexposed; the seeds' risk factors)")
            for d in self.directions:
                lines.append(
                    f"  {d.disease.upper():<4} {d.label:<70} expect {d.expected:<6} "
                    f"{_num(d.exposed):>7} vs {_num(d.unexposed):>7}  {'PASS' if d.passed else 'FAIL'}"
                )
            lines.append("")
        lines.append("Sources:")
        for r in self.results:
            note = f" — {r.target.note}" if r.target.note else ""
            lines.append(f"  {r.target.key}: {r.target.source}{note}")
        lines.append(f"\nOverall: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def _fmt(t: Target, value: float | None) -> str:
    if value is None:
        return "n/a"
    if t.kind == "proportion":
        return f"{100 * value:.1f}%"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _tol(t: Target) -> str:
    if t.kind == "proportion":
        return f"±{100 * t.tolerance:.1f}pp"
    if t.kind == "median":
        return f"±{100 * t.tolerance:.0f}%"
    return f"±{t.tolerance:g} d"


def _in_se(t: Target, n: int) -> str:
    """The tolerance in binomial standard errors at this denominator (proportions only)."""
    if t.kind != "proportion" or n == 0:
        return ""
    se = math.sqrt(t.published * (1.0 - t.published) / n)
    return f"{t.tolerance / se:.1f} SE"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _truths_of(spec: CohortSpec, plans: Sequence[PatientPlan], model: DiseaseModel | None) -> list[Truth]:
    return [simulate_patient(plan, spec, model, truth_only=True).truth for plan in plans]


def cohort_truths(n: int, disease: Disease, seed: int, model: DiseaseModel | None = None, jobs: int = 1) -> list[Truth]:
    """Truth of n complete patients, no mess (no FHIR is built); `jobs` worker processes."""
    spec = CohortSpec(n=n, disease=disease, seed=seed, mess="none")
    plans = plan_cohort(spec)
    if jobs <= 1:
        return _truths_of(spec, plans, model)
    size = -(-len(plans) // (4 * jobs))
    chunks = [plans[i : i + size] for i in range(0, len(plans), size)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        parts = pool.map(_truths_of, [spec] * len(chunks), chunks, [model] * len(chunks))
        return [t for part in parts for t in part]


def _share(flags: Iterable[bool | None]) -> tuple[float | None, int]:
    known = [f for f in flags if f is not None]
    return (sum(known) / len(known) if known else None), len(known)


def _median(values: Iterable[float | None]) -> tuple[float | None, int]:
    known = [v for v in values if v is not None]
    return (statistics.median(known) if known else None), len(known)


def _value(point: dict[str, float] | None, key: str = "value") -> float | None:
    return None if point is None else point[key]


def _post_infusion(days: Sequence[int]) -> bool:
    return any(d >= 0 for d in days)


def _new_onset(t: Truth, lineage: str) -> bool | None:
    s = t["lineages"][lineage]["seed000"]
    if s["severe_before_infusion"] is not False:
        return None
    return any(ep["new_onset"] and ep["onset_day"] <= 30 for ep in s["episodes"])


def statistics_for(disease: Disease, truths: Sequence[Truth]) -> dict[str, tuple[float | None, int]]:
    """Every target statistic of one disease, as (value, number of patients it is computed on)."""
    out: dict[str, tuple[float | None, int]] = {}
    p = disease
    for lineage, short in _SHORT.items():
        out[f"{p}.baseline_{short}"] = _median(_value(t["lineages"][lineage]["baseline"]) for t in truths)
    grades = [t["crs"]["max_grade"] for t in truths]
    out[f"{p}.crs_none"] = _share(g == 0 for g in grades)
    out[f"{p}.crs_g1"] = _share(g == 1 for g in grades)
    out[f"{p}.crs_g2"] = _share(g == 2 for g in grades)
    out[f"{p}.crs_g34"] = _share(g >= 3 for g in grades)
    out[f"{p}.crs_any"] = _share(g >= 1 for g in grades)
    out[f"{p}.crs_duration"] = _median(
        t["crs"]["recovery_day"] - t["crs"]["onset_day"] for t in truths if t["crs"]["recovery_day"] is not None
    )
    treated = [bool(t["crs"]["tocilizumab_days"] or t["crs"]["steroid_days"]) for t in truths]
    out[f"{p}.toci_mild"] = _share(tr for tr, g in zip(treated, grades, strict=True) if g in (1, 2))
    out[f"{p}.toci_severe"] = _share(tr for tr, g in zip(treated, grades, strict=True) if g >= 3)
    for lineage, severe in _SEVERE.items():
        out[f"{p}.{severe}_pre"] = _share(t["lineages"][lineage]["seed000"]["severe_before_infusion"] for t in truths)
        out[f"{p}.{severe}_new"] = _share(_new_onset(t, lineage) for t in truths)
        out[f"{p}.{severe}_any"] = _share(
            t["lineages"][lineage]["seed000"]["below_after_infusion_to_day30"] for t in truths
        )
    out[f"{p}.pht"] = _share(t["pht_day28"]["seed000"] for t in truths)
    out[f"{p}.gcsf"] = _share(_post_infusion(t["interventions"]["gcsf_days"]) for t in truths)
    out[f"{p}.rbc"] = _share(_post_infusion(t["interventions"]["rbc_transfusion_days"]) for t in truths)
    out[f"{p}.platelet_tx"] = _share(_post_infusion(t["interventions"]["platelet_transfusion_days"]) for t in truths)
    out[f"{p}.male"] = _share(t["sex"] == "male" for t in truths)
    out[f"{p}.age"] = _median(float(t["age"]) for t in truths)
    out[f"{p}.tumour_burden"] = _median(t["latent"]["tumour_burden_pct"] for t in truths)
    out[f"{p}.baseline_ferritin"] = _median(t["baseline_markers"]["ferritin"] for t in truths)
    out[f"{p}.baseline_ldh"] = _median(t["baseline_markers"]["ldh"] for t in truths)
    for lineage, name in (("neutrophils", "neutropenia"), ("hemoglobin", "anemia"), ("platelets", "thrombocytopenia")):
        out[f"{p}.g3_{name}"] = _share(
            t["lineages"][lineage]["seed001"]["below_after_infusion_to_day30"] for t in truths
        )
    for lineage, short in _SHORT.items():
        out[f"{p}.nadir_{short}"] = _median(_value(t["lineages"][lineage]["nadir_ld_to_day28"]) for t in truths)
        out[f"{p}.nadir_day_{short}"] = _median(
            _value(t["lineages"][lineage]["nadir_ld_to_day28"], "day") for t in truths
        )
    out[f"{p}.not_recovered_28"] = _share(t["pht_day28"]["seed001"] for t in truths)
    return out


def _rate_by(
    truths: Sequence[Truth], exposed: Callable[[Truth], bool | None], outcome: Callable[[Truth], bool | None]
) -> tuple[float | None, float | None]:
    groups: dict[bool, list[bool]] = {True: [], False: []}
    for t in truths:
        e, o = exposed(t), outcome(t)
        if e is not None and o is not None:
            groups[e].append(o)
    return tuple(sum(g) / len(g) if g else None for g in (groups[True], groups[False]))  # type: ignore[return-value]


def _duration_by_marker(truths: Sequence[Truth], lineage: str, marker: str) -> tuple[float | None, float | None]:
    """Mean days in new-onset severe episodes begun by day 30 (unrecovered: to day 100), above vs below the median
    peak marker. Summed over episodes, because hemoglobin can dip below 60 g/L, recover and dip again."""
    rows = []
    for t in truths:
        peak = t["max_lg_markers_day0_28"][marker]
        eps = [ep for ep in t["lineages"][lineage]["seed000"]["episodes"] if ep["new_onset"] and ep["onset_day"] <= 30]
        if peak is None or not eps:
            continue
        days = sum(ep["duration_days"] if ep["duration_days"] is not None else 100 - ep["onset_day"] for ep in eps)
        rows.append((peak, days))
    if len(rows) < 4:
        return None, None
    cut = statistics.median(r[0] for r in rows)
    high = [d for m, d in rows if m > cut]
    low = [d for m, d in rows if m <= cut]
    return statistics.fmean(high), statistics.fmean(low)


def direction_checks(disease: Disease, truths: Sequence[Truth]) -> list[DirectionCheck]:
    if disease == "all":
        src = "seed 000 Results 'Factors Associated With the Recovery'"
        checks = [
            DirectionCheck(
                "all",
                "PHT day 28: CRS grade 3-4 vs 0-2",
                "higher",
                *_rate_by(truths, lambda t: t["crs"]["max_grade"] >= 3, lambda t: t["pht_day28"]["seed000"]),
                src,
            ),
            DirectionCheck(
                "all",
                "PHT day 28: CRS onset after day 3 vs on/before (with CRS)",
                "higher",
                *_rate_by(
                    [t for t in truths if t["crs"]["onset_day"] is not None],
                    lambda t: t["crs"]["onset_day"] > 3,
                    lambda t: t["pht_day28"]["seed000"],
                ),
                src,
            ),
        ]
        for lineage, marker, label in (
            ("neutrophils", "ddimer", "SN days in new-onset episodes: max lg D-dimer"),
            ("hemoglobin", "il10", "SA days in new-onset episodes: max lg IL-10"),
            ("platelets", "ferritin", "ST days in new-onset episodes: max lg ferritin"),
        ):
            checks.append(
                DirectionCheck(
                    "all",
                    f"{label} above vs below median",
                    "higher",
                    *_duration_by_marker(truths, lineage, marker),
                    src,
                )
            )
        return checks
    src = "seed 001 Table III"

    def baseline(t: Truth, lineage: str) -> float | None:
        return _value(t["lineages"][lineage]["baseline"])

    def below(value: float | None, cut: float) -> bool | None:
        return None if value is None else value < cut

    def outcome(t: Truth) -> bool | None:
        flag: bool | None = t["pht_day28"]["seed001"]
        return flag

    il6 = [
        (
            "not recovered day 28: baseline IL-6 > 21.43 pg/mL",
            "lower",
            lambda t: None if t["baseline_markers"]["il6"] is None else t["baseline_markers"]["il6"] > 21.43,
        ),
    ]
    rows: list[tuple[str, str, Callable[[Truth], bool | None]]] = [
        ("not recovered day 28: baseline ANC < 2.29", "higher", lambda t: below(baseline(t, "neutrophils"), 2.29)),
        ("not recovered day 28: baseline Hb < 114.5 g/L", "higher", lambda t: below(baseline(t, "hemoglobin"), 114.5)),
        *il6,
    ]
    return [
        DirectionCheck("nhl", label, expected, *_rate_by(truths, exposed, outcome), src)
        for label, expected, exposed in rows
    ]


def calibration_report(
    n: int = 1000, seed: int = 20261122, disease: DiseaseChoice = "mixed", jobs: int = 1
) -> CalibrationReport:
    """Simulate n patients per disease (both for `mixed`) and compare with every target of that disease."""
    diseases: tuple[Disease, ...] = DISEASES if disease == "mixed" else (disease,)
    results: list[TargetResult] = []
    directions: list[DirectionCheck] = []
    for d in diseases:
        truths = cohort_truths(n, d, seed, jobs=jobs)
        stats = statistics_for(d, truths)
        for target in TARGETS:
            if target.disease == d:
                value, count = stats[target.key]
                results.append(TargetResult(target, value, count))
        directions.extend(direction_checks(d, truths))
    return CalibrationReport(n, seed, tuple(results), tuple(directions))
