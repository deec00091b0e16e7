"""Cohort analytics (issue 8): many Assessments → tables, survival and regression models, plots, an HTML report.

rows = rows_from_files(bundle_files(directory), as_of=None, disease="ALL")   # streamed, in a process pool
result = analyze_rows(rows, out_dir, disease="all")                          # CSV/JSON, figures, report.html
model = load_model(out_dir / "site_model.json"); model.predict({...})        # with model.validation beside it
"""

from cds_cyto.analytics.report import SECTIONS, AnalysisResult, analyze_rows
from cds_cyto.analytics.rows import assessment_row, bundle_files, cohort_table, daily_table, rows_from_files
from cds_cyto.analytics.site_model_fit import SiteModel, SiteModelError, fit_site_model, load_model, save_model

__all__ = [
    "SECTIONS",
    "AnalysisResult",
    "SiteModel",
    "SiteModelError",
    "analyze_rows",
    "assessment_row",
    "bundle_files",
    "cohort_table",
    "daily_table",
    "fit_site_model",
    "load_model",
    "rows_from_files",
    "save_model",
]
