"""Stable fingerprints that decide whether a patient must be assessed again, and the grades a worklist compares."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from cds_cyto import __version__
from cds_cyto.core.profile import Profile

__all__ = ["assessment_hash", "grade_changes", "grade_summary", "profile_hash"]

_GRADED_LINEAGES = ("neutrophils", "platelets", "hemoglobin")


def _canonical(value: Any) -> Any:
    # Sets have no stable order across processes (string hashing is salted): sort them.
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def profile_hash(profile: Profile) -> str:
    """Changes when any threshold, code or definition changes, or the package version does."""
    payload = orjson.dumps({"version": __version__, "profile": _canonical(profile)}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def assessment_hash(assessment: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(assessment, option=orjson.OPT_SORT_KEYS)).hexdigest()


def grade_summary(assessment: Mapping[str, Any]) -> dict[str, Any]:
    """The grades a worklist shows and compares: ICAHT and T-ICAHT, the newest CTCAE version's grade per lineage,
    and the site model's probability when one is configured."""
    out: dict[str, Any] = {}
    for name, key in (("icaht", "ICAHT"), ("t_icaht", "T-ICAHT")):
        block = assessment.get(name) or {}
        for phase in ("early", "late"):
            out[f"{key} {phase}"] = (block.get(phase) or {}).get("grade")
    lineages = assessment.get("lineages") or {}
    for lineage in _GRADED_LINEAGES:
        ctcae = (lineages.get(lineage) or {}).get("ctcae") or {}
        if ctcae:
            version = list(ctcae)[-1]
            out[f"{lineage} CTCAE {version}"] = ctcae[version]
    # with a site model: its probability in whole percent (None: not scored), so the worklist shows when a patient
    # becomes scorable and what the model says; a site without one sees no such key
    site = (assessment.get("risk") or {}).get("site_model")
    if site:
        p = site.get("probability")
        out[f"site model {site['outcome']['name']}"] = None if p is None else f"{round(p * 100)}%"
    return out


def grade_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """name → [before, after] for each grade that differs."""
    if before is None:
        return {}
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
