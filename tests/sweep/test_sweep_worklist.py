"""The worklist: order by urgency then day, what the last sweep changed, three renderings, the HTTP route and CLI."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_cyto.app import create_app
from cds_cyto.cli import main
from cds_cyto.settings import Settings
from cds_cyto.store import Store
from cds_cyto.store.alerts import ALL_TENANTS, Finding, alerts_of
from cds_cyto.store.patients import Evaluation, PatientUpdate, save_patient
from cds_cyto.store.runs import finish_run, start_run
from cds_cyto.sweep import build_worklist, render_csv, render_table

AS_OF = date(2031, 5, 1)
TENANT = "ward-a"
T0 = datetime(2031, 5, 1, 6, 0, tzinfo=UTC)


def finding(code: str, urgency: str, day: int) -> Finding:
    return Finding(code, urgency, f"{code} on day {day}", "rule", "citation", [], day)


def assess(store: Store, run: int, patient: str, day: int, findings: list[Finding], grades: dict[str, Any]) -> None:
    evaluation = Evaluation({"day": day}, f"{patient}-{run}", "p", AS_OF, day, grades, findings)
    save_patient(store.engine, PatientUpdate(patient, run, T0, False, 1, {}, "s", evaluation, TENANT), T0)


@pytest.fixture
def swept(store: Store) -> Store:
    """Two completed sweeps; the second changes a few things."""
    plt, gcsf, mon = "platelet-transfusion", "gcsf-therapeutic", "extended-monitoring"
    r1 = start_run(store.engine, "incremental", AS_OF, "t", T0, tenant=TENANT)
    assess(store, r1, "p-crit", 5, [finding(plt, "critical", 5)], {"ICAHT early": "III"})
    assess(store, r1, "p-escalate", 8, [finding(gcsf, "warning", 8)], {})
    assess(store, r1, "p-warn-late", 20, [finding(gcsf, "warning", 20)], {})
    assess(store, r1, "p-info", 1, [finding(mon, "info", 1)], {})
    assess(store, r1, "p-resolving", 4, [finding(plt, "critical", 4)], {})
    assess(store, r1, "p-grades", 9, [], {"ICAHT early": "I"})
    finish_run(store.engine, r1, "completed")
    r2 = start_run(store.engine, "incremental", AS_OF, "t", T0, tenant=TENANT)
    assess(store, r2, "p-crit", 5, [finding(plt, "critical", 5)], {"ICAHT early": "III"})
    assess(store, r2, "p-escalate", 8, [finding(gcsf, "critical", 8)], {})
    assess(store, r2, "p-warn-early", 3, [finding(gcsf, "warning", 3)], {})
    assess(store, r2, "p-resolving", 4, [], {})
    assess(store, r2, "p-grades", 9, [], {"ICAHT early": "II"})
    finish_run(store.engine, r2, "completed")
    return store


def test_order_and_changes(swept: Store) -> None:
    worklist = build_worklist(swept.engine, scope=ALL_TENANTS)
    assert worklist.since_run is not None and worklist.since_run.id == 2
    rows = [(r.patient_id, r.urgency, r.day, [(a.code, a.change) for a in r.alerts]) for r in worklist.rows]
    assert rows == [
        ("p-crit", "critical", 5, [("platelet-transfusion", "ongoing")]),
        ("p-escalate", "critical", 8, [("gcsf-therapeutic", "escalated")]),
        ("p-warn-early", "warning", 3, [("gcsf-therapeutic", "new")]),
        ("p-warn-late", "warning", 20, [("gcsf-therapeutic", "ongoing")]),
        ("p-info", "info", 1, [("extended-monitoring", "ongoing")]),
        ("p-resolving", None, 4, [("platelet-transfusion", "resolved")]),
        ("p-grades", None, 9, []),
    ]
    assert worklist.rows[-1].grade_changes == {"ICAHT early": ["I", "II"]}


def test_renderings(swept: Store) -> None:
    worklist = build_worklist(swept.engine, scope=ALL_TENANTS)
    table = render_table(worklist)
    assert table.splitlines()[0] == "Worklist — changes since sweep 2 (as of 2031-05-01)"
    assert table.splitlines()[1].split() == ["URGENCY", "DAY", "PATIENT", "CHANGE", "STATE", "ALERT", "SUMMARY"]
    assert "ICAHT early I → II" in table
    rows = list(csv.DictReader(io.StringIO(render_csv(worklist))))
    assert [r["patient_id"] for r in rows][:3] == ["p-crit", "p-escalate", "p-warn-early"]
    assert rows[1]["change"] == "escalated" and rows[-1]["grade_changes"] == "ICAHT early I → II"
    document = worklist.to_json()
    assert document["since_run"]["id"] == 2
    assert document["patients"][0]["alerts"][0]["state"] == "new"


def test_cli_lists_and_acknowledges(swept: Store, store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{store_path}"
    assert main(["worklist", "--database", url, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    alert_id = listed["patients"][0]["alerts"][0]["id"]
    assert main(["worklist", "--database", url, "--ack", alert_id, "--by", "nurse-7"]) == 0
    assert capsys.readouterr().out.strip() == f"alert {alert_id}: acknowledged"
    [alert] = alerts_of(swept.engine, "p-crit")
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", "nurse-7")
    assert main(["worklist", "--database", url, "--ack", "no-such-alert"]) == 2
    assert main(["worklist", "--database", url]) == 0
    assert "p-crit" in capsys.readouterr().out


# --- HTTP -------------------------------------------------------------------------------------------------------

ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
KEY = ECKey.generate_key("P-384", parameters={"kid": "k1"}, private=True)


def token(path: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "sub": "nurse-3",
        "tenant": TENANT,
        "aud": BASE + path,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode({"alg": "ES384", "kid": "k1", "typ": "JWT"}, claims, KEY, algorithms=["ES384"])


@pytest.fixture
def secured(swept: Store, store_path: Path, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        auth="required",
        public_base_url=BASE,
        trusted_issuers=json.dumps({ISS: {"jwks": {"keys": [KEY.as_dict(private=False)]}, "tenant": TENANT}}),
        database_url=f"sqlite:///{store_path}",
        demo_dir=tmp_path / "none",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_http_worklist_needs_the_cds_client_token(secured: TestClient) -> None:
    assert secured.get("/worklist").status_code == 401
    assert secured.get("/worklist", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    answer = secured.get("/worklist", headers={"Authorization": f"Bearer {token('/worklist')}"})
    assert answer.status_code == 200
    body = orjson.loads(answer.content)
    assert body["patients"][0]["patient_id"] == "p-crit"
    as_csv = secured.get("/worklist?format=csv", headers={"Authorization": f"Bearer {token('/worklist')}"})
    assert as_csv.headers["content-type"].startswith("text/csv") and as_csv.text.startswith("patient_id,")


def test_http_acknowledge_records_the_client(secured: TestClient, swept: Store) -> None:
    [alert] = alerts_of(swept.engine, "p-info")
    path = f"/worklist/alerts/{alert.uid}/acknowledge"
    assert secured.post(path).status_code == 401
    answer = secured.post(path, headers={"Authorization": f"Bearer {token(path)}"})
    assert answer.status_code == 200 and orjson.loads(answer.content)["state"] == "acknowledged"
    [alert] = alerts_of(swept.engine, "p-info")
    assert alert.acknowledged_by == "nurse-3", "the user the token names"
    missing = "/worklist/alerts/nope/acknowledge"
    assert secured.post(missing, headers={"Authorization": f"Bearer {token(missing)}"}).status_code == 404
