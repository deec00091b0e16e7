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

__all__ = ["LeanObservation", "resources_from_json"]


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
    """The elements of an Observation the reader uses; `source` keeps the resource's bytes for the dict route."""

    resourceType: str  # noqa: N815
    id: str | None = None
    meta: Meta | None = None
    status: str | None = None
    code: Concept | None = None
    subject: Reference | None = None
    effectiveDateTime: str | None = None  # noqa: N815
    valueQuantity: Quantity | None = None  # noqa: N815
    referenceRange: list[Range] | None = None  # noqa: N815
    source: msgspec.Raw = msgspec.Raw(b"null")

    def as_dict(self) -> Any:
        return _ANY.decode(self.source)


class _Entry(msgspec.Struct, gc=False):
    resource: msgspec.Raw = msgspec.Raw(b"null")


class _Bundle(msgspec.Struct, gc=False):
    resourceType: str | None = None  # noqa: N815
    entry: list[_Entry] | None = None


class _LeanEntry(msgspec.Struct, gc=False):
    resource: LeanObservation | None = None


class _LeanBundle(msgspec.Struct, gc=False):
    entry: list[_LeanEntry]


_BUNDLE = msgspec.json.Decoder(_Bundle)
_LEAN_BUNDLE = msgspec.json.Decoder(_LeanBundle)
_OBSERVATION = msgspec.json.Decoder(LeanObservation)
_ANY = msgspec.json.Decoder()  # for the entries' bytes, which the Bundle's decode has already found to be JSON


def resources_from_json(body: bytes | bytearray | memoryview | str) -> Any:
    """What `extract_record` reads from these JSON bytes: for a Bundle, the list of its entries' resources with the
    Observations as `LeanObservation`s where possible; for any other JSON, `orjson.loads(body)`.

    Raises `orjson.JSONDecodeError` for bytes that are not JSON, as `orjson.loads` would.
    """
    try:
        bundle = _BUNDLE.decode(body)
    except msgspec.DecodeError:
        return orjson.loads(body)
    if bundle.resourceType != "Bundle" or bundle.entry is None:
        return orjson.loads(body)
    items: list[Any] = []
    try:
        # One typed pass over the whole Bundle is cheaper than one per entry; it fails as a whole when any resource
        # does not fit the lean shape, and then each entry is decoded on its own.
        lean = _LEAN_BUNDLE.decode(body).entry
    except msgspec.DecodeError:
        lean = None
    if lean is not None and len(lean) == len(bundle.entry):
        for entry, typed in zip(bundle.entry, lean, strict=True):
            obs = typed.resource
            if obs is None or obs.resourceType != "Observation":
                items.append(_ANY.decode(entry.resource))
            else:
                obs.source = entry.resource
                items.append(obs)
    else:
        try:
            items = [_resource(entry.resource) for entry in bundle.entry]
        except msgspec.DecodeError:  # a number even msgspec cannot hold: orjson's verdict on the whole
            return orjson.loads(body)
    return items


def _resource(raw: msgspec.Raw) -> Any:
    try:
        obs = _OBSERVATION.decode(raw)
    except msgspec.DecodeError:
        return _ANY.decode(raw)
    if obs.resourceType != "Observation":
        return _ANY.decode(raw)
    obs.source = raw
    return obs
