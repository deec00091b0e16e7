"""The site model end to end: the service, started with CDS_CYTO_SITE_MODEL, fetches a patient from the real server
and shows the calibrated probability on the extended-monitoring card with its validation figures — or says why it
cannot score the patient today."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_cyto.app import create_app
from cds_cyto.settings import Settings
from tests.cds.scenario import DAY0, cytopenic_patient, hook_request, prefetch_for
from tests.integration.helpers import AS_OF, load_resources, unique_id
from tests.support.site_model import artifact_doc

pytestmark = pytest.mark.hapi

SERVICE = "/cds-services/cyto-patient-view"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
COEF = {"baseline_neutrophils": -0.7, "baseline_platelets": -0.4, "crs_grade": 0.8, "crs_recovery_day": 0.1}
INTERCEPT = 1.5


def _artifact(path: Path) -> Path:
    ranges = dict.fromkeys(COEF, (0.0, 500.0))
    validation = {"auc_cv": 0.71, "auc_cv_ci95": [0.65, 0.77], "calibration_slope": 0.94, "calibration_intercept": 0.02}
    doc = artifact_doc(COEF, intercept=INTERCEPT, ranges=ranges, validation=validation, n=412, events=103)
    path.write_text(json.dumps(doc))
    return path


def _site_file(path: Path) -> Path:
    # the hook reads no diagnosis: this site declares that its patients are the model's population (B-ALL)
    path.write_text("[thresholds.site_model]\nunknown_disease_in_population = true\n")
    return path


def _crs(pid: str, grade: int, onset: int, abatement: int | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"{pid}-crs",
        "code": {"coding": [{"system": ICD10CM, "code": f"D89.83{grade}"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": f"{DAY0 + timedelta(days=onset)}T14:00:00Z",
    }
    if abatement is not None:
        res["abatementDateTime"] = f"{DAY0 + timedelta(days=abatement)}T14:00:00Z"
    return res


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        auth="disabled",
        database_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
        demo_dir=tmp_path / "no-demo",
        as_of=AS_OF + timedelta(days=7),  # day +14: CRS inputs count as final from then
        site_model=_artifact(tmp_path / "site_model.json"),
        site_file=_site_file(tmp_path / "site.toml"),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _monitoring_card(service: TestClient, body: dict[str, Any]) -> str:
    answer = service.post(SERVICE, content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    cards = answer.json()["cards"]
    detail: str = next(c for c in cards if c["source"]["topic"]["code"] == "extended-monitoring")["detail"]
    return detail


def test_probability_on_the_card_from_the_fhir_server(service: TestClient, hapi_url: str) -> None:
    pid = unique_id("site")
    # baseline ANC 2.5 and PLT 140 on day −3; CRS grade 3 from day +1, abated day +5; evaluated on day +14
    resources = [*cytopenic_patient(pid, day=14), _crs(pid, 3, 1, 5)]
    load_resources(hapi_url, resources)
    fetched = _monitoring_card(service, hook_request(pid, fhirServer=hapi_url))
    eta = INTERCEPT - 0.7 * math.log(2.5) - 0.4 * math.log(140.0) + 0.8 * 3 + 0.1 * 5
    percent = round(100 / (1 + math.exp(-eta)))
    assert f"probability of prolonged hematological toxicity (seed 000: SN, SA or ST on day 28): **{percent}%**" in (
        fetched
    )
    assert "cross-validated AUC 0.71 (95% CI 0.65–0.77), calibration slope 0.94" in fetched
    assert "fitted on 412 B-ALL patients of this site (103 events)" in fetched
    assert "caution: the patient's disease is not recorded here: scored because the site declares" in fetched
    assert fetched == _monitoring_card(service, hook_request(pid, prefetch=prefetch_for(resources)))


def test_ongoing_crs_is_not_scored(service: TestClient, hapi_url: str) -> None:
    pid = unique_id("site")
    load_resources(hapi_url, [*cytopenic_patient(pid, day=14), _crs(pid, 3, 2, None)])
    detail = _monitoring_card(service, hook_request(pid, fhirServer=hapi_url))
    assert "not scored — crs_grade, crs_recovery_day: CRS from day +2 had not abated by the day +14" in detail
    assert "%**" not in detail
