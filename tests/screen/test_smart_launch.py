"""SMART App Launch end to end: the card's SMART link, launched by an "EHR" against a real authorization server
(Authlib, tests/screen/smart_server.py) in front of the real HAPI test server, into a real `cds-cyto serve`.

Refused, each with a clear page: a wrong `state`, an expired code, a token for another patient than the card's, an
`iss` that is not allowlisted. The token never reaches the page, a cookie or the log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.screen.browser import ARTIFACTS, browser
from tests.support.cli import run_cds_cyto
from tests.support.serve import Served, Signer, free_port, served

pytestmark = pytest.mark.hapi

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cohort"
PATIENT = "syn-all-0038"
OTHER = "syn-all-0036"
CLIENT_ID = "cds-cyto-screen"


@dataclass
class Smart:
    url: str  # the authorization server's origin
    iss: str
    record: Path  # every access token it issued

    def launch(self, patient: str, app_context: str, launch_id: str | None = None) -> str:
        launch_id = uuid.uuid4().hex if launch_id is None else launch_id
        body = {"id": launch_id, "patient": patient, "appContext": app_context}
        httpx.post(self.url + "/_test/launch", json=body, timeout=10).raise_for_status()
        return launch_id

    def tokens(self) -> list[str]:
        return self.record.read_text().split() if self.record.exists() else []


@dataclass
class World:
    smart: Smart
    app: Served
    signer: Signer
    env: dict[str, str]  # the app's settings, database included: another process with them is another worker
    database: Path


@pytest.fixture(scope="module")
def world(hapi_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("smart")
    loaded = run_cds_cyto(
        tmp, "fixtures", "load", "--fhir", hapi_url, str(FIXTURES / f"{PATIENT}.json"), str(FIXTURES / f"{OTHER}.json")
    )
    assert loaded.returncode == 0, loaded.stderr
    app_port, smart_port = free_port(), free_port()
    smart = Smart(f"http://127.0.0.1:{smart_port}", f"http://127.0.0.1:{smart_port}/fhir", tmp / "tokens.txt")
    log = (tmp / "smart.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.screen.smart_server",
            "--port",
            str(smart_port),
            "--fhir",
            hapi_url,
            "--client-id",
            CLIENT_ID,
            "--redirect-uri",
            f"http://127.0.0.1:{app_port}/app/callback",
            "--record",
            str(smart.record),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(smart.iss + "/.well-known/smart-configuration", process)
        signer = Signer()
        issuers = json.loads(signer.issuers())
        issuers[signer.iss]["fhir_base_urls"] = [hapi_url]
        env = {
            "CDS_CYTO_TRUSTED_ISSUERS": json.dumps(issuers),
            "CDS_CYTO_AS_OF": "2026-11-20",
            "CDS_CYTO_SMART_APP_CLIENT_ID": CLIENT_ID,
            "CDS_CYTO_SMART_APP_ISSUERS": json.dumps({smart.iss: {"tenant": "ward-7"}}),
            "CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp / 'app.sqlite'}",
        }
        with served(tmp, env, port=app_port) as app:
            yield World(smart, app, signer, env, tmp / "app.sqlite")
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert process.poll() is None, "the SMART test server exited"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the SMART test server did not start")


def _card_link(w: World, hapi_url: str) -> dict[str, str]:
    url = w.app.url + "/cds-services/cyto-patient-view"
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": hapi_url,
        "context": {"userId": "Practitioner/dr-a", "patientId": PATIENT},
    }
    r = httpx.post(url, json=body, headers=w.signer.bearer(url), timeout=60)
    assert r.status_code == 200, r.text
    links = [link for card in r.json()["cards"] for link in card["links"]]
    assert links and all(link["type"] == "smart" for link in links)
    return dict(links[0])


def _to_callback(w: World, client: httpx.Client, launch_id: str) -> str:
    """Launch as the EHR would and let the authorization server approve: the callback URL it sends the browser to."""
    r = client.get(w.app.url + "/app/launch", params={"iss": w.smart.iss, "launch": launch_id})
    assert r.status_code == 302, r.text
    authorize = r.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["aud"] == [w.smart.iss] and query["launch"] == [launch_id]
    r = client.get(authorize)
    assert r.status_code == 302, r.text
    return str(r.headers["location"])


def _assert_no_secret_leaked(w: World, *texts: str) -> None:
    log = w.app.log.read_text()
    for token in w.smart.tokens():
        assert token not in log
        for text in texts:
            assert token not in text


def test_ehr_launch_from_a_card_link_opens_the_timeline(world: World, hapi_url: str, tmp_path: Path) -> None:
    link = _card_link(world, hapi_url)
    assert link["url"] == world.app.url + "/app/launch"
    assert json.loads(link["appContext"])["patient"] == PATIENT
    launch_id = world.smart.launch(PATIENT, link["appContext"])
    with browser(tmp_path / "profile") as context:
        page = context.new_page()
        page.goto(link["url"] + "?" + urlencode({"launch": launch_id, "iss": world.smart.iss}))
        assert page.url == f"{world.app.url}/app/patients/{PATIENT}"
        assert page.locator("h1").inner_text() == f"Patient {PATIENT}"
        assert page.locator("article.rec").count() >= 1
        html = page.content()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "timeline-smart-launch.png"), full_page=True)
        (session,) = [c for c in context.cookies() if c["name"] == "cds_cyto_session"]
        assert session["httpOnly"] is True and session["sameSite"] == "Lax" and session["path"] == "/app"
        # the sign-in is for this patient only, and names its user: the worklist of the iss's tenant opens
        page.goto(f"{world.app.url}/app/patients/{OTHER}")
        assert "another patient" in page.locator("main").inner_text()
        page.goto(f"{world.app.url}/app/worklist")
        assert page.locator("h1").inner_text() == "Worklist"
        _assert_no_secret_leaked(world, html, session["value"], page.content())
    assert world.smart.tokens()  # a token was issued (and is nowhere above)


def test_a_callback_with_another_state_is_refused(world: World) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        callback = _to_callback(world, client, world.smart.launch(PATIENT, "{}"))
        parts = urlsplit(callback)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        wrong = {**query, "state": "not-" + query["state"]}
        r = client.get(f"{parts.scheme}://{parts.netloc}{parts.path}", params=wrong)
        assert r.status_code == 400 and "wrong state" in r.text
        assert "cds_cyto_launch" in client.cookies  # a forged callback does not end this browser's own sign-in
    with httpx.Client(follow_redirects=False, timeout=30) as other_browser:  # the state cookie is not this one's
        r = other_browser.get(callback)
        assert r.status_code == 400 and "not started in this browser" in r.text
    _assert_no_secret_leaked(world)


def test_an_expired_code_is_refused(world: World) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        callback = _to_callback(world, client, world.smart.launch(PATIENT, "{}"))
        httpx.post(world.smart.url + "/_test/expire-codes", timeout=10).raise_for_status()
        r = client.get(callback)
        assert r.status_code == 400 and "the code may have expired" in r.text
        assert "cds_cyto_session" not in r.headers.get("set-cookie", "")


def test_a_token_for_another_patient_than_the_cards_is_refused(world: World) -> None:
    context = json.dumps({"patient": PATIENT, "recommendation": "gcsf-therapeutic"})
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        r = client.get(_to_callback(world, client, world.smart.launch(OTHER, context)))
        assert r.status_code == 403 and "not for the patient of the card" in r.text
        assert "cds_cyto_session" not in r.headers.get("set-cookie", "")
        assert "cds_cyto_launch" not in client.cookies  # the used launch is over, its cookie gone
    _assert_no_secret_leaked(world, r.text)


def test_an_iss_that_is_not_allowlisted_is_refused_before_any_request(world: World) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens there: a request would fail differently
    r = httpx.get(world.app.url + "/app/launch", params={"iss": elsewhere, "launch": "x"}, timeout=10)
    assert r.status_code == 403 and "not registered for this app" in r.text
    r = httpx.get(world.app.url + "/app/launch", params={"launch": "x"}, timeout=10)
    assert r.status_code == 400 and "needs one &#x27;iss&#x27;" in r.text


def test_a_standalone_launch_lets_the_authorization_server_pick_the_patient(world: World) -> None:
    world.smart.launch(OTHER, "{}", launch_id="")  # what the server's patient picker would choose
    with httpx.Client(follow_redirects=False, timeout=60) as client:
        r = client.get(world.app.url + "/app/launch", params={"iss": world.smart.iss})
        assert r.status_code == 302, r.text
        query = parse_qs(urlsplit(r.headers["location"]).query)
        assert "launch" not in query and query["scope"] == ["launch/patient openid fhirUser patient/*.rs"]
        assert query["code_challenge_method"] == ["S256"]
        r = client.get(client.get(r.headers["location"]).headers["location"])
        assert r.status_code == 303 and r.headers["location"] == f"/app/patients/{OTHER}"
        page = client.get(world.app.url + r.headers["location"])
        assert page.status_code == 200 and f'Patient <span class="pid">{OTHER}</span>' in page.text
    _assert_no_secret_leaked(world, page.text)


def test_without_a_sign_in_the_pages_ask_for_a_launch(world: World) -> None:
    for path in ("/app/worklist", f"/app/patients/{PATIENT}"):
        r = httpx.get(world.app.url + path, timeout=10)
        assert r.status_code == 401 and "SMART launch" in r.text
    r = httpx.post(world.app.url + "/app/worklist/alerts/x/acknowledge", timeout=10)
    assert r.status_code == 401


def _sign_in(w: World, client: httpx.Client, patient: str = PATIENT) -> str:
    """A whole EHR launch in `client` (its cookie jar is the browser's); the session id it was given."""
    r = client.get(_to_callback(w, client, w.smart.launch(patient, "{}")))
    assert r.status_code == 303 and r.headers["location"] == f"/app/patients/{patient}", r.text
    return str(client.cookies["cds_cyto_session"])


def test_a_session_is_kept_by_another_process_on_the_database_and_ends_at_logout(world: World, tmp_path: Path) -> None:
    with httpx.Client(follow_redirects=False, timeout=60) as client:
        sid = _sign_in(world, client)
        # another worker, a replica or this service restarted: a second process on the same database
        with served(tmp_path, world.env) as other:
            page = client.get(f"{other.url}/app/patients/{PATIENT}")
            assert page.status_code == 200 and f'Patient <span class="pid">{PATIENT}</span>' in page.text
            assert 'action="/app/logout"' in page.text
            assert client.get(f"{other.url}/app/worklist").status_code == 200
            # signing out there ends the session everywhere
            r = client.post(f"{other.url}/app/logout", headers={"Origin": other.url})
            assert r.status_code == 200 and "Signed out" in r.text
            assert "cds_cyto_session" not in client.cookies
        stale = {"cds_cyto_session": sid}
        r = httpx.get(f"{world.app.url}/app/patients/{PATIENT}", cookies=stale, timeout=10)
        assert r.status_code == 401 and "SMART launch" in r.text
    # the database (with its write-ahead log) never held the token or the session id in clear
    raw = b"".join(p.read_bytes() for p in world.database.parent.glob(world.database.name + "*") if p.is_file())
    assert world.smart.tokens()
    for secret in [*world.smart.tokens(), sid]:
        assert secret.encode() not in raw
    _assert_no_secret_leaked(world)


def test_a_session_id_planted_in_the_browser_is_never_adopted(world: World) -> None:
    planted = "A" * 43  # an attacker's id set in the victim's browser before the sign-in (session fixation)
    with httpx.Client(follow_redirects=False, timeout=60) as client:
        client.cookies.set("cds_cyto_session", planted, domain="127.0.0.1", path="/app")
        first = _sign_in(world, client)
        assert first != planted
        again = _sign_in(world, client)  # a second sign-in in the same browser: a new id, the old one ends
        assert again != first
    for old in (planted, first):
        r = httpx.get(f"{world.app.url}/app/patients/{PATIENT}", cookies={"cds_cyto_session": old}, timeout=10)
        assert r.status_code == 401
    r = httpx.get(f"{world.app.url}/app/patients/{PATIENT}", cookies={"cds_cyto_session": again}, timeout=60)
    assert r.status_code == 200


def test_acknowledging_and_signing_out_are_refused_from_another_site(world: World) -> None:
    with httpx.Client(follow_redirects=False, timeout=60) as client:
        _sign_in(world, client)
        for origin in ("https://evil.example", "null", world.app.url.replace("127.0.0.1", "localhost")):
            r = client.post(f"{world.app.url}/app/worklist/alerts/1/acknowledge", headers={"Origin": origin})
            assert r.status_code == 403 and "this app&#x27;s own pages" in r.text
            r = client.post(f"{world.app.url}/app/logout", headers={"Origin": origin})
            assert r.status_code == 403
        r = client.post(f"{world.app.url}/app/logout", headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        assert client.get(f"{world.app.url}/app/patients/{PATIENT}").status_code == 200  # still signed in


def test_a_callback_answered_by_another_authorization_server_is_refused(world: World) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        callback = _to_callback(world, client, world.smart.launch(PATIENT, "{}"))
        r = client.get(callback + "&" + urlencode({"iss": "https://as.attacker.example"}))  # RFC 9207 mix-up
        assert r.status_code == 400 and "another authorization server" in r.text
        assert "cds_cyto_session" not in client.cookies


def test_outside_loopback_the_cookies_are_secure_host_only_and_httponly(world: World, tmp_path: Path) -> None:
    env = {**world.env, "CDS_CYTO_PUBLIC_BASE_URL": "https://cds.hospital.example.org"}
    env["CDS_CYTO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'public.sqlite'}"
    with served(tmp_path, env) as public:
        r = httpx.get(public.url + "/app/launch", params={"iss": world.smart.iss, "launch": "x"}, timeout=30)
        assert r.status_code == 302
        query = parse_qs(urlsplit(r.headers["location"]).query)
        assert query["redirect_uri"] == ["https://cds.hospital.example.org/app/callback"]
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-cds_cyto_launch=")
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"httponly", "secure", "path=/", "samesite=lax"} <= flags
        assert not any(f.startswith("domain=") for f in flags)
        r = httpx.post(public.url + "/app/logout", headers={"Origin": "https://cds.hospital.example.org"}, timeout=10)
        assert r.status_code == 200  # the public origin is this app's own, behind its TLS proxy
        gone = r.headers["set-cookie"]
        assert gone.startswith("__Host-cds_cyto_session=") and "Secure" in gone and "Path=/" in gone
