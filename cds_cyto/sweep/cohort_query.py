"""Cohort discovery: which patients a sweep looks at, in a deterministic order (sorted ids).

Recent infusions are found with searches on the profile's CAR-T infusion codes (`event_codes` of kind
"car_t_infusion", in the resource types the code table names), limited to infusions from `as_of - lookback` to the
end of `as_of`. A MedicationAdministration often carries its drug code on a referenced Medication, so that type is
searched both by `code` and by the chained `medication.code`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cds_cyto.core.profile import Profile
from cds_cyto.sources import FhirClient, SearchParams, date_range, is_fhir_id, token_list
from cds_cyto.sweep.config import CohortQuery

__all__ = ["CohortError", "discover_cohort", "infusion_codes", "infusion_searches", "patient_of", "read_ids_file"]

# Statuses that mean the infusion did not happen (as the extraction rules read them).
_NOT_DONE = frozenset({"entered-in-error", "not-done", "not-taken", "preparation", "intended"})
# The search parameter that holds each type's date.
_DATE_PARAM = {"Procedure": "date", "MedicationAdministration": "effective-time"}
_PAGE = "500"


class CohortError(ValueError):
    """The cohort cannot be determined from what was given (a bad ids file, an unusable Group)."""


def infusion_codes(profile: Profile) -> dict[str, list[str]]:
    """Resource type → the "system|code" strings that mark a CAR-T infusion in it."""
    out: dict[str, list[str]] = {}
    for code, (kind, types) in profile.event_codes.items():
        if kind == "car_t_infusion":
            for rtype in sorted(types):
                out.setdefault(rtype, []).append(code)
    return out


def infusion_searches(profile: Profile, as_of: date, lookback_days: int) -> list[tuple[str, SearchParams]]:
    start = as_of - timedelta(days=lookback_days)
    end = as_of + timedelta(days=1)
    searches: list[tuple[str, SearchParams]] = []
    for rtype, codes in infusion_codes(profile).items():
        date_param = _DATE_PARAM.get(rtype)
        if date_param is None:
            continue
        common: dict[str, str | list[str]] = {
            date_param: date_range(start, end),
            "_elements": "subject,status",
            "_count": _PAGE,
        }
        searches.append((rtype, {**common, "code": token_list(codes)}))
        if rtype == "MedicationAdministration":
            searches.append((rtype, {**common, "medication.code": token_list(codes)}))
    return searches


def patient_of(reference: Any) -> str | None:
    """The Patient id a reference names, or None."""
    if not isinstance(reference, Mapping):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str):
        return None
    # "Patient/1", "Patient/1/_history/2", or an absolute URL ending in either
    parts = ref.split("/")
    for i, part in enumerate(parts[:-1]):
        if part == "Patient" and is_fhir_id(parts[i + 1]):
            return parts[i + 1]
    return None


def _subjects(resources: Iterable[Mapping[str, Any]]) -> set[str]:
    ids: set[str] = set()
    for res in resources:
        if res.get("status") in _NOT_DONE:
            continue
        pid = patient_of(res.get("subject"))
        if pid is not None:
            ids.add(pid)
    return ids


async def _recent_infusions(client: FhirClient, profile: Profile, as_of: date, lookback_days: int) -> set[str]:
    ids: set[str] = set()
    for rtype, params in infusion_searches(profile, as_of, lookback_days):
        ids |= _subjects(await client.search(rtype, params))
    return ids


async def _group_members(client: FhirClient, group_id: str) -> set[str]:
    if not is_fhir_id(group_id):
        raise CohortError("not a valid FHIR Group id")
    group = await client.read("Group", group_id)
    ids: set[str] = set()
    for member in group.get("member") or []:
        if isinstance(member, Mapping) and not member.get("inactive"):
            pid = patient_of(member.get("entity"))
            if pid is not None:
                ids.add(pid)
    return ids


async def discover_cohort(client: FhirClient, query: CohortQuery, profile: Profile, as_of: date) -> list[str]:
    """The cohort's patient ids, sorted."""
    if query.patient_ids is not None:
        ids = set(query.patient_ids)
    elif query.group_id is not None:
        ids = await _group_members(client, query.group_id)
    else:
        ids = await _recent_infusions(client, profile, as_of, query.lookback_days)
    return sorted(ids)


def read_ids_file(path: Path) -> tuple[str, ...]:
    """Patient ids, one a line; blank lines and `#` comments are skipped. Order and duplicates do not matter."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CohortError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CohortError(f"{path}: not UTF-8 text") from None
    ids: list[str] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        text = text.removeprefix("Patient/")
        if not is_fhir_id(text):
            raise CohortError(f"{path}:{number}: not a FHIR patient id")
        ids.append(text)
    return tuple(dict.fromkeys(ids))
