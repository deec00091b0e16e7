"""Replay across workers and replicas, through `cds-cyto serve` processes and real signed tokens (issue 15 item 5).

Which worker served a request is read from the kernel: the worker process that holds the server end of the
connection (/proc/net/tcp + /proc/PID/fd), so "both workers were hit" is a fact, not a hope.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from cds_cyto.store import Store
from cds_cyto.store.replay import DatabaseReplayStore
from tests.cds.scenario import hook_request
from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.postgres import PostgresServer
from tests.support.serve import Served, Signer, served

MAX_CONNECTIONS = 400  # fresh connections tried until both workers have served one
RACERS = 16


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    want_local, want_remote = f"0100007F:{server_port:04X}", f"{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == want_local and fields[2].endswith(":" + want_remote):
            return fields[9]
    return None


def serving_pid(server: Served, conn: http.client.HTTPConnection) -> int | None:
    """The worker process holding the server end of this (still open) connection."""
    assert conn.sock is not None
    inode = _server_side_inode(conn.port, conn.sock.getsockname()[1])
    if inode is None:
        return None
    for pid in server.worker_pids():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if fd.readlink().name == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def over_both_workers(
    server: Served, send: Callable[[http.client.HTTPConnection], tuple[int, bytes]]
) -> tuple[list[tuple[int, bytes]], set[int]]:
    """`send` on fresh connections until two workers have each served at least one; the answers, the workers."""
    answers: list[tuple[int, bytes]] = []
    workers: set[int] = set()
    for _ in range(MAX_CONNECTIONS):
        conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=60)
        try:
            answers.append(send(conn))
            pid = serving_pid(server, conn)  # before closing: the server end is still there
        finally:
            conn.close()
        if pid is not None:
            workers.add(pid)
        if len(workers) >= 2:
            break
    return answers, workers


def get(path: str, headers: dict[str, str]) -> Callable[[http.client.HTTPConnection], tuple[int, bytes]]:
    def send(conn: http.client.HTTPConnection) -> tuple[int, bytes]:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    return send


def test_one_token_sent_to_two_workers_many_times_is_accepted_exactly_once(tmp_path: Path) -> None:
    signer = Signer()
    env = {"CDS_CYTO_AUTH": "required", "CDS_CYTO_TRUSTED_ISSUERS": signer.issuers()}  # a SQLite file: the default
    with served(tmp_path, env, "--workers", "2") as server:
        assert len(server.worker_pids()) == 2
        headers = signer.bearer(server.url + "/cds-services")
        answers, workers = over_both_workers(server, get("/cds-services", headers))
        raced = together(server, [signer.bearer(server.url + "/cds-services")] * RACERS)
        fresh = together(server, [signer.bearer(server.url + "/cds-services") for _ in range(RACERS)])
    assert len(workers) == 2, f"only one worker answered {len(answers)} connections"
    statuses = [status for status, _ in answers]
    assert statuses[0] == 200
    assert statuses.count(200) == 1, statuses
    assert set(statuses[1:]) == {401}
    assert sorted(raced) == [200] + [401] * (RACERS - 1)  # sent at once to both workers: one wins the insert
    assert fresh == [200] * RACERS  # concurrent inserts into one SQLite file all succeed


def together(server: Served, headers: list[dict[str, str]]) -> list[int]:
    """One request per header set, all released at once from their own threads and connections."""
    gate = threading.Barrier(len(headers))

    def one(h: dict[str, str]) -> int:
        with httpx.Client(trust_env=False, timeout=60) as client:
            gate.wait()
            return client.get(server.url + "/cds-services", headers=h).status_code

    with ThreadPoolExecutor(len(headers)) as pool:
        return list(pool.map(one, headers))


def test_the_command_line_reaches_every_worker(tmp_path: Path) -> None:
    """`--demo` (auth disabled, the bundled cohort, its data cut) is the command line's, not the environment's:
    a worker that did not get it would refuse to start without trusted issuers, or answer 412 without a source."""
    body = json.dumps(hook_request(pid="syn-all-0038")).encode()

    def hook(conn: http.client.HTTPConnection) -> tuple[int, bytes]:
        conn.request("POST", "/cds-services/cyto-patient-view", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()

    with served(tmp_path, {}, "--demo", "--workers", "2") as server:
        answers, workers = over_both_workers(server, hook)
    assert len(workers) == 2
    assert all(status == 200 for status, _ in answers), [status for status, _ in answers]
    assert all(json.loads(payload)["cards"] for _, payload in answers)


def test_a_token_used_on_one_replica_is_refused_on_the_other(tmp_path: Path, postgres_server: PostgresServer) -> None:
    name = "replicas_" + uuid.uuid4().hex[:8]
    url = postgres_server.create_database(name)
    signer = Signer()
    public = "https://cds.example.org"  # both replicas behind one address: one audience
    env = {
        "CDS_CYTO_AUTH": "required",
        "CDS_CYTO_TRUSTED_ISSUERS": signer.issuers(),
        "CDS_CYTO_DATABASE_URL": url,
        "CDS_CYTO_PUBLIC_BASE_URL": public,
    }
    audience = public + "/cds-services"
    try:
        with (
            served(tmp_path, env | {"CDS_CYTO_WORKERS": "2"}) as a,
            served(tmp_path, env) as b,
        ):
            assert len(a.worker_pids()) == 2  # CDS_CYTO_WORKERS from the environment
            first, second, third = (signer.bearer(audience) for _ in range(3))
            statuses = [
                httpx.get(a.url + "/cds-services", headers=first).status_code,
                httpx.get(b.url + "/cds-services", headers=first).status_code,
                httpx.get(b.url + "/cds-services", headers=second).status_code,
                httpx.get(a.url + "/cds-services", headers=second).status_code,
                httpx.get(a.url + "/cds-services", headers=third).status_code,
            ]
        store = Store(url)
        try:
            remembered = DatabaseReplayStore(store.engine).count()
        finally:
            store.dispose()
    finally:
        postgres_server.drop_database(name)
    assert statuses == [200, 401, 200, 401, 200]
    assert remembered == 3  # one row per accepted token, in the one database


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bad_worker_count_is_one_line_naming_the_setting(tmp_path: Path, value: str) -> None:
    r = run_cds_cyto(tmp_path, "serve", "--check", env={"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_WORKERS": value})
    assert_one_line_error(r, "configuration", "CDS_CYTO_WORKERS")


def test_check_names_the_worker_count(tmp_path: Path) -> None:
    r = run_cds_cyto(tmp_path, "serve", "--check", "--workers", "3", env={"CDS_CYTO_AUTH": "disabled"})
    assert r.returncode == 0, r.stderr
    assert "workers=3" in r.stdout
