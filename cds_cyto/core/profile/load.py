"""The evaluation profile: every clinical number and code list, loaded from the cited data files.

`load_profile()` reads `data/*.toml` beside it and merges an optional site file over it, so a site changes a threshold
or adds a code without touching code. The core receives a `Profile` as an argument; nothing here is global state
except the cached default.

Site file (TOML), every key optional — values replace the defaults, `extra_codes` lists are appended:

    [analytes.neutrophils]
    extra_codes = ["http://acme.lab|ANC"]
    [events.gcsf]
    extra_codes = ["http://www.nlm.nih.gov/research/umls/rxnorm|..."]
    [profiles.seed000.recovery.platelets]
    lookback_days = 3
    [lln_defaults]
    neutrophils = 1.8
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from cds_cyto.core.profile.risk_tables import RiskData, RiskDataError, build_risk_data, normalise_disease
from cds_cyto.core.profile.site_model import SiteModel, SiteModelError, load_model

__all__ = [
    "LINEAGES",
    "AnalyteDef",
    "Band",
    "CtcaeTerm",
    "DefinitionProfile",
    "Dimension",
    "EventKind",
    "IcahtRules",
    "Profile",
    "ProfileError",
    "RecoveryRule",
    "RuleDef",
    "default_profile",
    "load_profile",
    "with_site_model",
]

# The therapy events the reader recognises (codes.toml [events.*]); the record's TherapyEvent.kind.
EventKind = Literal[
    "car_t_infusion",
    "lymphodepletion",
    "rbc_transfusion",
    "platelet_transfusion",
    "blood_product_transfusion",
    "gcsf",
    "tocilizumab",
    "corticosteroid",
]

LINEAGES = ("neutrophils", "hemoglobin", "platelets", "leukocytes", "lymphocytes")
_DATA_FILES = ("analytes", "units", "codes", "criteria", "profiles", "thresholds", "risk", "rules")


class ProfileError(ValueError):
    """The data files or a site file do not describe a usable profile."""


@dataclass(frozen=True, slots=True)
class AnalyteDef:
    name: str
    label: str
    dimension: str
    codes: tuple[str, ...]
    plausible: tuple[float, float]
    plausible_source: str
    ddu_codes: frozenset[str] = frozenset()
    # Units whose value, sent labelled in another unit, is the commonest implausible reading: the data-problem
    # text then says what the value would be in that unit ("if the unit is g/dL this is 112 g/L").
    unit_error_hints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Dimension:
    canonical: str
    factors: dict[str, float]
    offsets: dict[str, float]


@dataclass(frozen=True, slots=True)
class Band:
    grade: int
    below: float | None  # None: the lower limit of normal
    text: str


@dataclass(frozen=True, slots=True)
class CtcaeTerm:
    version: str
    term: str
    bands: tuple[Band, ...]  # most severe first
    source: str


@dataclass(frozen=True, slots=True)
class RecoveryRule:
    at_least: float
    results: int
    blocked_by: frozenset[str]
    lookback_days: int


@dataclass(frozen=True, slots=True)
class DefinitionProfile:
    name: str
    label: str
    citation: str
    severe: dict[str, float]
    cytopenia: dict[str, float]
    cytopenia_by_sex: dict[str, dict[str, float]]
    recovery: dict[str, RecoveryRule]


@dataclass(frozen=True, slots=True)
class IcahtRules:
    citation: str
    early_last_day: int
    late_last_day: int
    interpolate_max_gap_days: int
    bridge_max_days: int
    anc_le500: float
    anc_le100: float
    anc_early_grades: tuple[dict[str, int], ...]
    anc_late_levels: tuple[tuple[int, float], ...]  # (grade, at_most), most severe first
    late_min_results: int
    t_citation: str
    plt_lt50: float
    plt_lt20: float
    plt_early_grades: tuple[dict[str, int], ...]
    plt_late_levels: tuple[tuple[int, float], ...]  # (grade, below), most severe first
    plt_late_grade4_days: int
    plt_late_min_results: int


@dataclass(frozen=True, slots=True)
class DiseaseGroup:
    """A disease as its Conditions code it (codes.toml [disease.groups]) and the family the rules apply."""

    name: str
    label: str
    family: str
    icd10cm_prefixes: tuple[str, ...]  # dots removed, upper case
    codes: frozenset[str]  # "system|code", exact

    def matches(self, code: str, icd10cm_system: str) -> bool:
        system, _, value = code.rpartition("|")
        if system == icd10cm_system:
            plain = value.replace(".", "").upper()
            if any(plain.startswith(p) for p in self.icd10cm_prefixes):
                return True
        return code in self.codes


@dataclass(frozen=True, slots=True)
class DiseaseCodes:
    groups: tuple[DiseaseGroup, ...]
    icd10cm_system: str
    default: str | None  # the site's setting (normalised family) when the problem list is not available
    source: str

    def group_of(self, code: str) -> DiseaseGroup | None:
        return next((g for g in self.groups if g.matches(code, self.icd10cm_system)), None)


@dataclass(frozen=True, slots=True)
class RuleDef:
    """One recommendation rule of rules.toml: its code, its title, the thresholds section with its numbers and
    citation, and (for a rule without numbers to show) the sentence its page shows instead."""

    code: str
    title: str
    thresholds: str
    page_note: str | None = None
    also: tuple[str, ...] = ()  # further thresholds sections the rule reads (shown on its page)


@dataclass(frozen=True)
class Profile:
    """Everything the core needs to know that is clinical: codes, units, criteria, definitions, thresholds, the risk
    tables and the recommendation rules. Built only by `load_profile`."""

    analytes: dict[str, AnalyteDef]
    dimensions: dict[str, Dimension]
    unit_aliases: dict[str, str]
    # dimension → spelling matched exactly (spaces removed, case kept) → UCUM code ("G/L" is a count, "g/L" a mass)
    exact_unit_aliases: dict[str, dict[str, str]]
    observation_codes: dict[str, str]  # "system|code" → analyte
    event_codes: dict[str, tuple[EventKind, frozenset[str]]]  # "system|code" → (kind, resource types)
    crs_condition_grades: dict[str, int | None]
    crs_grade_observation_codes: frozenset[str]
    disease: DiseaseCodes
    ctcae: dict[str, dict[str, CtcaeTerm]]  # version → lineage → term
    definitions: dict[str, DefinitionProfile]
    grade3plus_extra: dict[str, float]
    pht: dict[str, Any]
    icaht: IcahtRules
    thresholds: dict[str, Any]
    risk: RiskData  # risk.toml as in force
    rules: tuple[RuleDef, ...]  # rules.toml, in card order
    lln_defaults: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    code_names: dict[str, str] = field(default_factory=dict)  # "system|code" → a name evidence can show
    # Another name of a code system → the name the code tables use ("urn:oid:2.16.840.1.113883.6.1" → LOINC).
    code_systems: dict[str, str] = field(default_factory=dict)
    panel_codes: tuple[str, ...] = ()  # "system|code" of panels whose counts come as components (searched for too)
    site_model: SiteModel | None = None  # the site's own calibrated model (`load_profile(site_model=...)`)

    def rule(self, code: str) -> RuleDef | None:
        return next((r for r in self.rules if r.code == code), None)

    @property
    def ctcae_versions(self) -> tuple[str, ...]:
        return tuple(self.ctcae)


def _read_data(name: str) -> dict[str, Any]:
    text = resources.files("cds_cyto.core.profile.data").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], site: dict[str, Any]) -> dict[str, Any]:
    """Site values replace defaults; `extra_*` lists are appended to the list they name."""
    out = dict(base)
    for key, value in site.items():
        if key.startswith("extra_") and isinstance(value, list):
            target = key.removeprefix("extra_")
            out[target] = [*out.get(target, []), *value]
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _float_pair(raw: Any, where: str) -> tuple[float, float]:
    if not (isinstance(raw, list) and len(raw) == 2):
        raise ProfileError(f"{where}: expected [low, high]")
    return float(raw[0]), float(raw[1])


def _build(data: dict[str, dict[str, Any]]) -> Profile:
    analytes: dict[str, AnalyteDef] = {}
    observation_codes: dict[str, str] = {}
    for name, raw in data["analytes"]["analytes"].items():
        a = AnalyteDef(
            name=name,
            label=str(raw["label"]),
            dimension=str(raw["dimension"]),
            codes=tuple(raw.get("codes", [])),
            plausible=_float_pair(raw["plausible"], f"analytes.{name}.plausible"),
            plausible_source=str(raw.get("plausible_source", "")),
            ddu_codes=frozenset(raw.get("ddu_codes", [])),
            unit_error_hints=tuple(str(u) for u in raw.get("unit_error_hints", [])),
        )
        analytes[name] = a
        for code in a.codes:
            if code in observation_codes and observation_codes[code] != name:
                raise ProfileError(f"code {code} maps to both {observation_codes[code]} and {name}")
            observation_codes[code] = name

    dimensions = {
        name: Dimension(
            canonical=str(raw["canonical"]),
            factors={k: float(v) for k, v in raw["factors"].items()},
            offsets={k: float(v) for k, v in raw.get("offsets", {}).items()},
        )
        for name, raw in data["units"]["dimensions"].items()
    }
    for a in analytes.values():
        if a.dimension not in dimensions:
            raise ProfileError(f"analyte {a.name}: unknown dimension {a.dimension}")
    aliases = {str(k): str(v) for k, v in data["units"]["aliases"].items()}
    exact_aliases = {
        str(dim): {str(k): str(v) for k, v in table.items()}
        for dim, table in data["units"].get("exact_aliases", {}).items()
    }

    event_codes: dict[str, tuple[EventKind, frozenset[str]]] = {}
    for kind, raw in data["codes"]["events"].items():
        for code in raw.get("codes", []):
            event_codes[code] = (cast(EventKind, kind), frozenset(raw.get("resources", [])))
    try:
        risk = build_risk_data(data["risk"])
    except RiskDataError as exc:
        raise ProfileError(f"risk: {exc}") from None
    disease = _disease_codes(data["codes"]["disease"], risk)
    crs = data["codes"]["crs"]
    crs_grades: dict[str, int | None] = {k: int(v) for k, v in crs["condition_grades"].items()}
    for code in crs.get("condition_unspecified", []):
        crs_grades[code] = None

    ctcae: dict[str, dict[str, CtcaeTerm]] = {}
    for version, table in data["criteria"]["ctcae"].items():
        terms: dict[str, CtcaeTerm] = {}
        for lineage in LINEAGES:
            raw = table[lineage]
            bands = tuple(
                Band(
                    int(b["grade"]),
                    None if b["below"] == "LLN" else float(b["below"]),
                    str(b["text"]),
                )
                for b in raw["bands"]
            )
            if [b.grade for b in bands] != sorted((b.grade for b in bands), reverse=True):
                raise ProfileError(f"ctcae {version} {lineage}: bands must run from the most severe grade")
            terms[lineage] = CtcaeTerm(version, str(raw["term"]), bands, str(table.get("source", "")))
        ctcae[version] = terms

    definitions: dict[str, DefinitionProfile] = {}
    for name, raw in data["profiles"]["profiles"].items():
        definitions[name] = DefinitionProfile(
            name=name,
            label=str(raw["label"]),
            citation=str(raw["citation"]),
            severe={k: float(v) for k, v in raw["severe"].items()},
            cytopenia={k: float(v) for k, v in raw.get("cytopenia", {}).items()},
            cytopenia_by_sex={
                k: {s: float(x) for s, x in v.items()} for k, v in raw.get("cytopenia_by_sex", {}).items()
            },
            recovery={
                lineage: RecoveryRule(
                    at_least=float(r["at_least"]),
                    results=int(r["results"]),
                    blocked_by=frozenset(r.get("blocked_by", [])),
                    lookback_days=int(r.get("lookback_days", 0)),
                )
                for lineage, r in raw["recovery"].items()
            },
        )

    p = data["profiles"]
    ic, tic = p["icaht"], p["t_icaht"]
    icaht = IcahtRules(
        citation=str(ic["citation"]),
        early_last_day=int(ic["early_last_day"]),
        late_last_day=int(ic["late_last_day"]),
        interpolate_max_gap_days=int(ic["interpolate_max_gap_days"]),
        bridge_max_days=int(ic["bridge_max_days"]),
        anc_le500=float(ic["early"]["le500"]),
        anc_le100=float(ic["early"]["le100"]),
        anc_early_grades=tuple(dict(g) for g in ic["early"]["grades"]),
        anc_late_levels=tuple((int(x["grade"]), float(x["at_most"])) for x in ic["late"]["levels"]),
        late_min_results=int(ic["late"]["min_results"]),
        t_citation=str(tic["citation"]),
        plt_lt50=float(tic["early"]["lt50"]),
        plt_lt20=float(tic["early"]["lt20"]),
        plt_early_grades=tuple(dict(g) for g in tic["early"]["grades"]),
        plt_late_levels=tuple((int(x["grade"]), float(x["below"])) for x in tic["late"]["levels"]),
        plt_late_grade4_days=int(tic["late"]["grade4_days_lt_20"]),
        plt_late_min_results=int(tic["late"]["min_results"]),
    )
    lookback = data["thresholds"]["data_quality"]["lookback_days"]
    if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 0:
        raise ProfileError("thresholds.data_quality.lookback_days: a whole number of days, 0 or more")
    urgent = data["thresholds"]["data_quality"].get("urgent_implausible", [])
    if not isinstance(urgent, list) or not all(isinstance(u, str) and u in analytes for u in urgent):
        raise ProfileError("thresholds.data_quality.urgent_implausible: a list of analyte names")
    site_rule = data["thresholds"]["site_model"]
    for key in ("landmark_day", "no_crs_reading_from_day"):
        value = site_rule[key]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 365:
            raise ProfileError(f"thresholds.site_model.{key}: a whole number of days, 0 to 365")
    if not isinstance(site_rule["unknown_disease_in_population"], bool):
        raise ProfileError("thresholds.site_model.unknown_disease_in_population: true or false")
    extra = p.get("grade3plus_extra", {})
    return Profile(
        analytes=analytes,
        dimensions=dimensions,
        unit_aliases=aliases,
        exact_unit_aliases=exact_aliases,
        observation_codes=observation_codes,
        event_codes=event_codes,
        crs_condition_grades=crs_grades,
        crs_grade_observation_codes=frozenset(crs.get("grade_observation_codes", [])),
        disease=disease,
        ctcae=ctcae,
        definitions=definitions,
        grade3plus_extra={k: float(v) for k, v in extra.items() if k in LINEAGES},
        pht=dict(p["pht"]),
        icaht=icaht,
        thresholds=dict(data["thresholds"]),
        lln_defaults={k: float(v) for k, v in data.get("site", {}).get("lln_defaults", {}).items()},
        versions=_table_versions(data),
        code_names={k: str(v) for k, v in data["codes"].get("code_names", {}).items() if "|" in k},
        code_systems={str(k): str(v) for k, v in data["analytes"].get("code_systems", {}).items()},
        panel_codes=tuple(dict.fromkeys(str(c) for c in data["analytes"].get("panels", {}).get("codes", []))),
        risk=risk,
        rules=_rules(data["rules"], data["thresholds"]),
    )


def _rules(raw: dict[str, Any], thresholds: dict[str, Any]) -> tuple[RuleDef, ...]:
    rows = sorted(raw["rules"].items(), key=lambda kv: int(kv[1]["order"]))
    out = []
    for code, row in rows:
        section = str(row["thresholds"])
        if not isinstance(thresholds.get(section), dict) or "source" not in thresholds[section]:
            raise ProfileError(f"rules.{code}.thresholds: {section!r} is not a thresholds section with a source")
        note = row.get("page_note")
        also = tuple(str(name) for name in row.get("also", ()))
        for name in also:
            if not isinstance(thresholds.get(name), dict):
                raise ProfileError(f"rules.{code}.also: {name!r} is not a thresholds section")
        out.append(RuleDef(str(code), str(row["title"]), section, None if note is None else str(note), also))
    return tuple(out)


def _table_versions(data: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each clinical table's version and the hash of its content as in force (site values merged): a change to any
    of them changes `profile_versions`, hence the sweep's profile hash (re-assessment)."""
    tables = {name: data[name] for name in _DATA_FILES}
    if data.get("site"):
        tables["site"] = data["site"]
    return {name: f"{table.get('version', '')} sha256:{_content_hash(table)}".strip() for name, table in tables.items()}


def _content_hash(table: dict[str, Any]) -> str:
    text = json.dumps(table, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _disease_codes(raw: dict[str, Any], risk: RiskData) -> DiseaseCodes:
    def family(value: Any, where: str) -> str:
        try:
            return str(normalise_disease(str(value), risk))
        except RiskDataError as exc:
            raise ProfileError(f"{where}: {exc}") from exc

    groups = tuple(
        DiseaseGroup(
            name=str(name),
            label=str(g.get("label", name)),
            family=family(g["family"], f"codes.disease.groups.{name}.family"),
            icd10cm_prefixes=tuple(str(p).replace(".", "").upper() for p in g.get("icd10cm_prefixes", [])),
            codes=frozenset(str(c) for c in g.get("codes", [])),
        )
        for name, g in raw.get("groups", {}).items()
    )
    default = raw.get("default")
    return DiseaseCodes(
        groups=groups,
        icd10cm_system=str(raw["icd10cm_system"]),
        default=None if default in (None, "") else family(default, "disease.default"),
        source=str(raw.get("source", "")),
    )


# Where each top-level key of a site file is merged.
_SITE_SECTIONS = {
    "analytes": ("analytes", "analytes"),
    "dimensions": ("units", "dimensions"),
    "aliases": ("units", "aliases"),
    "exact_aliases": ("units", "exact_aliases"),
    "events": ("codes", "events"),
    "crs": ("codes", "crs"),
    "code_names": ("codes", "code_names"),
    "disease": ("codes", "disease"),
    "code_systems": ("analytes", "code_systems"),
    "panels": ("analytes", "panels"),
    "ctcae": ("criteria", "ctcae"),
    "profiles": ("profiles", "profiles"),
    "pht": ("profiles", "pht"),
    "icaht": ("profiles", "icaht"),
    "t_icaht": ("profiles", "t_icaht"),
    "grade3plus_extra": ("profiles", "grade3plus_extra"),
    "thresholds": ("thresholds", None),
    "risk": ("risk", None),
    "rules": ("rules", "rules"),
    "lln_defaults": ("site", "lln_defaults"),
}


def load_profile(
    site_file: Path | None = None, site: dict[str, Any] | None = None, site_model: Path | None = None
) -> Profile:
    """The default data, with a site file (TOML) and/or a site dict merged over it, and the site model's artifact
    (`cds-cyto analyze` writes it) when one is named."""
    data: dict[str, dict[str, Any]] = {name: _read_data(name) for name in _DATA_FILES}
    data["site"] = {}
    overrides: dict[str, Any] = {}
    if site_file is not None:
        try:
            overrides = tomllib.loads(site_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ProfileError(f"site file {site_file}: {exc}") from exc
    if site:
        overrides = _merge(overrides, site)
    where = f"site file {site_file}" if site_file is not None else "site settings"
    for key, given in overrides.items():
        if key not in _SITE_SECTIONS:
            raise ProfileError(f"{where}: unknown section [{key}] (expected one of: {', '.join(_SITE_SECTIONS)})")
        if not isinstance(given, dict):
            raise ProfileError(f"{where}: [{key}] is not a table")
        file_name, section = _SITE_SECTIONS[key]
        default = data[file_name] if section is None else data[file_name].get(section, {})
        if key == "lln_defaults":  # an analyte's default LLN: the analytes are the keys
            default = dict.fromkeys(data["analytes"]["analytes"], 0.0)
        try:
            _check_site_table(given, default, key)
        except _SiteMistake as exc:
            raise ProfileError(f"{where}: {exc}") from None
        value = _cite_site_thresholds(data["thresholds"], given) if key == "thresholds" else given
        if section is None:
            data[file_name] = _merge(data[file_name], value)
        else:
            data[file_name][section] = _merge(data[file_name].get(section, {}), value)
    try:
        profile = _build(data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"profile data: {exc!r}") from exc
    return profile if site_model is None else with_site_model(profile, site_model)


def with_site_model(profile: Profile, path: Path) -> Profile:
    """`profile` with the site model read from `path`; its file hash is recorded in `versions`."""
    try:
        model = load_model(path)
    except SiteModelError as exc:
        raise ProfileError(f"site model {exc}") from exc
    versions = {**profile.versions, "site_model": f"{model.created} sha256:{(model.sha256 or '')[:12]}"}
    return replace(profile, site_model=model, versions=versions)


# Tables of a site file whose keys the site names (a new unit alias, a code's display name); everywhere else a
# key the bundled data do not have is a typo, and a typo must never leave the default silently in force.
_OPEN_TABLES = frozenset(
    {
        "aliases",
        "code_names",
        "code_systems",
        "crs.condition_grades",
        "disease.groups",
        "dimensions.*.factors",
        "dimensions.*.offsets",
        "dimensions.*.notes",
        "exact_aliases",
        "exact_aliases.*",
        "profiles",
    }
)


# Elements the bundled data leave out but the profile reads when given (with the shape of what it reads).
_OPTIONAL: dict[str, dict[str, Any]] = {
    "disease": {"default": ""},
    "disease.groups.*": {"codes": [""]},
}


class _SiteMistake(ValueError):
    pass


def _matches(pattern: str, path: str) -> bool:
    """ "dimensions.*.factors" matches "dimensions.count.factors"."""
    want, parts = pattern.split("."), path.split(".")
    return len(want) == len(parts) and all(w in ("*", p) for w, p in zip(want, parts, strict=True))


def _is_open(path: str) -> bool:
    return any(_matches(pattern, path) for pattern in _OPEN_TABLES)


def _optional(path: str) -> dict[str, Any]:
    return next((elements for pattern, elements in _OPTIONAL.items() if _matches(pattern, path)), {})


# The words for what a site file holds, in order (bool before int: a TOML true is an int to Python).
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "true or false"),
    (int, "a whole number"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a table"),
)


def _kind(value: Any) -> str:
    word = next((word for kind, word in _KINDS if isinstance(value, kind)), None)
    return word or f"a {type(value).__name__}"  # TOML dates and times: no clinical table takes one


def _check_site_table(given: dict[str, Any], default: dict[str, Any], path: str) -> None:
    """Refuse, with the key and what was expected, what a site file gives that the bundled data would not take:
    an unknown key, a value of another type than the default's, a negative or non-finite number where the
    default is a non-negative number, an `extra_` list for no list."""
    if default and all(isinstance(v, dict) for v in default.values()):
        # Named entries (analytes, dimensions, profiles …): an element one entry has, another may take.
        union = {k: v for entry in default.values() for k, v in entry.items()}
        default = {name: {**union, **entry} for name, entry in default.items()}
    default = {**_optional(path), **default}
    for key, value in given.items():
        where = f"{path}.{key}"
        if key.startswith("extra_") and isinstance(default.get(key.removeprefix("extra_")), list):
            template: Any = default[key.removeprefix("extra_")]
        elif key in default:
            template = default[key]
        elif _is_open(path) and default:
            template = next(iter(default.values()))  # a new entry is shaped like the others
        elif _is_open(path):
            continue
        else:
            what = "table" if isinstance(value, dict) else "key"
            raise _SiteMistake(f"{where}: unknown {what} (expected one of: {', '.join(default) or 'none'})")
        _check_site_value(value, template, where)


def _check_site_value(value: Any, template: Any, where: str) -> None:
    if isinstance(template, dict):
        if not isinstance(value, dict):
            raise _SiteMistake(f"{where}: expected a table, got {_kind(value)}")
        _check_site_table(value, template, where)
        return
    if isinstance(template, bool) or isinstance(value, bool):
        if not (isinstance(template, bool) and isinstance(value, bool)):
            raise _SiteMistake(f"{where}: expected {_kind(template)}, got {_kind(value)}")
        return
    if isinstance(template, int | float):
        number_expected = "a whole number" if isinstance(template, int) else "a number"
        if not isinstance(value, int | float) or (isinstance(template, int) and not isinstance(value, int)):
            got = value if isinstance(value, float) else _kind(value)
            raise _SiteMistake(f"{where}: expected {number_expected}, got {got}")
        if not math.isfinite(value) or (template >= 0 and value < 0):
            raise _SiteMistake(f"{where}: expected {number_expected} of 0 or more, got {value}")
        return
    if isinstance(template, list):
        if not isinstance(value, list):
            raise _SiteMistake(f"{where}: expected a list, got {_kind(value)}")
        kinds = {_kind(v) for v in template}
        for item in value:
            if kinds and _kind(item) not in kinds and not (_kind(item) == "a whole number" and "a number" in kinds):
                raise _SiteMistake(f"{where}: expected a list of {' or '.join(sorted(kinds))}, got {_kind(item)}")
        return
    if type(value) is not type(template):
        raise _SiteMistake(f"{where}: expected {_kind(template)}, got {_kind(value)}")


def _cite_site_thresholds(defaults: dict[str, Any], site: dict[str, Any]) -> dict[str, Any]:
    """A threshold the site changed without giving its own source is cited as a site value, so a card never
    attributes a site's number to the paper the default came from."""
    out = dict(site)
    for name, values in site.items():
        base = defaults.get(name)
        if not (isinstance(values, dict) and isinstance(base, dict)) or "source" in values:
            continue
        if any(base.get(k) != v for k, v in values.items()):
            cited = str(base.get("source", "none")).removeprefix("project default: ")  # said once, not twice
            out[name] = {**values, "source": f"site configuration (project default: {cited})"}
    return out


@lru_cache(maxsize=1)
def default_profile() -> Profile:
    return load_profile()
