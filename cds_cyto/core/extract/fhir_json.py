"""Small readers for raw FHIR JSON that never raise on bad content."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

from cds_cyto.core.extract.lean import LeanObservation, reference_key, settle_entries

__all__ = [
    "NoPatient",
    "codings",
    "flat_resources",
    "parse_instant",
    "patient_of",
    "reference_key",
    "resource_label",
    "settle_entries",
    "version_key",
]

Json = Mapping[str, Any]


class NoPatient:
    """Stands, in one patient's share of some data (`split_by_patient`), for a resource that names no patient in
    data that hold several: it is nobody's, and the record says so (`no-subject`)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoPatient) and other.label == self.label

    def __hash__(self) -> int:
        return hash(self.label)

    def __repr__(self) -> str:
        return f"NoPatient({self.label!r})"


def patient_of(resource: Any) -> str | None:
    """The id of the patient whose data the resource is: a Patient's own id, else its `subject` or `patient`
    reference to a Patient (relative, absolute or versioned). None when it names no patient."""
    if resource.__class__ is LeanObservation:
        for lean_ref in (resource.subject, resource.patient):  # the elements, in the order read below
            if lean_ref is not None and lean_ref.reference is not None:
                lean_key = reference_key(lean_ref.reference)
                if lean_key is not None and lean_key.startswith("Patient/"):
                    return lean_key[8:]
        return None
    if not isinstance(resource, Mapping):
        return None
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) and rid else None
    for element in ("subject", "patient"):
        ref = resource.get(element)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):  # dict: parsed JSON, and fast to check
            key = reference_key(ref["reference"])
            if key is not None and key.startswith("Patient/"):
                return key[8:]
    return None


def version_key(resource: Any) -> tuple[int, datetime]:
    """THE rule for versions and duplicates (one for every door): of two copies of one resource (Type/id), the one
    with the larger key is the newer and supersedes the other — meta.versionId as a number first (a server's own
    order), then meta.lastUpdated as an instant; a missing part sorts first. On equal keys the later copy wins."""
    if resource.__class__ is LeanObservation:
        meta: Any = resource.meta
        version, updated = (None, None) if meta is None else (meta.versionId, meta.lastUpdated)
    else:
        raw = resource.get("meta") if isinstance(resource, Mapping) else None
        version, updated = (raw.get("versionId"), raw.get("lastUpdated")) if isinstance(raw, Mapping) else (None, None)
    when = parse_instant(updated)
    return (_version_number(version), when[0] if when is not None else _NEVER)


_NEVER = datetime.min.replace(tzinfo=UTC)


def _version_number(version: Any) -> int:
    """A versionId of ASCII digits as a number ("²" is a digit to str.isdigit, and int() would refuse it)."""
    if isinstance(version, str) and 0 < len(version) < 19 and version.isascii() and version.isdigit():
        return int(version)
    return -1


def flat_resources(data: Json | Iterable[Any]) -> list[Any]:
    """Every resource in a Bundle (of any type, nested Bundles flattened), a resource, or a list of either, in
    order; an item's index in the list is its position, by which a problem can say where it was."""
    if isinstance(data, Mapping) or data is None or isinstance(data, str | bytes | int | float):
        items: list[Any] = [_plain(data)]  # a scalar is one entry that is not a resource
    else:
        items = []
        nested = False
        for item in data:  # the hot path: one pass over a flat list of lab results
            if item.__class__ is not LeanObservation:
                plain = _plain(item)
                if plain.__class__ is dict and plain.get("resourceType") == "Bundle":
                    nested = True
                items.append(plain)
            else:
                items.append(item)
        if not nested:
            return items  # the usual input: nothing to unfold
    stack = items[::-1]
    out: list[Any] = []
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and item.get("resourceType") == "Bundle":
            entries = item.get("entry")
            if isinstance(entries, list):
                pairs = [(e.get("fullUrl"), e.get("resource")) if isinstance(e, dict) else (None, e) for e in entries]
                stack.extend(reversed(settle_entries(pairs)))
            continue
        out.append(item)
    return out


def _plain(item: Any) -> Any:
    """JSON parsers give dicts; any other Mapping is copied once so the hot path can use fast dict checks."""
    if item.__class__ is dict:
        return item
    return dict(item) if isinstance(item, Mapping) and not isinstance(item, dict) else item


def resource_label(resource: Any, position: int) -> str:
    """ "Observation/abc", or "Observation[#12]" when the resource has no id."""
    if not isinstance(resource, dict):
        return f"entry[#{position}]"
    rtype = resource.get("resourceType")
    rtype = rtype if isinstance(rtype, str) else "Resource"
    rid = resource.get("id")
    return f"{rtype}/{rid}" if isinstance(rid, str) and rid else f"{rtype}[#{position}]"


def codings(concept: Any) -> Iterator[str]:
    """ "system|code" for every coding of a CodeableConcept (R4), or of a CodeableReference.concept (R5)."""
    if not isinstance(concept, Mapping):
        return
    items = concept.get("coding")
    if items is None and isinstance(concept.get("concept"), Mapping):
        items = concept["concept"].get("coding")
    if not isinstance(items, list):
        return
    for c in items:
        if isinstance(c, Mapping):
            code = c.get("code")
            if isinstance(code, str):
                system = c.get("system")
                yield f"{system}|{code}" if isinstance(system, str) else f"|{code}"


def parse_instant(text: Any) -> tuple[datetime, date] | None:
    """(aware instant, the calendar date as written) for a FHIR dateTime with at least a full date.

    The calendar date is the one written in the value's own offset (clinical-reference day numbering); a time
    without an offset is read as UTC for ordering only.
    """
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        if len(text) == 10:
            local = date.fromisoformat(text)
            return datetime(local.year, local.month, local.day, tzinfo=UTC), local
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    if text[10] != "T":
        return None  # fromisoformat accepts a space or other separators; FHIR does not
    local = instant.date()  # an aware datetime keeps its own offset, so this is the date as written
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant, local


def period_start(resource: Json, *names: str) -> Any:
    """The first present of `xDateTime` / `xPeriod.start` among the given element names."""
    for name in names:
        value = resource.get(f"{name}DateTime")
        if value is not None:
            return value
        period = resource.get(f"{name}Period")
        if isinstance(period, Mapping) and period.get("start") is not None:
            return period["start"]
    return None
