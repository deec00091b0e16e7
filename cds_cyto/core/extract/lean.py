"""A fast route from the bytes of a Bundle to the resources the extractor reads.

`orjson.loads` builds every dict and string of a lab result, most of which the reader never looks at. msgspec can
decode an Observation straight into the few typed fields the reader uses, for half the cost. Only the plain common
shape takes that route: whatever does not fit the types (a wrong type, a number out of range) becomes the ordinary
dict, and `ObservationReader.read_lean` hands anything unusual back to the dict reader. So both routes give one
record by construction; `tests/core/test_lean_route.py` checks that they do.

Bytes that are not UTF-8, and nesting deeper than msgspec goes, are left to orjson whole. One difference remains:
orjson refuses a whole document for one number it cannot hold (beyond the range of a float); inside an Observation
element the lean decode does not read, such a number goes unseen and the result is read as usual, and inside one it
hands back, the result is reported unreadable, never graded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import msgspec
import orjson

__all__ = [
    "LEAN_FAILURES",
    "JsonLineError",
    "LeanBundle",
    "LeanObservation",
    "NotFhirError",
    "decode_lean_bundle",
    "lean_items",
    "read_resources",
    "reference_key",
    "resources_from_json",
    "settle_entries",
    "utf8_bytes",
]

# FHIR R4 `id` datatype.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# The references the core follows: whose data a resource is, and which drug a medication use names.
_FOLLOWED = ("subject", "patient", "medicationReference")


class Coding(msgspec.Struct, gc=False):
    system: str | None = None
    code: str | None = None


class Concept(msgspec.Struct, gc=False):
    coding: list[Coding] | None = None


class Quantity(msgspec.Struct, gc=False):
    value: float | None = None
    comparator: str | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class Range(msgspec.Struct, gc=False):
    low: Quantity | None = None


class Reference(msgspec.Struct, gc=False):
    reference: str | None = None


class Meta(msgspec.Struct, gc=False):
    versionId: str | None = None  # noqa: N815 — FHIR's element names
    lastUpdated: str | None = None  # noqa: N815


class LeanObservation(msgspec.Struct, gc=False):
    """The elements of an Observation the reader uses, and where its bytes are for the dict route."""

    resourceType: str  # noqa: N815
    id: str | None = None
    meta: Meta | None = None
    status: str | None = None
    code: Concept | None = None
    subject: Reference | None = None
    patient: Reference | None = None  # not an R4 Observation element, but the prefetch checks read it if present
    effectiveDateTime: str | None = None  # noqa: N815
    valueQuantity: Quantity | None = None  # noqa: N815
    referenceRange: list[Range] | None = None  # noqa: N815
    # A panel's `component` (a CBC in one Observation) is left undecoded: its presence sends the resource to the
    # dict route, which reads each component (empty bytes: no such element).
    component: msgspec.Raw = msgspec.Raw(b"")
    # Set after decoding. The JSON names are no FHIR element's, so no resource can fill them.
    source: Any = msgspec.field(default=None, name="cds-cyto.source")
    index: Any = msgspec.field(default=None, name="cds-cyto.index")

    def as_dict(self) -> Any:
        """The resource as `orjson.loads` gives it."""
        return _dict(self.source.raw(self.index))


class Search(msgspec.Struct, gc=False):
    mode: Any = None


class _Entry(msgspec.Struct, gc=False):
    fullUrl: Any = None  # noqa: N815
    resource: LeanObservation | None = None
    search: Search | None = None


class LeanBundle(msgspec.Struct, gc=False):
    """A Bundle as the lean route reads it: `entry` whose resources are all typed `LeanObservation` (only their
    `resourceType` means anything for resources of other types) — or the decode fails."""

    resourceType: str | None = None  # noqa: N815
    entry: list[_Entry] | None = None
    link: Any = None


class _RawEntry(msgspec.Struct, gc=False):
    fullUrl: Any = None  # noqa: N815
    resource: msgspec.Raw = msgspec.Raw(b"null")


class _RawBundle(msgspec.Struct, gc=False):
    resourceType: str | None = None  # noqa: N815
    entry: list[_RawEntry] | None = None


_LEAN = msgspec.json.Decoder(LeanBundle)
_RAW = msgspec.json.Decoder(_RawBundle)
_OBSERVATION = msgspec.json.Decoder(LeanObservation)


def _dict(raw: msgspec.Raw) -> Any:
    """A resource's bytes as the dict route reads them (orjson: the same numbers, the same refusals)."""
    return orjson.loads(memoryview(raw))


class _Source:
    """A Bundle's bytes, split into its entries' resource bytes when first needed: only resources of other types
    and the rare lab result handed back to the dict route need them."""

    __slots__ = ("_body", "_raws")

    def __init__(self, body: Any, raws: list[msgspec.Raw] | None = None) -> None:
        self._body = body
        self._raws = raws

    def raw(self, index: int) -> msgspec.Raw:
        if self._raws is None:
            entries = _RAW.decode(self._body).entry
            assert entries is not None  # the lean decode of the same bytes found them
            self._raws = [entry.resource for entry in entries]
        return self._raws[index]


# What may stop the lean route half-way; the whole body then goes to orjson, whose verdict is the dict route's.
LEAN_FAILURES = (msgspec.DecodeError, orjson.JSONDecodeError, RecursionError, UnicodeError)


def utf8_bytes(body: bytes | bytearray | memoryview | str) -> bytes | None:
    """The body as bytes for msgspec, or None when it is not UTF-8 (msgspec skips the elements it does not read
    without checking them, orjson refuses the whole document: orjson must judge it)."""
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return None
    data = body if isinstance(body, bytes) else bytes(body)
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return data


def resources_from_json(body: bytes | bytearray | memoryview | str) -> Any:
    """What `extract_record` reads from these JSON bytes: for a Bundle, the list of its entries' resources with the
    Observations as `LeanObservation`s where possible; for any other JSON, `orjson.loads(body)`.

    Raises `orjson.JSONDecodeError` for bytes that are not JSON, as `orjson.loads` would.
    """
    data = utf8_bytes(body)
    if data is None:
        return orjson.loads(body)
    try:
        return _lean_resources(data)
    except LEAN_FAILURES:  # nesting deeper than msgspec goes, or a number orjson refuses in a resource
        return orjson.loads(body)


class NotFhirError(ValueError):
    """JSON that is not a FHIR resource (a cohort's truth.json, say); `line` for a line of NDJSON."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class JsonLineError(ValueError):
    """A line of NDJSON that is not JSON."""

    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}: not valid JSON")
        self.line = line


_BOM = "\ufeff".encode()


def read_resources(body: bytes | bytearray | memoryview | str, *, ndjson: bool = False) -> list[Any]:
    """THE reader of FHIR documents, for every door: a Bundle (any type; `resources_from_json`: lab results lean,
    fullUrls settled), a single resource, or NDJSON (one resource or Bundle a line) → the flat list of resources
    `extract_record` reads. Nested Bundles are left for `extract_record` to unfold. Versions, duplicates and other
    patients are not settled here: that is the core's one rule, whichever door the data came through.

    Raises `orjson.JSONDecodeError` (NDJSON: `JsonLineError`) for bytes that are not JSON and `NotFhirError` for
    JSON that is not a FHIR resource. A leading UTF-8 byte-order mark (Windows editors write one) is skipped, as
    RFC 8259 §8.1 allows; orjson refuses it.
    """
    text = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    text = text.removeprefix(_BOM)
    if not ndjson:
        return _document(resources_from_json(text), None)
    out: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                value = resources_from_json(line)
            except orjson.JSONDecodeError:
                raise JsonLineError(number) from None
            out.extend(_document(value, number))
    return out


def _document(value: Any, line: int | None) -> list[Any]:
    if isinstance(value, list):
        return value  # a Bundle's entries
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return [value]
    raise NotFhirError("not a FHIR resource", line)


def _lean_resources(data: bytes) -> Any:
    try:
        bundle = _LEAN.decode(data)
    except msgspec.DecodeError:
        return _entry_by_entry(data)
    if bundle.resourceType != "Bundle" or bundle.entry is None:
        return orjson.loads(data)
    return lean_items(bundle, data)


def decode_lean_bundle(body: Any) -> LeanBundle | None:
    """The lean reading of a Bundle's bytes, or None when some entry does not fit it (use the dict route).
    The bytes must be UTF-8 (`utf8_bytes`); raises RecursionError for very deep nesting."""
    try:
        return _LEAN.decode(body)
    except msgspec.DecodeError:
        return None


def lean_items(bundle: LeanBundle, body: Any, *, settle: bool = True) -> list[Any]:
    """The entries' resources of a `decode_lean_bundle(body)`: Observations lean, others as dicts, fullUrls settled
    (`settle_entries`; `settle=False` for a caller that settles a part of them itself).

    Raises `orjson.JSONDecodeError` for a number orjson refuses, in a resource of another type."""
    source = _Source(body)
    items: list[Any] = []
    entries = bundle.entry or []
    named = False  # whether any entry has a fullUrl: settle only then
    for index, entry in enumerate(entries):
        obs = entry.resource
        if entry.fullUrl is not None:
            named = True
        if obs is None:
            items.append(None)
        elif obs.resourceType == "Observation":
            obs.source = source
            obs.index = index
            items.append(obs)
        else:
            items.append(_dict(source.raw(index)))
    if named and settle:
        return settle_entries([(e.fullUrl, item) for e, item in zip(entries, items, strict=True)])
    return items


def _entry_by_entry(data: bytes) -> Any:
    """Some entry does not fit the lean shape (or this is no Bundle): each entry is decoded on its own."""
    try:
        bundle = _RAW.decode(data)
    except msgspec.DecodeError:
        return orjson.loads(data)
    if bundle.resourceType != "Bundle" or bundle.entry is None:
        return orjson.loads(data)
    source = _Source(data, [entry.resource for entry in bundle.entry])
    items = [_resource(source, index) for index in range(len(bundle.entry))]
    return settle_entries([(e.fullUrl, item) for e, item in zip(bundle.entry, items, strict=True)])


def _resource(source: _Source, index: int) -> Any:
    raw = source.raw(index)
    try:
        obs = _OBSERVATION.decode(raw)
    except msgspec.DecodeError:
        return _dict(raw)
    if obs.resourceType != "Observation":
        return _dict(raw)
    obs.source = source
    obs.index = index
    return obs


@lru_cache(maxsize=4096)  # a patient's resources repeat the same few references thousands of times
def reference_key(reference: str) -> str | None:
    """ "Type/id" of a literal reference, relative or absolute, with any _history part dropped."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and _FHIR_ID.fullmatch(parts[-1]) is not None and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return None


def settle_entries(entries: list[tuple[Any, Any]]) -> list[Any]:
    """A Bundle's entries, (fullUrl, resource), as the resources a server would hold after storing the Bundle.

    Within one Bundle a resource may be named by its fullUrl (`urn:uuid:…`, or an absolute URL): a resource without
    an id takes the id its fullUrl gives, and the references the core follows (`subject`, `patient`,
    `medicationReference`) that name a fullUrl are rewritten to "Type/id". Relative, absolute and versioned
    references need nothing here (`reference_key`), nor do `#id` references to contained resources. Dicts are
    copied, never modified; lean results (the reader's own objects) are set in place. Bundles whose fullUrls name
    nothing new (a searchset's [base]/Type/id) come back as they are.
    """
    aliases: dict[str, str] = {}
    ids: dict[int, str] = {}
    for index, (full_url, resource) in enumerate(entries):
        if full_url.__class__ is not str or not full_url:
            continue
        rtype, rid = _type_and_id(resource)
        if rtype is None:
            continue
        if rid is None:
            rid = _id_from_url(full_url, rtype)
            if rid is None:
                continue
            ids[index] = rid
        key = f"{rtype}/{rid}"
        if full_url.endswith(key) and full_url[-len(key) - 1 : -len(key)] == "/":
            continue  # the usual searchset fullUrl, [base]/Type/id: references to it resolve by key
        if reference_key(full_url) != key:
            aliases[full_url] = key
    if not aliases and not ids:
        return [resource for _, resource in entries]
    return [_settled(resource, ids.get(i), aliases) for i, (_, resource) in enumerate(entries)]


def _type_and_id(resource: Any) -> tuple[str | None, str | None]:
    if resource.__class__ is LeanObservation:
        return "Observation", resource.id or None
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return None, None
    rid = resource.get("id")
    return resource["resourceType"], rid if isinstance(rid, str) and rid else None


def _id_from_url(full_url: str, rtype: str) -> str | None:
    if full_url.startswith("urn:uuid:"):
        rid = full_url[9:]
        return rid if _FHIR_ID.fullmatch(rid) else None
    key = reference_key(full_url)
    return key.partition("/")[2] if key is not None and key.startswith(rtype + "/") else None


def _settled(resource: Any, new_id: str | None, aliases: Mapping[str, str]) -> Any:
    if resource.__class__ is LeanObservation:
        if new_id is not None:
            resource.id = new_id
        for name in ("subject", "patient"):
            ref = getattr(resource, name)
            if ref is not None and ref.reference in aliases:
                setattr(resource, name, Reference(aliases[ref.reference]))
        return resource
    if not isinstance(resource, dict):
        return resource
    changed: dict[str, Any] = {}
    if new_id is not None:
        changed["id"] = new_id
    for name in _FOLLOWED:
        ref = resource.get(name)
        if not isinstance(ref, dict):
            continue
        target = ref.get("reference")
        if target.__class__ is str and target in aliases:  # a list or object is unhashable: no alias of ours
            changed[name] = {**ref, "reference": aliases[target]}
    return {**resource, **changed} if changed else resource
