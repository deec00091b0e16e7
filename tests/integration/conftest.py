"""Fixtures shared by the real-HAPI tests: patients loaded once per session under unique ids."""

from __future__ import annotations

import contextlib
import io
import time

import orjson
import pytest

from cds_cyto.cli import main
from tests.cds.scenario import cytopenic_patient
from tests.integration.helpers import (
    BIG_OBSERVATIONS,
    SMALL_OBSERVATIONS,
    CytopenicPatient,
    LoadedPatients,
    load_resources,
    unique_id,
)
from tests.support.patient_bundle import make_patient_bundle


@pytest.fixture(scope="session")
def loaded(hapi_url: str, tmp_path_factory: pytest.TempPathFactory) -> LoadedPatients:
    folder = tmp_path_factory.mktemp("bundles")
    big, small = unique_id("big"), unique_id("small")
    (folder / f"{big}.json").write_bytes(orjson.dumps(make_patient_bundle(BIG_OBSERVATIONS, pid=big)))
    (folder / f"{small}.json").write_bytes(orjson.dumps(make_patient_bundle(SMALL_OBSERVATIONS, pid=small)))
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["fixtures", "load", "--fhir", hapi_url, str(folder)])
    seconds = time.perf_counter() - started
    assert code == 0, out.getvalue()
    return LoadedPatients(big, small, folder, folder / f"{big}.json", out.getvalue(), seconds)


@pytest.fixture(scope="session")
def cytopenic(hapi_url: str) -> CytopenicPatient:
    """The service tests' severe pancytopenia on day +7 (tests/cds/scenario.py), on HAPI."""
    pid = unique_id("cyto")
    resources = cytopenic_patient(pid)
    load_resources(hapi_url, resources)
    return CytopenicPatient(pid, resources)
