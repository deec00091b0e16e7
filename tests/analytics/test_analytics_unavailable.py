"""Acceptance: a cohort with no IL-10 and no D-dimer results gives a full report, those analyses marked unavailable."""

from __future__ import annotations

import json
from pathlib import Path

from cds_cyto.analytics import SECTIONS, analyze_rows, bundle_files, rows_from_files
from cds_cyto.simulate import CohortSpec, write_cohort

_GONE = {"26848-2", "48065-7", "48066-5"}  # IL-10; D-dimer FEU and DDU (analytes.toml)


def _codes(resource: dict[str, object]) -> set[str]:
    code = resource.get("code")
    codings = code.get("coding", []) if isinstance(code, dict) else []
    return {str(c.get("code")) for c in codings if isinstance(c, dict)}


def _strip(directory: Path) -> int:
    """Remove every Observation with an IL-10 or D-dimer code from the Bundles; the number removed."""
    removed = 0
    for f in bundle_files(directory):
        bundle = json.loads(f.read_text())
        kept = [
            e
            for e in bundle["entry"]
            if not (e["resource"]["resourceType"] == "Observation" and _codes(e["resource"]) & _GONE)
        ]
        removed += len(bundle["entry"]) - len(kept)
        bundle["entry"] = kept
        f.write_text(json.dumps(bundle))
    return removed


def test_report_without_il10_and_ddimer(tmp_path: Path) -> None:
    data = tmp_path / "bundles"
    write_cohort(CohortSpec(n=120, disease="all", seed=3), data, jobs=2)
    assert _strip(data) > 100
    rows = list(rows_from_files(bundle_files(data), None, "ALL", jobs=2))
    res = analyze_rows(rows, tmp_path / "out", "all", bootstrap=20)
    text = (tmp_path / "out" / "report.html").read_text()
    for sec in SECTIONS:
        assert f'<section id="{sec.id}">' in text, sec.id
    assert "not computed" not in text  # no analysis fell over
    assert "il10, ddimer" in " ".join(res.section_notes["models"])
    sn = res.tables["cox_multivariable_sn"].set_index("covariate")
    assert "unavailable" in str(sn.loc["max_lg_ddimer", "note"])
    assert (sn.loc[["tumour_burden_pct"], "HR"] > 0).all()  # the rest of the model is still fitted
    sa = res.tables["cox_multivariable_sa"].set_index("covariate")
    assert "unavailable" in str(sa.loc["max_lg_il10", "note"])
    spearman = res.tables["spearman"]
    il10 = spearman[spearman["marker"] == "max lg il10"]
    assert len(il10) == 6 and il10["note"].str.contains("unavailable").all()
    uni = res.tables["cox_univariable_sn"].set_index("covariate")
    assert "unavailable" in str(uni.loc["max_lg_ddimer", "note"])
