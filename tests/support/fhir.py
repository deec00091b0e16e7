"""Test FHIR resources: the one place tests build them and read them back.

A source answers `Readable`s (a dict, a lean lab result, or the place of nobody's resource); tests that know they
got dicts say so through `as_dict`, so a surprise fails with the type it met instead of a KeyError.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cds_cyto.core.extract import NoPatient
from cds_cyto.core.extract.lean import LeanObservation
from cds_cyto.sources import Readable


def as_dict(resource: Readable) -> dict[str, Any]:
    assert isinstance(resource, dict), f"expected a JSON resource, got {type(resource).__name__}"
    return resource


def resource_id(resource: Readable) -> str | None:
    if isinstance(resource, LeanObservation):
        return resource.id
    return as_dict(resource).get("id")


def resource_ids(resources: Iterable[Readable]) -> list[str | None]:
    return [resource_id(r) for r in resources]


def present(resource: Readable) -> dict[str, Any] | LeanObservation:
    """A resource that is somebody's: a source of one patient never answers the place of nobody's resource."""
    assert not isinstance(resource, NoPatient), f"unexpected {resource!r}"
    return resource
