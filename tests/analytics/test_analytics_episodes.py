"""Review of issue 16: a patient's duration and recovery cover every episode (the generator's truth, patient by
patient); no counts after infusion is unknown, not 'no cytopenia'; Fig 4A-C counts patients without it as 0."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cds_cyto.analytics import analyze_rows, bundle_files, cohort_table, rows_from_files
from cds_cyto.analytics.by_crs import fig4_duration_by_crs
from cds_cyto.analytics.incidence import fig1b_timepoints, unobserved_after_infusion
from cds_cyto.analytics.rows import row_from_resources
from cds_cyto.core.extract import read_resources
from cds_cyto.simulate import CohortSpec, write_cohort

_LINEAGES = (("neutrophils", "sn"), ("hemoglobin", "sa"), ("platelets", "st"))
FIXTURE = Path(__file__).parents[2] / "fixtures" / "cohort" / "syn-all-0000.json"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("all80")
    write_cohort(CohortSpec(n=80, disease="all", seed=7), tmp, jobs=2)
    rows = list(rows_from_files(bundle_files(tmp), None, "ALL", jobs=2))
    truth = {p["patient_id"]: p for p in json.loads((tmp / "truth.json").read_text())["patients"]}
    return rows, truth


def test_duration_and_recovery_agree_with_the_truth_patient_by_patient(
    cohort: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    rows, truth = cohort
    compared = several = 0
    for r in rows:
        t = truth[r["patient_id"]]
        for lineage, key in _LINEAGES:
            eps = [e for e in t["lineages"][lineage]["seed000"]["episodes"] if e["new_onset"]]
            if not eps:
                continue
            compared += 1
            several += len(eps) > 1
            recovered = all(e["recovery_day"] is not None for e in eps)
            where = (r["patient_id"], key, [(e["onset_day"], e["recovery_day"]) for e in eps])
            assert r[f"{key}_recovered"] == float(recovered), where
            if recovered:
                assert r[f"{key}_duration"] == sum(e["duration_days"] for e in eps), where
                assert r[f"{key}_recovery_day"] == eps[-1]["recovery_day"], where
            else:  # censored at the last day seen: at least the days of the recovered episodes
                done = sum(e["duration_days"] for e in eps if e["duration_days"] is not None)
                assert r[f"{key}_duration"] >= done, where
    assert compared >= 80 and several >= 5  # patients with a second episode are really compared


def _fixture_row(as_of: date) -> dict[str, Any]:
    return row_from_resources(read_resources(FIXTURE.read_bytes()), as_of, "ALL")


def test_no_counts_after_infusion_is_unknown_not_none() -> None:
    before = _fixture_row(date(2026, 5, 20))  # syn-all-0000 is infused on 2026-06-01
    after = _fixture_row(date(2026, 6, 21))
    for _, key in _LINEAGES:
        assert math.isnan(before[f"{key}_after"]) and math.isnan(before[f"{key}_new"])
        assert math.isnan(before[f"{key}_duration"])
        assert not math.isnan(after[f"{key}_after"])
    df = cohort_table([before, after])
    t3 = fig1b_timepoints(df).set_index("lineage")
    assert str(t3.loc["SN", "T3 n"]).endswith("/1")  # one patient in the denominator, not two
    note = unobserved_after_infusion(df)
    assert note is not None and "SN: 1 (1 not infused by the as-of day)" in note


def test_the_report_notes_patients_without_counts_after_infusion(
    cohort: tuple[list[dict[str, Any]], dict[str, Any]], tmp_path: Path
) -> None:
    rows, _ = cohort
    res = analyze_rows([*rows, _fixture_row(date(2026, 5, 20))], tmp_path, "all", bootstrap=10)
    assert any("not infused by the as-of day" in n for n in res.section_notes["incidence"])


def test_fig4_duration_counts_patients_without_cytopenia_as_zero() -> None:
    # 4 patients per CRS group; in "no CRS" only one has SN (10 days): the paper's median is 0, not 10
    n = 12
    df = pd.DataFrame(
        {
            "sn_episode": ["new-onset"] + ["none"] * 3 + ["new-onset"] * 8,
            "sn_duration": [10.0, 0.0, 0.0, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0],
            "sn_recovery_day": [12.0] + [math.nan] * 3 + [7.0] * 8,
        },
        index=[f"p{i}" for i in range(n)],
    )
    for key in ("sa", "st"):
        df[f"{key}_episode"], df[f"{key}_duration"], df[f"{key}_recovery_day"] = "none", 0.0, math.nan
    groups = pd.Series(["no CRS"] * 4 + ["mild CRS"] * 4 + ["severe CRS"] * 4, index=df.index)
    t = fig4_duration_by_crs(df, groups).set_index("measure")
    everyone = str(t.loc["SN duration, days (no SN: 0, as seed 000)", "no CRS"])
    assert everyone.startswith("0 ") and everyone.endswith("n=4")
    assert str(t.loc["SN duration, days, patients with SN only", "no CRS"]).startswith("10 ")
    assert "not in seed 000" in fig4_duration_by_crs(df, groups).iloc[1]["figure"]


def test_analyze_names_an_unreadable_file_and_goes_on(tmp_path: Path) -> None:
    import shutil

    from tests.support.cli import run_cds_cyto

    bundles = tmp_path / "bundles"
    bundles.mkdir()
    good = sorted(FIXTURE.parent.glob("syn-all-00*.json"))[:12]
    for f in good:
        shutil.copy(f, bundles / f.name)
    (bundles / "zz-bad.json").write_text("{not json\n")
    done = run_cds_cyto(tmp_path, "analyze", "--bundles", str(bundles), "--out", str(tmp_path / "r"), "--jobs", "2",
                        timeout=400)  # fmt: skip
    assert "Traceback" not in done.stderr and "JSONDecodeError" not in done.stderr
    assert done.returncode == 1, done.stderr
    assert "zz-bad.json: not valid JSON" in done.stderr and f"1 of {len(good) + 1} file(s)" in done.stderr
    doc = json.loads((tmp_path / "r" / "tables.json").read_text())
    assert doc["manifest"]["unreadable_files"] == 1 and doc["manifest"]["patients"] == len(good)
    assert any("1 input file(s) could not be read" in n for n in doc["notes"]["characteristics"])


def test_univariable_screens_refuse_an_outcome_that_never_varies() -> None:
    import numpy as np

    from cds_cyto.analytics.regression import cox_univariable, logistic_univariable

    rng = np.random.default_rng(5)
    n = 20
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "pht": np.ones(n),  # 20/20 events: no odds ratio exists
            "sn_new": np.ones(n),
            "sn_duration": rng.integers(3, 20, size=n).astype(float),
            "sn_recovered": np.zeros(n),  # nobody recovered: no hazard ratio
        }
    )
    lo = logistic_univariable(df, "pht", ["x"]).iloc[0]
    assert math.isnan(float(lo["OR"])) and math.isnan(float(lo["q_bh"]))
    assert "0 non-events" in str(lo["note"])
    cox = cox_univariable(df, "sn", ["x"]).iloc[0]
    assert math.isnan(float(cox["HR"])) and "0 recoveries" in str(cox["note"])
    df["pht"] = (df["x"] > 0).astype(float)  # a varying outcome is still screened
    assert not math.isnan(float(logistic_univariable(df, "pht", ["x"]).iloc[0]["OR"]))


def test_roc_direction_is_the_published_one_not_chosen_from_the_data() -> None:
    import numpy as np

    from cds_cyto.analytics.regression import youden_cutoff

    # under the null, a data-chosen direction gives AUC >= 0.5 always; the published one is ~0.5 either side
    aucs_pub, aucs_data = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        df = pd.DataFrame({"x": rng.normal(size=60), "y": (rng.random(60) < 0.4).astype(float)})
        pub = youden_cutoff(df, "y", "x", published_higher_is_risk=False)
        assert pub["direction"] == "<=" and pub["direction from"].startswith("published")
        aucs_pub.append(float(pub["auc"]))
        chosen = youden_cutoff(df, "y", "x")
        assert chosen["direction from"] == "direction chosen from the data"
        aucs_data.append(float(chosen["auc"]))
    assert min(aucs_data) >= 0.5 and min(aucs_pub) < 0.5  # the inflation the published direction avoids
    assert sum(a < 0.5 for a in aucs_pub) >= 8  # the published direction is on either side of 0.5 under the null


def _patched_row(**patient: str) -> dict[str, Any]:
    bundle = json.loads(FIXTURE.read_bytes())
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"].update(patient)
    return row_from_resources(bundle, date(2026, 6, 21), "ALL")


def test_impossible_dates_are_data_problems_not_values(tmp_path: Path) -> None:
    from cds_cyto.analytics.incidence import characteristics, crs_unknown_note

    dead = _patched_row(deceasedDateTime="2026-05-20")  # syn-all-0000 is infused on 2026-06-01
    assert math.isnan(dead["death_day"]) and math.isnan(dead["deceased"]) and dead["death_before_infusion"] == 1
    unborn = _patched_row(birthDate="2030-01-01")
    assert math.isnan(unborn["age"]) and unborn["birth_after_infusion"] == 1
    ok = _fixture_row(date(2026, 6, 21))
    assert ok["age"] > 0 and ok["death_before_infusion"] == 0
    # most patients without a CRS record: characteristics say "unknown", the CRS rates carry the note
    df = cohort_table([ok, dead, unborn])
    df["crs_grade"] = [0.0, math.nan, math.nan]
    chars = characteristics(df).set_index("characteristic")["value"]
    assert chars["CRS unknown (no CRS record, no temperature charted), n (%)"] == "2 (66.7%)"
    note = crs_unknown_note(df)
    assert note is not None and "CRS unknown for 2 of 3 patients" in note


def test_report_cosmetics(cohort: tuple[list[dict[str, Any]], dict[str, Any]], tmp_path: Path) -> None:
    """No snake_case ROC legend, no '1 deaths', no 'not drawn' for section 9 without --validate, and a patient id
    a spreadsheet would run as a formula is written quoted."""
    import csv

    from cds_cyto.analytics.survival import cumulative_incidence

    rows, _ = cohort
    evil = dict(rows[0], patient_id="=HYPERLINK(1)")
    res = analyze_rows([evil, *rows[1:]], tmp_path, "all", bootstrap=10)
    from cds_cyto.analytics.report import PUBLISHED_CUTS, _label

    assert "roc" in res.figures and all("_" not in _label(pred) for pred, _, _ in PUBLISHED_CUTS)  # the legend's
    html = (tmp_path / "report.html").read_text()
    section9 = html.split('id="external-validation"', 1)[1].split("</section>", 1)[0]
    assert "not drawn" not in section9 and "not run" in section9
    with (tmp_path / "tables" / "patients.csv").open(newline="") as f:
        ids = [r["patient_id"] for r in csv.DictReader(f)]
    assert "'=HYPERLINK(1)" in ids and "=HYPERLINK(1)" not in ids
    one = pd.DataFrame({"sn_new": [1.0, 0.0], "sn_onset_day": [3.0, math.nan], "death_day": [math.nan, 2.0],
                        "follow_up_day": [30.0, 2.0]})  # fmt: skip
    assert cumulative_incidence(one, "x", "sn_new", "sn_onset_day").estimator == "Aalen-Johansen (1 death competes)"
