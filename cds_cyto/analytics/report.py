"""The analysis run: rows → tables (CSV/JSON), figures, the site model artifact, and one offline HTML report."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from cds_cyto.analytics import correlation, incidence, plots, regression, site_model_fit, survival
from cds_cyto.analytics.rows import MARKERS, PatientRow, cohort_table, daily_table
from cds_cyto.core.profile import Profile, default_profile

__all__ = ["SECTIONS", "AnalysisResult", "analyze_rows"]

SECTIONS = (
    ("characteristics", "1. Cohort characteristics"),
    ("incidence", "2. Incidence of cytopenia"),
    ("cumulative", "3. Cumulative incidence and counts by CRS group"),
    ("correlation", "4. Correlations with peak markers"),
    ("models", "5. Recovery and day-28 models"),
    ("site-model", "6. Site-calibrated model"),
)
SEVERE = {"neutrophils": 0.5, "hemoglobin": 60.0, "platelets": 20.0}  # seed 000 (clinical-reference §2)


@dataclass(slots=True)
class AnalysisResult:
    table: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    model: site_model_fit.SiteModel | None = None
    notes: list[str] = field(default_factory=list)
    html_path: Path | None = None


def _safe(name: str, result: AnalysisResult, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # one failed analysis must not lose the others; it is said in the report
        result.notes.append(f"{name}: not computed ({type(exc).__name__}: {exc})")
        return None


def analyze_rows(
    rows: Iterable[PatientRow],
    out: Path,
    disease: str = "all",
    created: date | None = None,
    bootstrap: int = 500,
    profile: Profile | None = None,
) -> AnalysisResult:
    """The report of `rows`; `profile` is the one the rows were assessed with (its site-model rule goes into the
    artifact, so scoring reads the inputs as training did)."""
    profile = profile or default_profile()
    rows = list(rows)
    out.mkdir(parents=True, exist_ok=True)
    df = regression.prepare(cohort_table(rows))
    daily = daily_table(rows)
    res = AnalysisResult(df)
    t = res.tables
    t["characteristics"] = incidence.characteristics(df)
    t["incidence"] = incidence.incidence_table(df)
    t["published_comparison"] = incidence.published_comparison(df)
    cis = [
        # at risk: patients without that severe cytopenia at the last value before infusion (seed 000 denominators)
        survival.cumulative_incidence(
            df[df[f"{s}_before"] == 0], f"new-onset {s.upper()}", f"{s}_new", f"{s}_onset_day"
        )
        for s in ("sn", "sa", "st")
    ]
    cis.append(survival.cumulative_incidence(df, "CRS", "crs_any", "crs_onset_day"))
    res.notes.append(cis[0].estimator + ". " + survival.ESTIMATOR_NOTE)
    t["cumulative_incidence"] = pd.concat([c.curve.assign(event=c.event) for c in cis], ignore_index=True)
    res.figures["cumulative_incidence"] = plots.cumulative_incidence_png(cis)
    groups = survival.crs_group(df["crs_grade"])
    curves = {lin: survival.count_curves_by_crs(daily[lin], groups) for lin in daily}
    t["counts_by_crs"] = pd.concat([c.assign(lineage=lin) for lin, c in curves.items()], ignore_index=True)
    res.figures["counts_by_crs"] = plots.count_curves_png(curves, SEVERE)
    corr = correlation.spearman_table(df, list(MARKERS))
    t["spearman"] = corr
    if not corr.empty:
        res.figures["spearman_heatmap"] = plots.heatmap_png(corr)
    for lin in ("sn", "sa", "st"):
        uni = _safe(f"Cox univariable {lin}", res, lambda lin=lin: regression.cox_univariable(df, lin))
        if uni is not None:
            t[f"cox_univariable_{lin}"] = uni
        cox = _safe(f"Cox multivariable {lin}", res, lambda lin=lin: regression.cox_multivariable(df, lin))
        if cox is not None:
            t[f"cox_multivariable_{lin}"] = cox.table.assign(n=cox.n, events=cox.events)
            t[f"cox_ph_test_{lin}"] = cox.ph_test
    for outcome in ("pht_seed000", "nonrec28_seed001"):
        uni = _safe(f"logistic univariable {outcome}", res, lambda o=outcome: regression.logistic_univariable(df, o))
        if uni is not None:
            t[f"logistic_univariable_{outcome}"] = uni
        mv = _safe(f"logistic multivariable {outcome}", res, lambda o=outcome: regression.logistic_multivariable(df, o))
        if mv is not None:
            t[f"logistic_multivariable_{outcome}"] = mv
    cuts = []
    for pred, higher in (
        ("baseline_neutrophils", False),
        ("baseline_hemoglobin", False),
        ("baseline_il6", True),
        ("baseline_ferritin", True),
        ("max_lg_ferritin", True),
    ):
        c = _safe(
            f"Youden {pred}", res, lambda p=pred, h=higher: regression.youden_cutoff(df, "nonrec28_seed001", p, h)
        )
        if c is not None:
            cuts.append(c)
    t["roc_cutoffs_nonrec28"] = pd.DataFrame(cuts)
    outcome, feats = (
        ("nonrec28_seed001", ["baseline_neutrophils", "baseline_hemoglobin", "baseline_il6", "crs_grade"])
        if disease == "nhl"
        else (
            "pht_seed000",
            ["baseline_neutrophils", "baseline_hemoglobin", "baseline_platelets", "crs_grade", "crs_recovery_day"],
        )
    )
    key = site_model_fit.OUTCOME_DEFINITIONS[outcome][1]
    res.model = _safe(
        "site model",
        res,
        lambda: site_model_fit.fit_site_model(
            site_model_fit.input_frame(df, outcome, feats),
            outcome,
            feats,
            created=created,
            bootstrap=bootstrap,
            outcome_day=int(profile.pht[key]),
            # the rows' inputs were read with this rule: the model keeps it, and is scored with it
            landmark_day=int(profile.thresholds["site_model"]["landmark_day"]),
            no_crs_reading_from_day=int(profile.thresholds["site_model"]["no_crs_reading_from_day"]),
            population=disease,
        ),
    )
    if res.model is not None:
        site_model_fit.save_model(res.model, out / "site_model.json")
        t["site_model_calibration"] = pd.DataFrame(res.model.validation["calibration_table"])
    _write(res, out)
    return res


def _write(res: AnalysisResult, out: Path) -> None:
    tables_dir = out / "tables"
    tables_dir.mkdir(exist_ok=True)
    res.table.to_csv(tables_dir / "patients.csv", index=False)
    for name, table in res.tables.items():
        table.to_csv(tables_dir / f"{name}.csv", index=False)
    payload = {name: json.loads(table.to_json(orient="records")) for name, table in res.tables.items()}
    (out / "tables.json").write_text(json.dumps({"notes": res.notes, "tables": payload}, indent=1), encoding="utf-8")
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    for name, png in res.figures.items():
        (figs / f"{name}.png").write_bytes(png)
    res.html_path = out / "report.html"
    res.html_path.write_text(render_html(res), encoding="utf-8")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _img(res: AnalysisResult, name: str, alt: str) -> str:
    if name not in res.figures:
        return f"<p><em>{html.escape(alt)}: no figure (not enough data).</em></p>"
    data = base64.b64encode(res.figures[name]).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def render_html(res: AnalysisResult) -> str:
    t = res.tables
    n = len(res.table)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>cds-cyto cohort report</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}th{background:#eee}img{max-width:100%}",
        "</style></head><body>",
        f"<h1>cds-cyto cohort report</h1><p>{n} patients. Definitions: clinical-reference.md (seed 000 severe: "
        "ANC &lt; 0.5, Hb &lt; 60 g/L, PLT &lt; 20; seed 001 / CTCAE grade &ge; 3: ANC &lt; 1.0, Hb &lt; 80 g/L, "
        "PLT &lt; 50).</p>",
    ]
    sec = dict(SECTIONS)
    parts.append(
        f'<section id="characteristics"><h2>{sec["characteristics"]}</h2>{_table(t["characteristics"])}</section>'
    )
    parts.append(
        f'<section id="incidence"><h2>{sec["incidence"]}</h2>{_table(t["incidence"])}'
        "<h3>Beside the published seed-000 figures</h3>"
        f"{_table(t['published_comparison'][['measure', 'this cohort', 'published', 'source']], 'published')}</section>"
    )
    parts.append(
        f'<section id="cumulative"><h2>{sec["cumulative"]}</h2><p>{html.escape(res.notes[0])}</p>'
        f"{_img(res, 'cumulative_incidence', 'cumulative incidence')}"
        f"{_img(res, 'counts_by_crs', 'counts by CRS')}</section>"
    )
    parts.append(
        f'<section id="correlation"><h2>{sec["correlation"]}</h2>{_img(res, "spearman_heatmap", "Spearman heatmap")}'
        f"{_table(t['spearman'])}</section>"
    )
    model_parts = [f'<section id="models"><h2>{sec["models"]}</h2>']
    for name, table in t.items():
        if name.startswith(("cox_", "logistic_", "roc_")):
            model_parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>{_table(table)}")
    model_parts.append("</section>")
    parts.extend(model_parts)
    parts.append(f'<section id="site-model"><h2>{sec["site-model"]}</h2>')
    if res.model is not None:
        m, v = res.model, res.model.validation
        ci = v["auc_cv_ci95"]
        parts.append(
            f"<p>Logistic model of <b>{html.escape(m.outcome_definition)}</b>, fitted on this cohort of "
            f"{m.population_name} patients (n={m.training['n']}, events={m.training['events']}); artifact "
            f"<code>site_model.json</code> (format {site_model_fit.ARTIFACT_FORMAT} v{m.version}). Validation: "
            f"{html.escape(v['method'])}; AUC {v['auc_cv']:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f}); calibration "
            f"slope {v['calibration_slope']:.3f}, intercept {v['calibration_intercept']:.3f}.</p>"
            "<p>To show its probability on cards, start the service with <code>CDS_CYTO_SITE_MODEL</code> naming "
            "this file (or pass <code>--site-model</code> to <code>evaluate</code> and <code>sweep</code>). A patient "
            f"is scored from its day +{m.landmark_day} landmark to day +{m.outcome_day - 1}, with its CRS inputs read "
            "on the landmark, only when every input is known and final (a complete CRS record by the landmark), "
            "within the training range below, and of this population; every probability carries these validation "
            "figures.</p>"
        )
        caution = site_model_fit.over_fitting_caution(m.training["events"], len(m.features))
        if caution:
            parts.append(f"<p><b>Caution:</b> {caution}; read the cross-validated figures, not the apparent fit.</p>")
        coefs = pd.DataFrame(
            [{"feature": "intercept", "transform": "", "coefficient": m.intercept}]
            + [
                {
                    "feature": f,
                    "transform": m.transforms[f],
                    "coefficient": m.coefficients[f],
                    "training range": f"{m.ranges[f][0]:g} to {m.ranges[f][1]:g}",
                }
                for f in m.features
            ]
        )
        parts.append(_table(coefs) + "<h3>Calibration table (out-of-fold)</h3>" + _table(t["site_model_calibration"]))
    else:
        parts.append("<p>No site model could be fitted.</p>")
    parts.append("</section>")
    if len(res.notes) > 1:
        parts.append("<section id='notes'><h2>Notes</h2><ul>")
        parts.extend(f"<li>{html.escape(s)}</li>" for s in res.notes[1:])
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
