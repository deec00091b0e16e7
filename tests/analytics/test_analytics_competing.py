"""Acceptance: death is read from Patient.deceased[x] and competes with the event (Aalen-Johansen); the incidence the
report gives recovers the generator's truth, and 1 - Kaplan-Meier (deaths censored) would overstate it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cds_cyto.analytics import analyze_rows, bundle_files, cohort_table, rows_from_files
from cds_cyto.analytics.regression import prepare
from cds_cyto.analytics.survival import cumulative_incidence
from cds_cyto.simulate import CohortSpec, write_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    tmp = tmp_path_factory.mktemp("all400")
    write_cohort(CohortSpec(n=400, disease="all", seed=23), tmp, jobs=2)
    rows = list(rows_from_files(bundle_files(tmp), None, "ALL", jobs=2))
    return rows, json.loads((tmp / "truth.json").read_text())["patients"]


def _truth_cif(patients: list[dict[str, object]], day: int) -> tuple[float, int]:
    """The generator's truth: share of the at-risk patients with a new-onset severe neutropenia by `day` (nobody
    is censored in the truth, so this share is the cumulative incidence; a patient who died first has none)."""
    at_risk = [p for p in patients if not p["lineages"]["neutrophils"]["seed000"]["severe_before_infusion"]]  # type: ignore[index]
    hits = 0
    for p in at_risk:
        eps = p["lineages"]["neutrophils"]["seed000"]["episodes"]  # type: ignore[index]
        if any(e["new_onset"] and 0 <= e["onset_day"] <= day for e in eps):
            hits += 1
    return hits / len(at_risk), len(at_risk)


def test_deaths_are_read_from_the_patient(
    cohort: tuple[list[dict[str, object]], list[dict[str, object]]],
) -> None:
    rows, truth = cohort
    df = cohort_table(rows)
    planted = {str(p["patient_id"]): p["death_day"] for p in truth if p["death_day"] is not None}
    assert len(planted) >= 5  # the competing risk is exercised
    read = df[df["death_day"].notna()]
    assert dict(zip(read["patient_id"], read["death_day"].astype(int), strict=True)) == planted
    assert (read["deceased"] == 1).all()


def test_aalen_johansen_recovers_the_generator_truth(
    cohort: tuple[list[dict[str, object]], list[dict[str, object]]],
) -> None:
    rows, truth = cohort
    df = prepare(cohort_table(rows))
    at_risk = df[df["sn_before"] == 0]
    aj = cumulative_incidence(at_risk, "new-onset SN", "sn_new", "sn_onset_day")
    assert aj.estimator.startswith("Aalen-Johansen") and aj.deaths > 0
    km = cumulative_incidence(at_risk.drop(columns=["death_day"]), "new-onset SN", "sn_new", "sn_onset_day")
    assert km.estimator.startswith("Kaplan-Meier")
    # nobody is censored before day 30 but by death, so the truth is the share of patients with the event, and the
    # Aalen-Johansen estimate is that share exactly on every day; deaths censored (1 - KM) are not, and would fail here
    for day in range(0, 31):
        true, _ = _truth_cif(truth, day)
        upto = aj.curve[aj.curve["day"] <= day]
        got = float(upto["cif"].iloc[-1]) if not upto.empty else 0.0
        assert got == pytest.approx(true, abs=1e-9), (day, got, true)
    true30, _ = _truth_cif(truth, 30)
    # censoring the dead overstates it (here by 0.0003, at seed 001's death rate): far beyond the 1e-9 of the check
    assert km.at_day_30 - true30 > 1e-5


def test_report_says_aalen_johansen(
    cohort: tuple[list[dict[str, object]], list[dict[str, object]]], tmp_path: Path
) -> None:
    rows, _ = cohort
    res = analyze_rows(rows, tmp_path, "all", bootstrap=20)
    assert any("Aalen-Johansen" in n for n in res.section_notes["cumulative"])
    assert "Aalen-Johansen" in res.figures["cumulative_incidence"].caption
    assert set(res.tables["cumulative_incidence"]["estimator"].str.split(" ").str[0]) == {"Aalen-Johansen"}


def test_aalen_johansen_matches_lifelines_without_ties_and_km_without_deaths() -> None:
    import warnings

    import numpy as np
    from lifelines import AalenJohansenFitter, KaplanMeierFitter

    from cds_cyto.analytics.survival import aalen_johansen

    rng = np.random.default_rng(8)
    t = rng.exponential(10, 300)
    code = rng.choice([0, 1, 2], 300, p=[0.2, 0.5, 0.3])
    ours = aalen_johansen(t, code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = AalenJohansenFitter().fit(t, code, event_of_interest=1).cumulative_density_
    at = [5.0, 10.0, 20.0]
    for day in at:
        mine = float(ours[ours["day"] <= day]["cif"].iloc[-1])
        theirs = float(ref[ref.index <= day].iloc[-1, 0])
        assert abs(mine - theirs) < 1e-9
    days = np.floor(t)  # tied days, no deaths: 1 - KM exactly
    alive = np.where(code == 2, 0, code)
    km = KaplanMeierFitter().fit(days, alive).survival_function_
    ours = aalen_johansen(days, alive)
    for day in at:
        assert (
            abs(float(ours[ours["day"] <= day]["cif"].iloc[-1]) - (1 - float(km[km.index <= day].iloc[-1, 0]))) < 1e-12
        )


def test_numbers_at_risk_under_the_curve() -> None:
    import pandas as pd

    # day of event / death / end of follow-up, one patient each; the last has no counts after infusion (left out)
    df = pd.DataFrame(
        {
            "sn_new": [1.0, 1.0, 0.0, 0.0, 0.0, math.nan],
            "sn_onset_day": [3.0, 12.0, math.nan, math.nan, math.nan, math.nan],
            "death_day": [math.nan, math.nan, 7.0, math.nan, math.nan, math.nan],
            "follow_up_day": [30.0, 30.0, 7.0, 17.0, 40.0, -2.0],
        }
    )
    ci = cumulative_incidence(df, "new-onset SN", "sn_new", "sn_onset_day")
    assert ci.n == 5 and ci.deaths == 1
    assert ci.at_risk == {0: 5, 5: 4, 10: 3, 15: 2, 20: 1, 25: 1, 30: 1}
    # F(3) = 1/5; the death on day 7 leaves 3 at risk; F(12) = 1/5 + (4/5)(3/4)(1/3) = 0.4
    at12 = ci.curve[ci.curve["day"] == 12.0]["cif"]
    assert float(at12.iloc[0]) == pytest.approx(0.4)
