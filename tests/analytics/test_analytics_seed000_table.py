"""Acceptance: a seed-000-calibrated simulated cohort of n = 76 — its incidence beside the published figures."""

from __future__ import annotations

from pathlib import Path

from cds_cyto.analytics import analyze_rows, bundle_files, rows_from_files
from cds_cyto.simulate import CohortSpec, write_cohort


def test_n76_published_beside_this_cohort(tmp_path: Path) -> None:
    data = tmp_path / "bundles"
    write_cohort(CohortSpec(n=76, disease="all", seed=76), data, jobs=2)
    rows = list(rows_from_files(bundle_files(data), None, "ALL", jobs=2))
    res = analyze_rows(rows, tmp_path / "out", "all", bootstrap=50)
    table = res.tables["published_comparison"]
    assert list(table.columns[:4]) == ["measure", "this cohort", "this cohort %", "published"]
    published = dict(zip(table["measure"], table["published %"], strict=True))
    assert published["new-onset SN"] == 70.0
    assert published["new-onset SA"] == 53.0
    assert published["new-onset ST"] == 48.0
    assert published["PHT (day 28)"] == 25.0
    assert published["CRS any grade"] == 81.58
    ours = dict(zip(table["measure"], table["this cohort %"], strict=True))
    # a calibrated cohort of the same size lands within sampling error (n = 76: SE of a proportion <= 5.7 points)
    for measure in ("new-onset SN", "new-onset SA", "new-onset ST", "PHT (day 28)", "CRS any grade"):
        assert abs(ours[measure] - published[measure]) < 17, measure
    cox = res.tables["cox_multivariable_sn"].set_index("covariate")
    assert cox.loc[["max_lg_ddimer"], "published"].str.contains("HR 0.536").all()
    assert "published" not in res.tables["logistic_multivariable_nonrec28_seed001"]  # a B-NHL paper's model
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<th>published</th>" in html and "<th>this cohort</th>" in html
    print(table[["measure", "this cohort", "published"]].to_string())
