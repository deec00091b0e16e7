"""The swept-patient hook answers from the sweep's snapshot: that is the same Assessment only if the sweep's
searches read exactly what the hook's prefetch templates read. Proved here on the shipped service definition and
the site's default profile: the same resource types, the same patient, the same Observation codes, the same
includes — the only differences are page size and sort order, which change no resource."""

from __future__ import annotations

from urllib.parse import parse_qsl

from cds_cyto.cds.discovery import load_services
from cds_cyto.core.profile import default_profile
from cds_cyto.settings import Settings
from cds_cyto.sources import FhirClient, FhirPatientSource, default_observation_codes, render_template
from cds_cyto.sources._swept import SNAPSHOT_TYPE, count_url
from cds_cyto.sweep.changes import CHANGE_TYPES

PID = "p-1"
PAGING = {"_count", "_sort"}  # how many per page and in what order: not which resources


def _what(url: str) -> tuple[str, frozenset[tuple[str, frozenset[str]]]]:
    """A query as (path, {parameter: its OR-ed values}) without paging, to compare what it selects."""
    path, _, query = url.partition("?")
    params: dict[str, set[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in PAGING:
            params.setdefault(name, set()).update(value.split(","))
    return path, frozenset((k, frozenset(v)) for k, v in params.items())


def test_the_sweeps_searches_select_what_the_hooks_templates_select() -> None:
    profile = default_profile()
    codes = default_observation_codes(profile)
    (service,) = load_services(Settings().hooks_dir, codes).values()
    templates = [render_template(t, {"patientId": PID}, PID) for t in service.prefetch.values()]
    assert None not in templates
    source = FhirPatientSource(FhirClient("http://fhir.test/r4"), codes)
    assert {_what(u) for u in templates if u is not None} == {_what(u) for u in source.queries(PID)}


def test_the_snapshot_answers_for_the_observation_search_and_its_count_counts_the_same() -> None:
    source = FhirPatientSource(FhirClient("http://fhir.test/r4"), default_observation_codes())
    observations = source.queries(PID)[1]
    assert observations.startswith(SNAPSHOT_TYPE + "?")
    path, params = _what(count_url(observations))
    assert path == SNAPSHOT_TYPE
    assert dict(params).get("_summary") == frozenset({"count"})
    assert {k: v for k, v in params if k != "_summary"} == dict(_what(observations)[1])
    assert SNAPSHOT_TYPE in CHANGE_TYPES  # the sweep's change detection covers what the snapshot answers for
