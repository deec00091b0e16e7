"""Reading a hook request's bytes: what `orjson.loads` would give, with the prefetched lab results decoded lean.

A patient-view request is mostly its prefetch, and the prefetch mostly lab results. Each prefetched searchset
Bundle is rebuilt with the parts the prefetch checks read (`resourceType`, `link`, and per entry `resource` and
`search.mode`); its Observations come as `LeanObservation`s (`cds_cyto.extract.lean`). Everything else is the plain
decoded JSON. Bytes that are not JSON raise `orjson.JSONDecodeError`, as `orjson.loads` would, so the service gives
them the same 400. `tests/cds/test_cds_request_body.py` checks both readings give one answer.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from cds_cyto.extract.lean import decode_lean_bundle, lean_items

__all__ = ["read_hook_body"]


_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ANY = msgspec.json.Decoder()


def read_hook_body(raw: bytes) -> Any:
    try:
        envelope = _OBJECT.decode(raw)
    except msgspec.DecodeError:
        return orjson.loads(raw)  # not a JSON object: the plain reading and its error
    try:
        return {key: _prefetch(value) if key == "prefetch" else _ANY.decode(value) for key, value in envelope.items()}
    except msgspec.DecodeError:  # a number msgspec cannot hold: orjson gives the verdict on the whole body
        return orjson.loads(raw)


def _prefetch(raw: msgspec.Raw) -> Any:
    try:
        values = _OBJECT.decode(raw)
    except msgspec.DecodeError:
        return _ANY.decode(raw)  # not an object: the service says why
    return {key: _value(value) for key, value in values.items()}


def _value(raw: msgspec.Raw) -> Any:
    bundle = decode_lean_bundle(raw)
    if bundle is None or bundle.resourceType != "Bundle" or bundle.entry is None:
        return _ANY.decode(raw)  # a resource, or a Bundle with an entry the lean decode does not fit
    resources = lean_items(bundle, raw)
    entries: list[dict[str, Any]] = []
    for entry, resource in zip(bundle.entry, resources, strict=True):
        if entry.search is None:
            entries.append({"resource": resource})
        else:
            entries.append({"resource": resource, "search": {"mode": entry.search.mode}})
    rebuilt: dict[str, Any] = {"resourceType": "Bundle", "entry": entries}
    if bundle.link is not None:
        rebuilt["link"] = bundle.link
    return rebuilt
