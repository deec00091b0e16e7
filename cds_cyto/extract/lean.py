"""A fast route from the bytes of a Bundle to the resources the extractor reads.

`orjson.loads` builds every dict and string of a lab result, most of which the reader never looks at. msgspec can
decode an Observation straight into the few typed fields the reader uses, for half the cost. Only the plain common
shape takes that route: whatever does not fit the types (a wrong type, a number out of range) becomes the ordinary
dict, and `ObservationReader.read_lean` hands anything unusual back to the dict reader. So both routes give one
record by construction; `tests/core/test_lean_route.py` checks that they do.

One difference is deliberate: orjson refuses a whole document for one integer beyond the range of a float anywhere
in it; msgspec reads such a Bundle, and a lab result holding that integer is reported as unreadable, never graded.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

__all__ = ["LeanBundle", "LeanObservation", "decode_lean_bundle", "lean_items", "resources_from_json"]


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
    # Set after decoding. The JSON names are no FHIR element's, so no resource can fill them.
    source: Any = msgspec.field(default=None, name="cds-cyto.source")
    index: Any = msgspec.field(default=None, name="cds-cyto.index")

    def as_dict(self) -> Any:
        """The resource as `orjson.loads` would give it (through msgspec: the Bundle decoded, so it is JSON)."""
        return _ANY.decode(self.source.raw(self.index))


class Search(msgspec.Struct, gc=False):
    mode: Any = None


class _Entry(msgspec.Struct, gc=False):
    resource: LeanObservation | None = None
    search: Search | None = None


class LeanBundle(msgspec.Struct, gc=False):
    """A Bundle as the lean route reads it: `entry` whose resources are all typed `LeanObservation` (only their
    `resourceType` means anything for resources of other types) — or the decode fails."""

    resourceType: str | None = None  # noqa: N815
    entry: list[_Entry] | None = None
    link: Any = None


class _RawEntry(msgspec.Struct, gc=False):
    resource: msgspec.Raw = msgspec.Raw(b"null")


class _RawBundle(msgspec.Struct, gc=False):
    resourceType: str | None = None  # noqa: N815
    entry: list[_RawEntry] | None = None


_LEAN = msgspec.json.Decoder(LeanBundle)
_RAW = msgspec.json.Decoder(_RawBundle)
_OBSERVATION = msgspec.json.Decoder(LeanObservation)
_ANY = msgspec.json.Decoder()


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


def resources_from_json(body: bytes | bytearray | memoryview | str) -> Any:
    """What `extract_record` reads from these JSON bytes: for a Bundle, the list of its entries' resources with the
    Observations as `LeanObservation`s where possible; for any other JSON, `orjson.loads(body)`.

    Raises `orjson.JSONDecodeError` for bytes that are not JSON, as `orjson.loads` would.
    """
    try:
        bundle = _LEAN.decode(body)
    except msgspec.DecodeError:
        return _entry_by_entry(body)
    if bundle.resourceType != "Bundle" or bundle.entry is None:
        return orjson.loads(body)
    try:
        return lean_items(bundle, body)
    except msgspec.DecodeError:  # a number even msgspec cannot hold (in an element the lean decode skipped)
        return orjson.loads(body)


def decode_lean_bundle(body: Any) -> LeanBundle | None:
    """The lean reading of a Bundle's bytes, or None when some entry does not fit it (use the dict route)."""
    try:
        return _LEAN.decode(body)
    except msgspec.DecodeError:
        return None


def lean_items(bundle: LeanBundle, body: Any) -> list[Any]:
    """The entries' resources of a `decode_lean_bundle(body)`: Observations lean, others as dicts.

    Raises `msgspec.DecodeError` for a number no float can hold, in an element the lean decode skipped."""
    source = _Source(body)
    items: list[Any] = []
    for index, entry in enumerate(bundle.entry or ()):
        obs = entry.resource
        if obs is None:
            items.append(None)
        elif obs.resourceType == "Observation":
            obs.source = source
            obs.index = index
            items.append(obs)
        else:
            items.append(_ANY.decode(source.raw(index)))
    return items


def _entry_by_entry(body: Any) -> Any:
    """Some entry does not fit the lean shape (or this is no Bundle): each entry is decoded on its own."""
    try:
        bundle = _RAW.decode(body)
    except msgspec.DecodeError:
        return orjson.loads(body)
    if bundle.resourceType != "Bundle" or bundle.entry is None:
        return orjson.loads(body)
    source = _Source(body, [entry.resource for entry in bundle.entry])
    try:
        return [_resource(source, index) for index in range(len(bundle.entry))]
    except msgspec.DecodeError:  # a number even msgspec cannot hold: orjson's verdict on the whole
        return orjson.loads(body)


def _resource(source: _Source, index: int) -> Any:
    raw = source.raw(index)
    try:
        obs = _OBSERVATION.decode(raw)
    except msgspec.DecodeError:
        return _ANY.decode(raw)
    if obs.resourceType != "Observation":
        return _ANY.decode(raw)
    obs.source = source
    obs.index = index
    return obs
