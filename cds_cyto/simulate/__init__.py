"""Synthetic CAR-T cohort: FHIR R4 resources calibrated to the seed papers, with ground truth.

`write_cohort(CohortSpec(...), out)` writes one transaction Bundle per patient (or NDJSON) and truth.json;
`calibration_report()` compares the simulated cohort with the published numbers; `simulate_patient()` gives one
patient (resources, truth) in memory, and `dense_patient()` the ~1,500-Observation patient of the benchmark.

Modules, one job each: params (calibration data with citations), latent (patient-level draws), schedule (when
things are charted), trajectories (daily curves, supportive care), mess (injected data problems), truth (ground
truth by clinical-reference §3), fhir (resource dicts), patient (one patient end to end), cohort (plans and
dates), writer (bundles, NDJSON, truth.json), calibration (the report), tuning (re-fitting intercepts by hand).
"""

from cds_cyto.simulate.calibration import CalibrationReport, calibration_report, cohort_truths
from cds_cyto.simulate.mess import DATA_PROBLEM_KINDS, MESS_LEVELS, MessItem, MessLevel, MessRates
from cds_cyto.simulate.params import PROFILES, TARGETS, Disease, Target, model_for
from cds_cyto.simulate.patient import SimulatedPatient, dense_patient, simulate_patient
from cds_cyto.simulate.plan import DEFAULT_ANCHOR, CohortSpec, DiseaseChoice, PatientPlan, plan_cohort
from cds_cyto.simulate.writer import NDJSON_TYPES, OutputFormat, WriteSummary, transaction_bundle, write_cohort

__all__ = [
    "DATA_PROBLEM_KINDS",
    "DEFAULT_ANCHOR",
    "MESS_LEVELS",
    "NDJSON_TYPES",
    "PROFILES",
    "TARGETS",
    "CalibrationReport",
    "CohortSpec",
    "Disease",
    "DiseaseChoice",
    "MessItem",
    "MessLevel",
    "MessRates",
    "OutputFormat",
    "PatientPlan",
    "SimulatedPatient",
    "Target",
    "WriteSummary",
    "calibration_report",
    "cohort_truths",
    "dense_patient",
    "model_for",
    "plan_cohort",
    "simulate_patient",
    "transaction_bundle",
    "write_cohort",
]
