"""risk.toml → typed, validated `RiskData`, built by the profile's one loader (`Profile.risk`).

Every number the risk engine uses is here, with the text it was taken from; the interpreters in this package hold
no clinical literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

__all__ = [
    "FEATURE_NAMES",
    "BandRule",
    "FactorDef",
    "HematotoxVariable",
    "RiskData",
    "RiskDataError",
    "build_risk_data",
    "compare",
    "normalise_disease",
]

Op = Literal["<", "<=", ">", ">="]
FactorKind = Literal["continuous", "binary", "cutoff"]
_OPS: frozenset[str] = frozenset({"<", "<=", ">", ">="})
_KINDS: frozenset[str] = frozenset({"continuous", "binary", "cutoff"})

# The features a factor may name; cds_cyto.core.risk.factors implements exactly these (a test checks it).
FEATURE_NAMES: tuple[str, ...] = (
    "marrow_blasts_baseline",
    "ddimer_max_lg",
    "il10_max_lg",
    "ferritin_max_lg",
    "crs_onset_day",
    "crs_peak_day",
    "crs_recovery_day",
    "crs_max_grade",
    "crs_treated",
    "anc_baseline",
    "hb_baseline",
    "il6_baseline",
)


class RiskDataError(ValueError):
    """risk.toml, or a site override, does not describe a usable risk configuration."""


def compare(value: float, op: str, threshold: float) -> bool:
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    raise RiskDataError(f"unknown comparison {op!r}")


@dataclass(frozen=True, slots=True)
class BandRule:
    points: int
    op: Op
    value: float


@dataclass(frozen=True, slots=True)
class HematotoxVariable:
    name: str
    analyte: str
    unit: str
    published: str
    bands: tuple[BandRule, ...]  # tried in order; none matches → 0 points

    def points(self, value: float) -> int:
        for band in self.bands:
            if compare(value, band.op, band.value):
                return band.points
        return 0


@dataclass(frozen=True, slots=True)
class FactorDef:
    id: str
    model: str
    population: str
    source: str
    source_text: str
    outcome: str
    factor: str
    feature: str
    kind: FactorKind
    measure: Literal["HR", "OR"]
    estimate: float
    ci: tuple[float, float]
    p: float | None
    per: str
    direction: str
    worse: Literal["higher", "lower"] | None = None  # continuous
    reference: float | None = None  # continuous: the published reference value, if any
    reference_source: str | None = None
    op: Op | None = None  # cutoff
    cut: float | None = None  # cutoff

    @property
    def present_if(self) -> str | None:
        """The rule that makes the factor "present", in words; None when no reference is published."""
        if self.kind == "binary":
            return "given (yes)"
        if self.kind == "cutoff":
            return f"{self.op} {self.cut:g}"
        if self.reference is None:
            return None
        sign = ">" if self.worse == "higher" else "<"
        return f"{sign} {self.reference:g} (reference: {self.reference_source})"


@dataclass(frozen=True, slots=True)
class RiskData:
    version: str
    # baseline
    ld_lookback_days: int
    ld_source: str
    ld_within_days: int  # the lymphodepletion = the doses in this many days before the infusion
    ld_within_source: str
    fallback_first_day: int
    fallback_last_day: int
    fallback_source: str
    marrow_lookback_days: int
    marrow_source: str
    # CAR-HEMATOTOX
    hematotox_citation: str
    hematotox_high_risk_at_least: int
    hematotox_max_score: int
    hematotox_source_text: str
    hematotox_performance: str
    hematotox_caveats: dict[str, str]
    disease_aliases: dict[str, str]
    hematotox_variables: tuple[HematotoxVariable, ...]
    # CRS
    fever_at_least: float
    fever_source: str
    severe_source: str
    late_onset_after_day: int
    late_onset_source: str
    late_duration_over_days: int
    late_duration_source: str
    # markers
    marker_analytes: tuple[str, ...]
    marker_source: str
    # published factors and the relative summary
    factors: tuple[FactorDef, ...]
    summary_label: str
    summary_note: str
    summary_models: dict[str, dict[str, str]]
    # recommendations
    gcsf_already_from_day: int
    antibacterial_anc_below: float
    antibacterial_source: str
    antibacterial_text: str
    monitoring_hematotox_source: str


def normalise_disease(disease: str | None, data: RiskData) -> str | None:
    """ "B-ALL" / "all" / "ALL" → "ALL"; None stays None; an unknown spelling is an error, never a silent guess."""
    if disease is None:
        return None
    key = disease.strip().upper()
    if key not in data.disease_aliases:
        accepted = ", ".join(sorted(data.disease_aliases))
        raise RiskDataError(f"unknown disease {disease!r}: expected one of {accepted} (risk.toml disease_aliases)")
    return data.disease_aliases[key]


def _positive_days(raw: Any, where: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise RiskDataError(f"{where}: a whole number of days, 1 or more, not {raw!r}")
    return raw


def _op(raw: Any, where: str) -> Op:
    if raw not in _OPS:
        raise RiskDataError(f"{where}: op must be one of {sorted(_OPS)}, not {raw!r}")
    return cast(Op, raw)


def _variable(raw: Mapping[str, Any]) -> HematotoxVariable:
    name = str(raw["name"])
    bands = tuple(
        BandRule(int(b["points"]), _op(b["op"], f"hematotox.{name}"), float(b["value"])) for b in raw["bands"]
    )
    if [b.points for b in bands] != sorted((b.points for b in bands), reverse=True):
        raise RiskDataError(f"hematotox.{name}: bands must run from the most points to the fewest")
    return HematotoxVariable(name, str(raw["analyte"]), str(raw["unit"]), str(raw["published"]), bands)


def _factor(raw: Mapping[str, Any]) -> FactorDef:
    fid = str(raw["id"])
    kind = raw["kind"]
    if kind not in _KINDS:
        raise RiskDataError(f"factor {fid}: kind must be one of {sorted(_KINDS)}")
    feature = str(raw["feature"])
    if feature not in FEATURE_NAMES:
        raise RiskDataError(f"factor {fid}: unknown feature {feature!r}")
    measure = raw["measure"]
    if measure not in ("HR", "OR"):
        raise RiskDataError(f"factor {fid}: measure must be HR or OR")
    ci = raw["ci"]
    if not (isinstance(ci, list) and len(ci) == 2):
        raise RiskDataError(f"factor {fid}: ci must be [low, high]")
    estimate = float(raw["estimate"])
    if estimate <= 0:
        raise RiskDataError(f"factor {fid}: an HR/OR must be > 0")
    worse = raw.get("worse")
    if kind == "continuous" and worse not in ("higher", "lower"):
        raise RiskDataError(f"factor {fid}: a continuous factor needs worse = 'higher' or 'lower'")
    op: Op | None = None
    cut: float | None = None
    if kind == "cutoff":
        op = _op(raw.get("op"), f"factor {fid}")
        cut = float(raw["cut"])
    reference = raw.get("reference")
    return FactorDef(
        id=fid,
        model=str(raw["model"]),
        population=str(raw["population"]),
        source=str(raw["source"]),
        source_text=str(raw["source_text"]),
        outcome=str(raw["outcome"]),
        factor=str(raw["factor"]),
        feature=feature,
        kind=cast(FactorKind, kind),
        measure=cast(Literal["HR", "OR"], measure),
        estimate=estimate,
        ci=(float(ci[0]), float(ci[1])),
        p=float(raw["p"]) if raw.get("p") is not None else None,
        per=str(raw["per"]),
        direction=str(raw["direction"]),
        worse=cast(Literal["higher", "lower"] | None, worse),
        reference=float(reference) if reference is not None else None,
        reference_source=str(raw["reference_source"]) if raw.get("reference_source") is not None else None,
        op=op,
        cut=cut,
    )


def build_risk_data(d: Mapping[str, Any]) -> RiskData:
    """risk.toml as in force (site values merged by the profile loader) → `RiskData`; RiskDataError if unusable."""
    try:
        return _build(d)
    except RiskDataError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise RiskDataError(f"risk data: {exc!r}") from exc


def _build(d: Mapping[str, Any]) -> RiskData:
    b, h, c, m, s = d["baseline"], d["hematotox"], d["crs"], d["markers"], d["summary"]
    factors = tuple(_factor(f) for f in d["factors"])
    ids = [f.id for f in factors]
    if len(set(ids)) != len(ids):
        raise RiskDataError("factor ids must be unique")
    models = {str(k): {str(kk): str(vv) for kk, vv in v.items()} for k, v in s["models"].items()}
    for f in factors:
        if f.model not in models:
            raise RiskDataError(f"factor {f.id}: model {f.model!r} has no [summary.models] entry")
    return RiskData(
        version=str(d.get("version", "")),
        ld_lookback_days=int(b["ld_lookback_days"]),
        ld_source=str(b["ld_source"]),
        ld_within_days=_positive_days(b["ld_within_days_before_infusion"], "baseline.ld_within_days_before_infusion"),
        ld_within_source=str(b["ld_within_source"]),
        fallback_first_day=int(b["fallback_first_day"]),
        fallback_last_day=int(b["fallback_last_day"]),
        fallback_source=str(b["fallback_source"]),
        marrow_lookback_days=int(b["marrow_lookback_days"]),
        marrow_source=str(b["marrow_source"]),
        hematotox_citation=str(h["citation"]),
        hematotox_high_risk_at_least=int(h["high_risk_at_least"]),
        hematotox_max_score=int(h["max_score"]),
        hematotox_source_text=str(h["source_text"]),
        hematotox_performance=str(h["performance"]),
        hematotox_caveats={str(k): str(v) for k, v in h.get("caveats", {}).items()},
        disease_aliases={str(k).upper(): str(v) for k, v in h.get("disease_aliases", {}).items()},
        hematotox_variables=tuple(_variable(v) for v in h["variables"]),
        fever_at_least=float(c["fever_at_least"]),
        fever_source=str(c["fever_source"]),
        severe_source=str(c["severe_source"]),
        late_onset_after_day=int(c["late"]["onset_after_day"]),
        late_onset_source=str(c["late"]["onset_source"]),
        late_duration_over_days=int(c["late"]["duration_over_days"]),
        late_duration_source=str(c["late"]["duration_source"]),
        marker_analytes=tuple(str(a) for a in m["analytes"]),
        marker_source=str(m["source"]),
        factors=factors,
        summary_label=str(s["label"]),
        summary_note=str(s["note"]),
        summary_models=models,
        gcsf_already_from_day=int(d["gcsf_prophylaxis"]["already_from_day"]),
        antibacterial_anc_below=float(d["antibacterial"]["anc_below"]),
        antibacterial_source=str(d["antibacterial"]["source"]),
        antibacterial_text=str(d["antibacterial"]["text"]),
        monitoring_hematotox_source=str(d["extended_monitoring"]["hematotox_source"]),
    )
