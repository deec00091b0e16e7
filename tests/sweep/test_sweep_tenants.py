"""The worklist by tenant (issue 15 item 3), end to end: two `cds-cyto sweep` processes, each configured through
CDS_CYTO_SWEEP_TENANT for one tenant's patients, into one database; then `cds-cyto serve` as a process, and two real
signed tokens of two trusted issuers over HTTP. Each tenant sees and acknowledges only its own; another tenant's
patient or alert is a 404, as if it did not exist."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_cyto.sources import FhirClient
from cds_cyto.store import Store
from cds_cyto.store.alerts import Finding
from cds_cyto.store.patients import Evaluation, PatientUpdate, save_patient
from cds_cyto.store.runs import start_run
from cds_cyto.sweep import CohortQuery
from tests.support.cli import run_cds_cyto
from tests.sweep.builders import course, load
from tests.sweep.conftest import sweep

pytestmark = pytest.mark.hapi

AS_OF = date(2048, 6, 1)  # this module's calendar on the shared server
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Issuer:
    iss: str
    key: ECKey
    tenant: str | None

    def config(self) -> dict[str, Any]:
        conf: dict[str, Any] = {"jwks": {"keys": [self.key.as_dict(private=False)]}}
        return conf | ({"tenant": self.tenant} if self.tenant else {})


def _issuer(name: str, tenant: str | None) -> Issuer:
    key = ECKey.generate_key("P-384", parameters={"kid": f"{name}-key"}, private=True)
    return Issuer(f"https://{name}.example.org", key, tenant)


A, B, NO_TENANT = _issuer("ehr-a", "ward-a"), _issuer("ehr-b", "ward-b"), _issuer("ehr-c", None)


@dataclass(frozen=True)
class Served:
    base: str

    def call(
        self, method: str, path: str, issuer: Issuer, sub: str | None = "dr-who", claims_tenant: str | None = None
    ) -> httpx.Response:
        """A request with a fresh token of `issuer`; its `tenant` claim is the issuer's, or `claims_tenant`."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer.iss,
            "aud": self.base + path.partition("?")[0],
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        if sub is not None:
            claims["sub"] = sub
        if (claims_tenant or issuer.tenant) is not None:
            claims["tenant"] = claims_tenant or issuer.tenant
        header = {"alg": "ES384", "kid": issuer.key.kid, "typ": "JWT"}
        token = jwt.encode(header, claims, issuer.key, algorithms=["ES384"])
        return httpx.request(method, self.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(hapi_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("tenants")
    day0 = AS_OF - timedelta(days=7)
    resources = course("swt-a1", day0, [2, 5], plt=9.0) + course("swt-b1", day0, [2, 5], plt=9.0)
    asyncio.run(load(hapi_url, resources))
    for tenant, pid in (("ward-a", "swt-a1"), ("ward-b", "swt-b1")):
        ids = tmp_path / f"{tenant}.txt"
        ids.write_text(pid + "\n")
        env = {"CDS_CYTO_SWEEP_TENANT": tenant, "CDS_CYTO_FHIR_BASE_URL": hapi_url}
        swept = run_cds_cyto(tmp_path, "sweep", "--once", "--ids", str(ids), "--as-of", AS_OF.isoformat(), env=env)
        assert swept.returncode == 0, swept.stderr
        assert "1 assessed" in swept.stdout

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")} | {
        "CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",  # the sweeps' database
        "CDS_CYTO_TRUSTED_ISSUERS": json.dumps({i.iss: i.config() for i in (A, B, NO_TENANT)}),
        "CDS_CYTO_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "CDS_CYTO_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "cds_cyto", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield Served(base)
    finally:
        server.terminate()
        server.communicate(timeout=30)


def _listed(served: Served, issuer: Issuer) -> dict[str, Any]:
    answer = served.call("GET", "/worklist", issuer)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_each_tenant_sees_and_acknowledges_only_its_own(served: Served) -> None:
    mine, theirs = _listed(served, A), _listed(served, B)
    assert [p["patient_id"] for p in mine["patients"]] == ["swt-a1"]
    assert [p["patient_id"] for p in theirs["patients"]] == ["swt-b1"]
    [b_alert] = theirs["patients"][0]["alerts"]
    [a_alert] = mine["patients"][0]["alerts"]

    assert served.call("GET", "/worklist/patients/swt-a1", A).status_code == 200
    other = served.call("GET", "/worklist/patients/swt-b1", A)
    never = served.call("GET", "/worklist/patients/swt-nobody", A)
    assert (other.status_code, other.content) == (never.status_code, never.content) == (404, never.content)

    stolen = served.call("POST", f"/worklist/alerts/{b_alert['id']}/acknowledge", A)
    missing = served.call("POST", f"/worklist/alerts/{uuid.uuid4()}/acknowledge", A)
    assert stolen.status_code == 404 and stolen.content == missing.content, "another tenant's alert does not exist"
    [still] = _listed(served, B)["patients"][0]["alerts"]
    assert (still["state"], still["acknowledged_by"]) == ("new", None)

    anonymous = served.call("POST", f"/worklist/alerts/{a_alert['id']}/acknowledge", A, sub=None)
    assert anonymous.status_code == 403 and "sub" in anonymous.json()["error"]
    acked = served.call("POST", f"/worklist/alerts/{a_alert['id']}/acknowledge", A, sub="dr-a")
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    [done] = _listed(served, A)["patients"][0]["alerts"]
    assert (done["state"], done["acknowledged_by"]) == ("acknowledged", "dr-a")


def test_an_issuer_without_a_tenant_sees_nothing(served: Served) -> None:
    body = _listed(served, NO_TENANT)
    assert (body["patients"], body["failed_patients"]) == ([], [])
    [alert] = _listed(served, A)["patients"][0]["alerts"]
    assert served.call("POST", f"/worklist/alerts/{alert['id']}/acknowledge", NO_TENANT).status_code == 404
    assert served.call("GET", "/worklist/patients/swt-a1", NO_TENANT).status_code == 404


def test_an_issuer_without_a_tenant_that_claims_one_still_sees_nothing(served: Served) -> None:
    """The scope is the issuer's configured tenant, never the token's claim: an issuer with none could claim any."""
    [alert] = _listed(served, A)["patients"][0]["alerts"]
    claimed = served.call("GET", "/worklist", NO_TENANT, claims_tenant="ward-a")
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["patients"], claimed.json()["since_run"]) == ([], None)
    for path in ("/worklist/patients/swt-a1", "/worklist/patients/swt-a1?tenant=ward-a"):
        assert served.call("GET", path, NO_TENANT, claims_tenant="ward-a").status_code == 404, path
    ack = served.call("POST", f"/worklist/alerts/{alert['id']}/acknowledge", NO_TENANT, claims_tenant="ward-a")
    assert ack.status_code == 404


def test_a_tenants_token_that_claims_another_tenant_is_refused(served: Served) -> None:
    for method, path in (("GET", "/worklist"), ("GET", "/worklist/patients/swt-b1")):
        assert served.call(method, path, A, claims_tenant="ward-b").status_code == 401, path
    [b_alert] = _listed(served, B)["patients"][0]["alerts"]
    ack = served.call("POST", f"/worklist/alerts/{b_alert['id']}/acknowledge", A, claims_tenant="ward-b")
    assert ack.status_code == 401
    [still] = _listed(served, B)["patients"][0]["alerts"]
    assert still["state"] == "new"


def test_a_tenants_reader_may_name_only_its_own_tenant(served: Served) -> None:
    assert served.call("GET", "/worklist/patients/swt-a1?tenant=ward-a", A).status_code == 200
    for other in ("ward-b", ""):  # another tenant, or the untenanted patients
        named = served.call("GET", f"/worklist/patients/swt-a1?tenant={other}", A)
        assert named.status_code == 404, other


def test_each_tenant_is_shown_its_own_last_sweep_over_http(served: Served) -> None:
    """ward-a swept first, ward-b after: ward-a's alert is still new since ward-a's sweep, not ongoing since
    ward-b's, and ward-a is never shown ward-b's run."""
    mine, theirs = _listed(served, A), _listed(served, B)
    assert mine["since_run"]["id"] < theirs["since_run"]["id"]
    assert [a["change"] for a in mine["patients"][0]["alerts"]] == ["new"]
    assert [a["change"] for a in theirs["patients"][0]["alerts"]] == ["new"]
    assert _listed(served, NO_TENANT)["since_run"] is None


def test_a_bad_query_value_is_named_never_echoed(served: Served) -> None:
    for query in ("format=xml", "format=%3Cscript%3E", "format=json&format=csv", "colour=red"):
        answer = served.call("GET", f"/worklist?{query}", A)
        assert answer.status_code == 400, query
        message = answer.json()["error"]
        assert "'format'" in message and "json, csv" in message
        for echoed in ("xml", "script", "colour", "red"):
            assert echoed not in answer.text, query
    assert served.call("GET", "/worklist?format=csv", A).text.startswith("patient_id,")


async def test_a_sweep_writes_back_only_its_own_tenants_alerts_of_a_shared_patient_id(
    hapi_url: str, store: Store
) -> None:
    """Another hospital's Patient/swt-w1 (ward-b, in the same database) has a G-CSF alert; ward-a's sweep of its own
    swt-w1 writes back ward-a's assessment and its platelet alert's Flag, never ward-b's alert (it wrote both)."""
    as_of = AS_OF + timedelta(days=40)
    pid = f"swt-w{uuid.uuid4().hex[:8]}"  # its own on a server that may keep what an earlier run wrote
    run = start_run(store.engine, "full", as_of, "sweep-b", datetime.now(UTC))
    gcsf = Finding("gcsf-therapeutic", "warning", "ANC 0.3", "ANC < 0.5", "ref", [], 12)
    evaluation = Evaluation({"day": 12}, "h-b", "p", as_of, 12, {}, [gcsf])
    now = datetime.now(UTC)
    save_patient(store.engine, PatientUpdate(pid, run, now, True, 1, {}, "s", evaluation, "ward-b"), now)
    await load(hapi_url, course(pid, as_of - timedelta(days=7), [2, 5], plt=9.0))

    report = await sweep(
        store, hapi_url, as_of, cohort=CohortQuery(patient_ids=(pid,)), tenant="ward-a", write_back=True
    )
    assert report.status == "completed" and report.write_back_failed == 0
    assert report.written_back == 1 + 1, "the RiskAssessment and ward-a's one Flag"
    async with FhirClient(hapi_url) as client:
        flags = await client.search("Flag", {"subject": f"Patient/{pid}"})
    assert [f["code"]["coding"][0]["code"] for f in flags] == ["platelet-transfusion"]
