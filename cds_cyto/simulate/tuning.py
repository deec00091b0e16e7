"""Re-tune the model's free intercepts to the published targets (run by hand after changing the model).

One knob per target, each moved by secant steps on a transformed scale (probit for proportions, log for
medians, days for days) with common random numbers (the same seed every round). The result is printed as the
values to paste into `params.py`; nothing here runs in normal use.

    .venv/bin/python -m cds_cyto.simulate.tuning --n 3000 --rounds 8
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from cds_cyto.simulate.calibration import cohort_truths, statistics_for
from cds_cyto.simulate.params import TARGETS, Disease, DiseaseModel, model_for

__all__ = ["KNOBS", "Knob", "tune"]

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Knob:
    disease: Disease
    path: tuple[str, ...]  # attribute path in the DiseaseModel (dict keys for lineages)
    target: str
    slope: float  # first-guess d(transformed statistic) / d(knob)
    low: float
    high: float


KNOBS: tuple[Knob, ...] = (
    Knob("all", ("lineages", "neutrophils", "baseline_median"), "all.baseline_anc", 1.0 / 2.3, 1.0, 4.0),
    Knob("all", ("lineages", "neutrophils", "decline_power"), "all.sn_pre", -1.0, 0.3, 4.0),
    Knob("all", ("lineages", "hemoglobin", "baseline_sd_low"), "all.sa_pre", 6.0, 0.1, 0.6),
    Knob("all", ("lineages", "platelets", "baseline_sd_low"), "all.st_pre", 1.3, 0.3, 3.0),
    Knob("all", ("lineages", "neutrophils", "depth_median"), "all.sn_new", 0.7, 0.1, 6.0),
    Knob("all", ("lineages", "hemoglobin", "depth_median"), "all.sa_new", 3.0, 0.02, 1.5),
    Knob("all", ("lineages", "platelets", "depth_median"), "all.st_new", 0.75, 0.05, 5.0),
    Knob("all", ("persistence", "intercept"), "all.pht", 0.45, -8.0, 3.0),
    Knob("all", ("interventions", "rbc_probability"), "all.rbc", 0.6, 0.0, 1.0),
    Knob("all", ("interventions", "platelet_probability"), "all.platelet_tx", 0.55, 0.0, 1.0),
    Knob("all", ("interventions", "gcsf_discretionary_probability"), "all.gcsf", 0.1, 0.0, 1.0),
    Knob("nhl", ("lineages", "neutrophils", "baseline_median"), "nhl.baseline_anc", 1.0 / 3.15, 1.0, 6.0),
    Knob("nhl", ("lineages", "neutrophils", "depth_median"), "nhl.nadir_anc", -1.0, 0.1, 5.0),
    Knob("nhl", ("lineages", "platelets", "depth_median"), "nhl.nadir_plt", -1.0, 0.02, 3.0),
    Knob("nhl", ("lineages", "neutrophils", "depth_log_sd"), "nhl.g3_neutropenia", -1.0, 0.05, 2.0),
    Knob("nhl", ("lineages", "hemoglobin", "depth_log_sd"), "nhl.g3_anemia", 0.5, 0.05, 2.5),
    Knob("nhl", ("lineages", "platelets", "deep_fraction"), "nhl.g3_thrombocytopenia", 3.0, 0.0, 0.6),
    Knob("nhl", ("lineages", "neutrophils", "nadir_day_mean"), "nhl.nadir_day_anc", 1.0, 2.0, 12.0),
    Knob("nhl", ("lineages", "hemoglobin", "nadir_day_mean"), "nhl.nadir_day_hb", 1.0, 2.0, 14.0),
    Knob("nhl", ("lineages", "platelets", "nadir_day_mean"), "nhl.nadir_day_plt", 1.0, 2.0, 16.0),
    Knob("nhl", ("persistence", "intercept"), "nhl.not_recovered_28", 0.45, -8.0, 3.0),
)

_KIND = {t.key: t.kind for t in TARGETS}
_PUBLISHED = {t.key: t.published for t in TARGETS}


def _transform(key: str, value: float) -> float:
    kind = _KIND[key]
    if kind == "proportion":
        return _NORMAL.inv_cdf(min(0.999, max(0.001, value)))
    if kind == "median":
        return math.log(value)
    return value


def _get(obj: Any, path: tuple[str, ...]) -> float:
    for part in path:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return float(obj)


def _set(obj: Any, path: tuple[str, ...], value: float) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        copy = dict(obj)
        copy[head] = value if not rest else _set(obj[head], rest, value)
        return copy
    return dataclasses.replace(obj, **{head: value if not rest else _set(getattr(obj, head), rest, value)})


def tune(n: int = 3000, rounds: int = 8, seed: int = 1) -> dict[Disease, DiseaseModel]:
    models: dict[Disease, DiseaseModel] = {"all": model_for("all"), "nhl": model_for("nhl")}
    history: dict[Knob, tuple[float, float]] = {}
    for r in range(rounds):
        stats = {d: statistics_for(d, cohort_truths(n, d, seed, models[d])) for d in models}
        worst = 0.0
        for knob in KNOBS:
            x = _get(models[knob.disease], knob.path)
            simulated = stats[knob.disease][knob.target][0]
            if simulated is None:
                continue
            y, goal = _transform(knob.target, simulated), _transform(knob.target, _PUBLISHED[knob.target])
            slope = knob.slope
            if knob in history:
                x0, y0 = history[knob]
                if abs(x - x0) > 1e-9 and (y - y0) / (x - x0) * knob.slope > 0:
                    slope = (y - y0) / (x - x0)
            history[knob] = (x, y)
            worst = max(worst, abs(goal - y))
            step = (goal - y) / slope
            span = knob.high - knob.low
            step = max(-0.25 * span, min(0.25 * span, step))
            new = min(knob.high, max(knob.low, x + step))
            models[knob.disease] = _set(models[knob.disease], knob.path, round(new, 4))
            print(
                f"round {r} {knob.target:<24} sim {simulated:8.4f} goal {_PUBLISHED[knob.target]:8.4f} "
                f"{'.'.join(knob.path):<40} {x:8.4f} -> {new:8.4f}"
            )
        print(f"round {r}: largest gap on the transformed scale {worst:.3f}\n", flush=True)
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description="Re-tune the synthetic cohort's intercepts to the seed targets.")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    models = tune(args.n, args.rounds, args.seed)
    print("Tuned values:")
    for knob in KNOBS:
        print(f"  {knob.disease}.{'.'.join(knob.path)} = {_get(models[knob.disease], knob.path)}")


if __name__ == "__main__":
    main()
