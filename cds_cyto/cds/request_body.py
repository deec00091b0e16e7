"""Reading a hook request's bytes: what `orjson.loads` would give, with the prefetched lab results decoded lean.

A patient-view request is mostly its prefetch, and the prefetch mostly lab results. Each prefetched searchset
Bundle becomes a `SortedSearchset`: what the prefetch checks read (`resourceType`, `link`, and the entries'
resources sorted into search outcomes and the rest); its Observations come as `LeanObservation`s
(`cds_cyto.core.extract.lean`). Everything else is the plain decoded JSON (read by orjson, so numbers and refusals are
the plain reading's). Bytes that are not JSON, or not UTF-8, raise `orjson.JSONDecodeError`, as `orjson.loads`
would, so the service gives them the same 400. `tests/cds/test_cds_request_body.py` checks both readings give
one answer.

`receive_body` gets those bytes off the socket within bounds: a body announced or streamed past the limit is
refused (413) as soon as it passes, before it is buffered whole, and a body that stops coming (headers sent, the
rest never) is refused (408) when the read deadline passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
from starlette.requests import ClientDisconnect, Request

from cds_cyto.cds.outcome import operation_outcome
from cds_cyto.cds.patient_view import HookFailure
from cds_cyto.core.extract.lean import (
    LEAN_FAILURES,
    LeanObservation,
    decode_lean_bundle,
    lean_items,
    settle_entries,
    utf8_bytes,
)
from cds_cyto.sources import Readable, SortedSearchset
from cds_cyto.sources._fhir_json import Resource

__all__ = ["parse_body", "read_hook_body", "receive_body"]


def _too_large(limit: int) -> HookFailure:
    return HookFailure(
        413, operation_outcome("too-large", f"request body larger than {limit} bytes", fhir_code="too-costly")
    )


async def receive_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, at most `limit` bytes, all of it within `timeout_s` of starting to read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)  # refused on its word, before a byte of it is read
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise HookFailure(
            408,
            operation_outcome(
                "timeout", f"the request body did not arrive within {timeout_s:g} s", fhir_code="timeout"
            ),
        ) from None
    except ClientDisconnect:
        raise HookFailure(
            400, operation_outcome("incomplete", "the client closed the request before its end")
        ) from None
    return b"".join(chunks)


def parse_body(raw: bytes, reader: Callable[[bytes], Any] = orjson.loads) -> Any:
    """`reader(raw)`, with bytes that are not JSON refused (400) as one OperationOutcome wherever they are read."""
    try:
        return reader(raw)
    except orjson.JSONDecodeError:
        raise HookFailure(
            400,
            operation_outcome("invalid-json", "the request body is not valid JSON (or holds a number out of range)"),
        ) from None


_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ABSENT = msgspec.Raw(b"")


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A request of CDS Hooks' fields only, with an object (or null) prefetch: read in one pass, the prefetch's
    values left as bytes. Any other shape (another field, a prefetch of another type) takes the two-pass reading."""

    hook: msgspec.Raw = _ABSENT
    hookInstance: msgspec.Raw = _ABSENT  # noqa: N815 — the spec's field names
    fhirServer: msgspec.Raw = _ABSENT  # noqa: N815
    fhirAuthorization: msgspec.Raw = _ABSENT  # noqa: N815
    context: msgspec.Raw = _ABSENT
    prefetch: dict[str, msgspec.Raw] | msgspec.UnsetType | None = msgspec.UNSET
    extension: msgspec.Raw = _ABSENT


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_RAW_FIELDS = ("hook", "hookInstance", "fhirServer", "fhirAuthorization", "context", "extension")


def _plain(raw: msgspec.Raw) -> Any:
    return orjson.loads(memoryview(raw))  # the plain reading's numbers and refusals


def read_hook_body(raw: bytes) -> Any:
    data = utf8_bytes(raw)
    if data is None:
        return orjson.loads(raw)  # not UTF-8: orjson's verdict
    try:
        return _one_pass(data)
    except msgspec.DecodeError:
        pass  # another shape: the two-pass reading below
    except LEAN_FAILURES:  # nesting deeper than msgspec goes, or a number orjson refuses: orjson judges the whole
        return orjson.loads(raw)
    try:
        envelope = _OBJECT.decode(data)
    except msgspec.DecodeError:
        return orjson.loads(raw)  # not a JSON object: the plain reading and its error
    except RecursionError:
        return orjson.loads(raw)
    try:
        return {key: _prefetch(value) if key == "prefetch" else _plain(value) for key, value in envelope.items()}
    except LEAN_FAILURES:
        return orjson.loads(raw)


def _one_pass(data: bytes) -> dict[str, Any]:
    """The common request in one scan of its bytes (the two-pass reading scans the prefetch twice); raises
    msgspec.DecodeError for any other shape. The keys come in the Struct's order, not the document's: nothing reads
    their order."""
    envelope = _ENVELOPE.decode(data)
    body = {name: _plain(value) for name in _RAW_FIELDS if (value := getattr(envelope, name))}
    prefetch = envelope.prefetch
    if prefetch is not msgspec.UNSET:
        body["prefetch"] = None if prefetch is None else {key: _value(value) for key, value in prefetch.items()}
    return body


def _prefetch(raw: msgspec.Raw) -> Any:
    try:
        values = _OBJECT.decode(raw)
    except msgspec.DecodeError:
        return _plain(raw)  # not an object: the service says why
    return {key: _value(value) for key, value in values.items()}


def _value(raw: msgspec.Raw) -> Any:
    bundle = decode_lean_bundle(raw)
    if bundle is None or bundle.resourceType != "Bundle" or bundle.entry is None:
        return _plain(raw)  # a resource, or a Bundle with an entry the lean decode does not fit
    items = lean_items(bundle, raw, settle=False)
    # Sorted here as `prefetched_searchset` sorts a plain Bundle: outcome entries (dict resources only, read whole
    # whatever their type), then the other entries' resources, their fullUrls settled.
    resources: list[tuple[Any, Readable]] = []
    outcomes: list[Resource] = []
    for entry, resource in zip(bundle.entry, items, strict=True):
        if entry.search is not None and entry.search.mode == "outcome":
            whole = resource.as_dict() if isinstance(resource, LeanObservation) else resource
            if isinstance(whole, dict):
                outcomes.append(whole)
        elif isinstance(resource, LeanObservation | dict):
            resources.append((entry.fullUrl, resource))
    return SortedSearchset(bundle.link, settle_entries(resources), outcomes)
