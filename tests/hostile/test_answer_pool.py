"""Large hook calls answered in worker processes (`CDS_CYTO_PARSE_PROCESSES`): the same answer as in-thread for
every kind of call, a bounded queue (503 with Retry-After), and a pool process killed with a call in it gives that
call a 503 OperationOutcome while the next call gets a new pool; a lone large call answered in-thread, one that
overlaps another in the pool (`CDS_CYTO_PARSE_INLINE_MAX_BYTES`), both with the same answer. Real `cds-cyto serve`
processes, signed tokens."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cds_cyto.cds.answer_pool import ANSWER_NICENESS
from tests.cds.scenario import cytopenic_patient, gcsf_by_reference, hook_request, prefetch_for
from tests.hostile.conftest import MARGIN_S, Hostile, free_port
from tests.support.patient_bundle import make_patient_bundle
from tests.support.serve import Served, Signer, served

HOOK = "/cds-services/cyto-patient-view"
AS_OF = "2026-03-08"  # day +7 of both scenarios' infusion
SIGNER = Signer()
CLOSED = f"http://127.0.0.1:{free_port()}"  # an allowed fhirServer that refuses connections: fetching fails alike


def _issuers(*more: str) -> str:
    entry = json.loads(SIGNER.issuers())[SIGNER.iss]
    return json.dumps({SIGNER.iss: {**entry, "fhir_base_urls": [CLOSED, *more]}})


def _env(*bases: str, **extra: str) -> dict[str, str]:
    return {
        "CDS_CYTO_AUTH": "required",
        "CDS_CYTO_TRUSTED_ISSUERS": _issuers(*bases),
        "CDS_CYTO_AS_OF": AS_OF,
        **extra,
    }


@pytest.fixture(scope="module")
def threaded(tmp_path_factory: pytest.TempPathFactory, hostile: Hostile) -> Iterator[Served]:
    env = _env(hostile.base("ok"), CDS_CYTO_PARSE_PROCESSES="0")
    with served(tmp_path_factory.mktemp("threaded"), env) as server:
        yield server


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory, hostile: Hostile) -> Iterator[Served]:
    env = _env(
        hostile.base("ok"),
        CDS_CYTO_PARSE_PROCESSES="1",
        CDS_CYTO_PARSE_QUEUE="1",
        CDS_CYTO_PARSE_PROCESS_MIN_BYTES="0",  # every call goes to the pool, small ones included
        CDS_CYTO_PARSE_INLINE_MAX_BYTES="0",  # even a lone one
    )
    with served(tmp_path_factory.mktemp("pooled"), env) as server:
        yield server


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory: pytest.TempPathFactory, hostile: Hostile) -> Iterator[Served]:
    """The default dispatch: a lone large call in-thread, overlapping ones in the pool."""
    env = _env(hostile.base("hang"), CDS_CYTO_PARSE_PROCESSES="1", CDS_CYTO_HOOK_DEADLINE_S="6")
    with served(tmp_path_factory.mktemp("hybrid"), env) as server:
        yield server


def post(server: Served, body: bytes) -> httpx.Response:
    headers = SIGNER.bearer(server.url + HOOK) | {"Content-Type": "application/json"}
    return httpx.post(server.url + HOOK, content=body, headers=headers, timeout=120, trust_env=False)


def pool_pids(server: Served) -> set[int]:
    """The answer pool's processes: the server's spawned children (the resource tracker is no `spawn_main`)."""
    children: set[int] = set()
    for task in Path(f"/proc/{server.process.pid}/task").glob("*"):
        children |= {int(c) for c in (task / "children").read_text().split()}
    return {pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()}


def one_pool_pid(server: Served, not_this: int | None = None) -> int:
    for _ in range(600):  # spawned at start-up (or after a loss, at the next call): wait for it to be there
        pids = pool_pids(server) - {not_this}
        if len(pids) == 1:
            return pids.pop()
        time.sleep(0.1)
    raise AssertionError(f"expected one pool process, found {pool_pids(server)}")


def _big() -> bytes:
    resources = [e["resource"] for e in make_patient_bundle(1500, pid="big-1")["entry"]]
    return orjson.dumps(hook_request("big-1", prefetch=prefetch_for(resources)))


def _bodies(ok: str = CLOSED) -> dict[str, bytes]:
    cyto = prefetch_for(cytopenic_patient("pt-1"))
    partial = {k: v for k, v in cyto.items() if k != "medicationAdministrations"}
    return {
        "cards": orjson.dumps(hook_request("pt-1", prefetch=cyto)),
        "large": _big(),
        "other-patient": orjson.dumps(hook_request("pt-2", prefetch=cyto)),
        "not-json": b'{"hook": "patient-view", ',
        "wrong-hook": orjson.dumps(hook_request("pt-1", prefetch=cyto) | {"hook": "order-select"}),
        "missing-key-no-server": orjson.dumps(hook_request("pt-1", prefetch=partial)),
        "missing-key-fetch-fails": orjson.dumps(hook_request("pt-1", prefetch=partial, fhirServer=CLOSED)),
        "missing-key-fetched": orjson.dumps(hook_request("pt-1", prefetch=partial, fhirServer=ok)),
        "nothing-prefetched-all-fetched": orjson.dumps(hook_request("pt-1", fhirServer=ok)),
        "server-not-needed": orjson.dumps(hook_request("pt-1", prefetch=cyto, fhirServer=CLOSED)),
        "server-not-allowed": orjson.dumps(hook_request("pt-1", prefetch=cyto, fhirServer="http://192.0.2.1/fhir")),
        "prefetch-not-object": orjson.dumps(hook_request("pt-1") | {"prefetch": 5}),
    }


def _seen(server: Served, body: bytes) -> tuple[int, Any]:
    """Status and body, the server's own base URL (in card links) left out."""
    response = post(server, body)
    return response.status_code, json.loads(response.text.replace(server.url, "BASE"))


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])  # field 19 of stat


def test_the_pool_yields_the_cpu_to_the_event_loops_process(pooled: Served) -> None:
    worker, want = one_pool_pid(pooled), niceness(pooled.process.pid) + ANSWER_NICENESS
    for _ in range(600):  # set by the worker's initializer, once it has imported the service
        if niceness(worker) == want:
            break
        time.sleep(0.1)
    assert niceness(worker) == want


def test_healthz_is_answered_before_the_app_with_the_request_id_echoed(pooled: Served) -> None:
    r = httpx.get(pooled.url + "/healthz", headers={"X-Request-ID": "abcdef0123456789"}, trust_env=False)
    assert (r.status_code, r.json(), r.headers["x-request-id"]) == (200, {"status": "ok"}, "abcdef0123456789")
    head = httpx.head(pooled.url + "/healthz", headers={"X-Request-ID": "not valid!"}, trust_env=False)
    assert head.status_code == 200 and head.content == b"" and len(head.headers["x-request-id"]) == 32
    assert '"route": "/healthz"' not in pooled.log.read_text(), "a probe writes no log line"
    assert httpx.post(pooled.url + "/healthz", trust_env=False).status_code == 405, "only GET and HEAD are probes"


@pytest.mark.parametrize("case", sorted(_bodies()))
def test_a_pooled_call_gets_the_in_thread_answer(case: str, threaded: Served, pooled: Served, hostile: Hostile) -> None:
    body = _bodies(hostile.base("ok"))[case]
    assert _seen(pooled, body) == _seen(threaded, body)
    assert len(pool_pids(pooled)) == 1 and not pool_pids(threaded)


def test_a_full_pool_refuses_and_a_killed_pool_process_costs_only_its_call(threaded: Served, pooled: Served) -> None:
    body = _big()
    worker = one_pool_pid(pooled)
    os.kill(worker, signal.SIGSTOP)  # it takes no call now: whatever reaches the pool stays there
    answers: list[httpx.Response] = []
    done = threading.Condition()

    def call() -> None:
        response = post(pooled, body)
        with done:
            answers.append(response)
            done.notify_all()

    callers = [threading.Thread(target=call) for _ in range(2)]
    try:
        for t in callers:
            t.start()
        with done:  # the pool holds one call (CDS_CYTO_PARSE_QUEUE=1): the other is refused, it cannot finish
            assert done.wait_for(lambda: answers, timeout=120)
        refused = answers[0]
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "busy"
    finally:
        os.kill(worker, signal.SIGKILL)  # the call in the pool loses its process
        for t in callers:
            t.join(timeout=120)
    lost = answers[1]
    assert lost.status_code == 503 and lost.headers["retry-after"] == "1"
    assert lost.headers["content-type"] == "application/fhir+json"
    assert lost.json()["issue"][0]["details"]["coding"][0]["code"] == "worker-lost"
    # The next call gets a new pool, and the answer it always got.
    assert _seen(pooled, body) == _seen(threaded, body)
    one_pool_pid(pooled, not_this=worker)
    log = pooled.log.read_text()
    assert "Traceback" not in log and "answer pool worker lost" in log


def test_a_pooled_call_that_fetches_is_parsed_once_in_the_pool(pooled: Served, hostile: Hostile) -> None:
    """The worker parks the call at its first read; this process fetches and the worker goes on: the data gathered
    and the cards are the pool's (logged `pooled`), and this process never reads the body itself."""
    before = len(pooled.log.read_text().splitlines())
    body = _bodies(hostile.base("ok"))["missing-key-fetched"]
    assert post(pooled, body).status_code == 200
    lines = [json.loads(line) for line in pooled.log.read_text().splitlines()[before:] if line.startswith("{")]
    gathered = [line for line in lines if line["msg"] == "data gathered"]
    cards = [line for line in lines if line["msg"] == "cards"]
    assert [(g["fetched"], g.get("pooled")) for g in gathered] == [(["medicationAdministrations"], True)]
    assert [c.get("pooled") for c in cards] == [True], "answered in the pool, not again in this process"


def _where_answered(server: Served, response: httpx.Response, msg: str = "cards") -> list[bool]:
    """For each `msg` line the call logged: whether it was made in the pool."""
    request_id = response.headers["x-request-id"]
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    return [bool(line.get("pooled")) for line in lines if line["msg"] == msg and line.get("request_id") == request_id]


def test_a_pooled_demo_call_reads_no_medication_from_a_server_it_does_not_have(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Demo mode, a large prefetch whose G-CSF doses reference a Medication it does not include: in-thread the demo
    cohort is no FHIR server, so the drug stays unresolved and the card says so. The pool's stand-in for the cohort
    once also took FHIR queries, and the Medication search it passed on had no server to go to: a 500."""
    resources = [e["resource"] for e in make_patient_bundle(1500, pid="big-1")["entry"]]
    body = orjson.dumps(
        hook_request("big-1", prefetch=prefetch_for(resources + gcsf_by_reference("big-1", range(1, 3))))
    )
    seen = []
    for processes in ("0", "1"):
        env = {"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_DEMO": "true", "CDS_CYTO_AS_OF": AS_OF}
        env |= {"CDS_CYTO_PARSE_PROCESSES": processes, "CDS_CYTO_PARSE_INLINE_MAX_BYTES": "0"}  # alone, yet pooled
        with served(tmp_path_factory.mktemp("demo"), env) as server:
            response = httpx.post(
                server.url + HOOK,
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=120,
                trust_env=False,
            )
            seen.append((response.status_code, json.loads(response.text.replace(server.url, "BASE"))))
            assert _where_answered(server, response) == [processes == "1"]
    assert seen[0] == seen[1]
    assert seen[0][0] == 200 and "medication-unresolved" in json.dumps(seen[0][1])


def test_a_lone_large_call_is_answered_in_thread_and_an_overlapping_one_in_the_pool(
    hybrid: Served, threaded: Served, hostile: Hostile
) -> None:
    big = orjson.loads(_big())
    waiting = orjson.dumps(
        {**big, "prefetch": {k: v for k, v in big["prefetch"].items() if k != "conditions"}}
        | {"fhirServer": hostile.base("hang")}
    )
    assert len(waiting) >= 256 * 1024, "a large call (CDS_CYTO_PARSE_PROCESS_MIN_BYTES's default)"
    held: list[httpx.Response] = []
    first = threading.Thread(target=lambda: held.append(post(hybrid, waiting)))
    first.start()  # alone: answered in-thread, where it waits for a FHIR server that never answers
    try:
        time.sleep(1.5)
        overlapping = post(hybrid, _big())  # one large call is being answered here: this one goes to the pool
    finally:
        first.join(timeout=60)
    alone = post(hybrid, _big())  # nothing else in flight: in-thread again
    expected = _seen(threaded, _big())
    for response in (overlapping, alone):
        assert (response.status_code, json.loads(response.text.replace(hybrid.url, "BASE"))) == expected
    assert held[0].status_code == 412, "the key it needed could not be fetched in time (CDS Hooks: 412)"
    assert _where_answered(hybrid, held[0], "fetch failed") == [False]
    assert _where_answered(hybrid, overlapping) == [True]
    assert _where_answered(hybrid, alone) == [False]


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, hostile: Hostile) -> Iterator[Served]:
    """Two answer processes, every call pooled: a call's steps must all reach the process that parked it."""
    env = _env(
        hostile.base("ok"),
        CDS_CYTO_PARSE_PROCESSES="2",
        CDS_CYTO_PARSE_PROCESS_MIN_BYTES="0",
        CDS_CYTO_PARSE_INLINE_MAX_BYTES="0",
    )
    with served(tmp_path_factory.mktemp("two"), env) as server:
        yield server


def _hits_of(hostile: Hostile, call: Any) -> int:
    before = hostile.hits().get("ok", 0)
    call()
    return hostile.hits().get("ok", 0) - before


def test_with_two_processes_a_fetching_call_resumes_where_it_was_parked(
    two: Served, threaded: Served, hostile: Hostile
) -> None:
    """Eight overlapping calls that fetch, over two processes: each is answered once, in the pool, with the
    in-thread answer, and asks the FHIR server no more than in-thread. A resume that reached the other process found
    nothing parked there, and the call was answered again from its bytes: every request to the server twice."""
    body = _bodies(hostile.base("ok"))["missing-key-fetched"]
    expected = _seen(threaded, body)
    per_call = _hits_of(hostile, lambda: _seen(threaded, body))  # the server's capabilities already known
    assert per_call >= 1
    _seen(two, body)  # and known to this one
    responses: list[httpx.Response] = []

    def calls() -> None:
        threads = [threading.Thread(target=lambda: responses.append(post(two, body))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)

    assert _hits_of(hostile, calls) == 8 * per_call
    assert len(responses) == 8
    for response in responses:
        assert (response.status_code, json.loads(response.text.replace(two.url, "BASE"))) == expected
        assert _where_answered(two, response) == [True]
    assert len(pool_pids(two)) == 2
    log = two.log.read_text()
    assert "lost its parked state" not in log and "Traceback" not in log


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory, hostile: Hostile) -> Iterator[tuple[Served, Served]]:
    """In-thread and all-pooled servers whose FHIR server never answers: a short deadline ends every fetch."""
    base = {"CDS_CYTO_HOOK_DEADLINE_S": "2", "CDS_CYTO_PARSE_PROCESS_MIN_BYTES": "0"}
    in_thread = _env(hostile.base("hang"), CDS_CYTO_PARSE_PROCESSES="0", **base)
    pooled = _env(hostile.base("hang"), CDS_CYTO_PARSE_PROCESSES="1", CDS_CYTO_PARSE_INLINE_MAX_BYTES="0", **base)
    with (
        served(tmp_path_factory.mktemp("stalled-thread"), in_thread) as a,
        served(tmp_path_factory.mktemp("stalled-pool"), pooled) as b,
    ):
        yield a, b


def test_a_pooled_call_whose_fetching_passes_the_deadline_gets_the_in_thread_412(
    stalled: tuple[Served, Served], hostile: Hostile
) -> None:
    """The deadline's error was raised outside the per-read handling in this process: a 500 where in-thread gave
    412. Now the same 412, the same words, and the pool answers the next call."""
    in_thread, pooled = stalled
    body = _bodies(hostile.base("hang"))["missing-key-fetched"]
    expected = _seen(in_thread, body)
    assert expected[0] == 412 and "no complete answer within 1.75 s" in json.dumps(expected[1])
    response = post(pooled, body)
    assert (response.status_code, json.loads(response.text.replace(pooled.url, "BASE"))) == expected
    assert _where_answered(pooled, response, "fetch failed") == [False], "ended here, where the deadline is"
    cards = _bodies()["cards"]
    assert _seen(pooled, cards) == _seen(in_thread, cards)
    log = pooled.log.read_text()
    assert "Traceback" not in log and "unhandled" not in log


def test_a_medication_lookup_that_stalls_leaves_the_drug_unresolved_on_both_paths(
    stalled: tuple[Served, Served], hostile: Hostile
) -> None:
    """Everything prefetched but the Medication the G-CSF doses reference, and a FHIR server that never answers:
    the lookup is ended just before the deadline and the call goes on without it (the card names the drug it could
    not identify), as when the lookup fails outright. It used to take the whole call with it: a 412 in-thread, a
    500 in the pool."""
    in_thread, pooled = stalled
    resources = cytopenic_patient("pt-1") + gcsf_by_reference("pt-1", range(1, 3))
    body = orjson.dumps(hook_request("pt-1", prefetch=prefetch_for(resources), fhirServer=hostile.base("hang")))
    started = time.monotonic()
    expected = _seen(in_thread, body)
    assert time.monotonic() - started < 2 + MARGIN_S, "within the 2 s deadline"
    assert expected[0] == 200 and "medication-unresolved" in json.dumps(expected[1])
    assert _seen(pooled, body) == expected


def test_a_call_parked_in_a_lost_process_gets_503_even_after_the_process_was_replaced(
    stalled: tuple[Served, Served], hostile: Hostile
) -> None:
    """A call waits in the parent (a Medication lookup that stalls) while its process is killed; another call meets
    the loss first and the pool starts a new process. The waiting call's resume must not go to the new process,
    which has nothing parked: it was then answered again here from its bytes, past its deadline, every FHIR request
    sent twice. It gets the 503 worker-lost of every call the lost process held."""
    in_thread, pooled = stalled
    resources = cytopenic_patient("pt-1") + gcsf_by_reference("pt-1", range(1, 3))
    body = orjson.dumps(hook_request("pt-1", prefetch=prefetch_for(resources), fhirServer=hostile.base("hang")))
    _seen(pooled, body)  # the pool process is up
    worker = one_pool_pid(pooled)
    held: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: held.append(post(pooled, body)))
    before = hostile.hits().get("hang", 0)
    waiting.start()
    try:
        time.sleep(0.6)  # parked, its lookup in this process until just before the 2 s deadline
        os.kill(worker, signal.SIGKILL)
        time.sleep(0.3)
        other = post(pooled, _bodies()["cards"])  # meets the loss first
        assert other.status_code == 503
    finally:
        waiting.join(timeout=60)
    assert held[0].status_code == 503, "not answered again from its bytes"
    assert held[0].json()["issue"][0]["details"]["coding"][0]["code"] == "worker-lost"
    assert hostile.hits().get("hang", 0) - before == 1, "the Medication lookup sent once"
    assert _seen(pooled, body) == _seen(in_thread, body), "and the next call is answered as always"
    assert "lost its parked state" not in pooled.log.read_text()
