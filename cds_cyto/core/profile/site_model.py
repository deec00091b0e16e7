"""The site model's artifact: a logistic model fitted on the site's own cohort (`cds-cyto analyze`), read back here.

Format `cds-cyto/site-model`, version 2 (JSON): the outcome with its definition and day, the landmark day its
CRS-derived inputs are read on, the population it was fitted on, the features (definition, transform, coefficient,
the range seen in training), the intercept, the training n / events / data hash, and the validation figures
(cross-validated AUC with its bootstrap 95% CI, calibration slope and intercept). An artifact without those
validation figures is refused: a probability is never shown without them (clinical-reference §7: calibrated
probabilities only from a site model, with its own validation metrics).

Standard library only, so the service loads a model without importing the analytics stack.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ARTIFACT_FORMAT",
    "ARTIFACT_VERSION",
    "FEATURE_DEFINITIONS",
    "OUTCOME_DEFINITIONS",
    "POPULATIONS",
    "SiteModel",
    "SiteModelError",
    "load_model",
    "over_fitting_caution",
    "parse_model",
    "transform_of",
]

ARTIFACT_FORMAT = "cds-cyto/site-model"
ARTIFACT_VERSION = 2  # 2: training ranges, population, the outcome's day and the landmark rule (1 had none of them)

FEATURE_DEFINITIONS: dict[str, str] = {
    "baseline_neutrophils": "ANC before lymphodepletion (CAR-HEMATOTOX window), x10^9/L",
    "baseline_hemoglobin": "Hb before lymphodepletion (CAR-HEMATOTOX window), g/L",
    "baseline_platelets": "platelets before lymphodepletion (CAR-HEMATOTOX window), x10^9/L",
    "baseline_il6": "IL-6 before lymphodepletion (CAR-HEMATOTOX window), pg/mL",
    "baseline_ferritin": "ferritin before lymphodepletion (CAR-HEMATOTOX window), ng/mL",
    "hematotox_score": "CAR-HEMATOTOX score (0-7), complete",
    "crs_grade": "maximum ASTCT CRS grade (0 = no CRS), as recorded by the landmark day",
    "crs_onset_day": "day of CRS onset (0 without CRS), as recorded by the landmark day",
    "crs_recovery_day": "day of CRS abatement (0 without CRS), as recorded by the landmark day",
    "toci_or_steroid": "tocilizumab or corticosteroid given from day 0 to the landmark day (1/0)",
    "max_lg_ferritin": "log10 of peak ferritin from day 0 to the landmark day",
    "max_lg_il6": "log10 of peak IL-6 from day 0 to the landmark day",
}
# outcome → its definition and the profile key of the day it is decided on (profiles.toml [pht])
OUTCOME_DEFINITIONS: dict[str, tuple[str, str]] = {
    "nonrec28_seed001": (
        "not recovered at day 28 (seed 001: any lineage grade >= 3 without recovery by day 28)",
        "seed001_day",
    ),
    "pht_seed000": ("prolonged hematological toxicity (seed 000: SN, SA or ST on day 28)", "day"),
}
# the `cds-cyto analyze --disease` value a model was fitted with → (normalised disease, what a reader calls it)
POPULATIONS: dict[str, tuple[str, str]] = {"all": ("ALL", "B-ALL"), "nhl": ("NHL", "B-NHL")}
LOG_FEATURES = frozenset(
    {"baseline_neutrophils", "baseline_hemoglobin", "baseline_platelets", "baseline_il6", "baseline_ferritin"}
)
_VALIDATION_KEYS = ("auc_cv", "auc_cv_ci95", "calibration_slope", "calibration_intercept", "method")
_OPTIONAL_FIGURES = (
    "auc_apparent",
    "auc_optimism_corrected",
    "brier_cv",
    "brier_apparent",
    "brier_optimism_corrected",
    "calibration_slope_optimism_corrected",
    "shrinkage_factor",
)


class SiteModelError(ValueError):
    """An artifact that cannot be read or a feature vector that cannot be scored."""


def transform_of(feature: str) -> str:
    """The transform a feature is fitted and scored with: ln for a baseline concentration or count."""
    return "ln" if feature in LOG_FEATURES else "identity"


def over_fitting_caution(events: float, features: int) -> str | None:
    """The usual rule of thumb (at least 10 events per feature): said wherever the model's figures are shown."""
    epv = events / max(1, features)
    return f"{epv:.1f} events per feature (fewer than 10): the model is likely over-fitted" if epv < 10 else None


def transform(kind: str, value: float) -> float:
    # ln of a count at the floor of 0.001: a baseline of 0 is a real (severe) value, not a missing one
    return math.log(max(value, 1e-3)) if kind == "ln" else value


@dataclass(frozen=True, slots=True)
class SiteModel:
    outcome: str
    outcome_day: int
    landmark_day: int  # the CRS-derived inputs are read on this day after infusion, in training and in scoring
    no_crs_reading_from_day: int  # "no CRS" needs a temperature or daily grade charted from this day (as in training)
    population: str  # the `--disease` of the cohort it was fitted on (POPULATIONS): "all" = B-ALL, "nhl" = B-NHL
    features: tuple[str, ...]
    intercept: float
    coefficients: dict[str, float]
    transforms: dict[str, str]
    ranges: dict[str, tuple[float, float]]  # the values seen in training (no extrapolation beyond them)
    validation: dict[str, Any]
    training: dict[str, Any]
    created: str
    version: int = ARTIFACT_VERSION
    feature_definitions: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None  # of the artifact file, when read from one

    @property
    def disease(self) -> str:
        """The normalised disease of the training cohort ("ALL", "NHL")."""
        return POPULATIONS[self.population][0]

    @property
    def population_name(self) -> str:
        return POPULATIONS[self.population][1]

    @property
    def outcome_definition(self) -> str:
        return OUTCOME_DEFINITIONS.get(self.outcome, (self.outcome, ""))[0]

    def predict(self, features: Mapping[str, float | None]) -> float:
        """Probability of the outcome. Every feature is required; a missing one is an error, never a silent 0."""
        missing = [f for f in self.features if features.get(f) is None]
        if missing:
            raise SiteModelError(f"missing features: {', '.join(missing)}")
        eta = self.intercept
        for f in self.features:
            eta += self.coefficients[f] * transform(self.transforms[f], float(features[f] or 0.0))
        if not math.isfinite(eta):
            raise SiteModelError("the model gives no finite linear predictor for these inputs")
        # written so that a large |eta| saturates at 0 or 1 instead of overflowing exp
        if eta >= 0:
            return 1.0 / (1.0 + math.exp(-eta))
        e = math.exp(eta)
        return e / (1.0 + e)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "created": self.created,
            "outcome": {"name": self.outcome, "definition": self.outcome_definition, "day": self.outcome_day},
            "landmark_day": self.landmark_day,
            "no_crs_reading_from_day": self.no_crs_reading_from_day,
            "population": self.population,
            "features": [
                {
                    "name": f,
                    "definition": self.feature_definitions.get(f, FEATURE_DEFINITIONS.get(f, f)),
                    "transform": self.transforms[f],
                    "coefficient": self.coefficients[f],
                    "training_range": list(self.ranges[f]),
                }
                for f in self.features
            ],
            "intercept": self.intercept,
            "training": self.training,
            "validation": self.validation,
        }


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SiteModelError(f"{where}: not a number ({str(value)[:40]!r})")
    try:
        out = float(value)  # a JSON integer beyond float range overflows here
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise SiteModelError(f"{where}: not a finite number")
    return out


def _count(value: Any, where: str) -> int:
    v = _finite(value, where)
    if v != int(v) or not 0 <= v < 2**53:
        raise SiteModelError(f"{where}: not a whole count")
    return int(v)


def _text(value: Any, where: str, limit: int = 200) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise SiteModelError(f"{where}: not a text of at most {limit} characters")
    return value


def _validation(doc: Any) -> dict[str, Any]:
    """Only the known figures, each checked, are kept: what the artifact holds is shown on cards and written back."""
    if not isinstance(doc, dict):
        raise SiteModelError("validation: missing")
    absent = [k for k in _VALIDATION_KEYS if doc.get(k) is None]
    if absent:
        raise SiteModelError(f"validation figures missing ({', '.join(absent)}): a model is never shown without them")
    ci = doc["auc_cv_ci95"]
    if not (isinstance(ci, list) and len(ci) == 2):
        raise SiteModelError("validation.auc_cv_ci95: not a [low, high] pair")
    out: dict[str, Any] = {"method": _text(doc["method"], "validation.method")}
    for key in ("calibration_slope", "calibration_intercept"):
        out[key] = _finite(doc[key], f"validation.{key}")
        if abs(out[key]) > 1e3:
            raise SiteModelError(f"validation.{key}: not a plausible figure")
    auc = _finite(doc["auc_cv"], "validation.auc_cv")
    lo, hi = (_finite(v, "validation.auc_cv_ci95") for v in ci)
    if not 0.0 <= lo <= auc <= hi <= 1.0:
        raise SiteModelError("validation: the AUC and its 95% CI are not an interval within 0-1 around the AUC")
    out |= {"auc_cv": auc, "auc_cv_ci95": [lo, hi]}
    for key in _OPTIONAL_FIGURES:  # the bootstrap and Brier figures (analyze's TRIPOD validation), when present
        if doc.get(key) is not None:
            out[key] = _finite(doc[key], f"validation.{key}")
    table = doc.get("calibration_table")
    if table is not None:
        if not isinstance(table, list) or len(table) > 100:
            raise SiteModelError("validation.calibration_table: not a list of bins")
        keys = ("bin", "n", "mean_predicted", "observed")
        where = "validation.calibration_table"
        out["calibration_table"] = [
            {k: _finite(row.get(k) if isinstance(row, dict) else None, f"{where}.{k}") for k in keys} for row in table
        ]
    return out


def parse_model(doc: Any, sha256: str | None = None) -> SiteModel:
    """A `SiteModel` from an artifact's JSON; `SiteModelError` says what is wrong with it."""
    if not isinstance(doc, dict) or doc.get("format") != ARTIFACT_FORMAT:
        raise SiteModelError(f"not a {ARTIFACT_FORMAT} artifact")
    if doc.get("version") != ARTIFACT_VERSION:
        raise SiteModelError(
            f"artifact version {doc.get('version')!r} is not supported (this release reads version "
            f"{ARTIFACT_VERSION}: re-run `cds-cyto analyze` to write one)"
        )
    try:
        outcome = _text(doc["outcome"]["name"], "outcome.name", 40)
        if outcome not in OUTCOME_DEFINITIONS:
            raise SiteModelError(f"outcome {outcome!r} is not one this release can place in time")
        feats = doc["features"]
        if not isinstance(feats, list) or not feats:
            raise SiteModelError("features: none")
        names = tuple(_text(f["name"], "features.name", 40) for f in feats)
        unknown = [n for n in names if n not in FEATURE_DEFINITIONS]
        if unknown or len(set(names)) != len(names):
            raise SiteModelError(f"features: unknown or repeated ({', '.join(unknown) or 'repeated'})")
        transforms = {str(f["name"]): _text(f["transform"], "features.transform", 20) for f in feats}
        # the transform is part of the feature's definition: an artifact cannot change what training did
        wrong = [n for n, t in transforms.items() if t != transform_of(n)]
        if wrong:
            raise SiteModelError(f"features: a transform other than the one each is fitted with ({', '.join(wrong)})")
        ranges: dict[str, tuple[float, float]] = {}
        for f in feats:
            if not isinstance(f["training_range"], list) or len(f["training_range"]) != 2:
                raise SiteModelError(f"features.{f['name']}.training_range: not a [low, high] pair")
            lo, hi = (_finite(v, f"features.{f['name']}.training_range") for v in f["training_range"])
            if lo > hi:
                raise SiteModelError(f"features.{f['name']}.training_range: low above high")
            ranges[str(f["name"])] = (lo, hi)
        population = _text(doc["population"], "population", 20)
        if population not in POPULATIONS:
            raise SiteModelError(f"population {population!r}: not one of {', '.join(POPULATIONS)}")
        raw_training = doc["training"]
        if not isinstance(raw_training, dict):
            raise SiteModelError("training: missing")
        n, events = (_count(raw_training.get(key), f"training.{key}") for key in ("n", "events"))
        if not 0 <= events <= n or n < 1:
            raise SiteModelError("training: n and events are not counts with 0 <= events <= n")
        training: dict[str, Any] = {"n": n, "events": events}
        if raw_training.get("data_sha256") is not None:
            training["data_sha256"] = _text(raw_training["data_sha256"], "training.data_sha256", 128)
        if raw_training.get("seed") is not None:
            training["seed"] = _count(raw_training["seed"], "training.seed")
        outcome_day = _finite(doc["outcome"]["day"], "outcome.day")
        if outcome_day != int(outcome_day) or outcome_day < 1:
            raise SiteModelError("outcome.day: not a whole day after infusion")
        landmark = _finite(doc["landmark_day"], "landmark_day")
        if landmark != int(landmark) or not 0 <= landmark < outcome_day:
            raise SiteModelError("landmark_day: not a whole day from 0 to before the outcome's day")
        reading = _count(doc["no_crs_reading_from_day"], "no_crs_reading_from_day")
        return SiteModel(
            outcome=outcome,
            outcome_day=int(outcome_day),
            landmark_day=int(landmark),
            no_crs_reading_from_day=reading,
            population=population,
            features=names,
            intercept=_finite(doc["intercept"], "intercept"),
            coefficients={str(f["name"]): _finite(f["coefficient"], f"features.{f['name']}") for f in feats},
            transforms=transforms,
            ranges=ranges,
            validation=_validation(doc.get("validation")),
            training=training,
            created=_text(doc["created"], "created", 40),
            version=ARTIFACT_VERSION,
            # the definitions are this release's, by name: an artifact's own text could say anything
            feature_definitions={n: FEATURE_DEFINITIONS[n] for n in names},
            sha256=sha256,
        )
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, SiteModelError):
            raise
        raise SiteModelError(f"malformed model artifact ({type(exc).__name__}: {exc})") from exc


def load_model(path: str | Path) -> SiteModel:
    try:
        raw = Path(path).read_bytes()
        doc = json.loads(raw)
    except (OSError, ValueError, RecursionError) as exc:
        raise SiteModelError(f"{path}: cannot read the model ({exc})") from exc
    try:
        return parse_model(doc, hashlib.sha256(raw).hexdigest())
    except SiteModelError as exc:
        raise SiteModelError(f"{path}: {exc}") from exc
