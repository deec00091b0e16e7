"""A real `cds-cyto serve` (auth required, limits from the environment) against a hostile FHIR server: every call
ends within its deadline with a clear OperationOutcome, memory stays bounded by the limits, and `/healthz` keeps
answering throughout (issue 15 items 1, 4 and the half-open request of item 8).

The numbers asserted are functional bounds with a generous margin on a shared machine, not speed targets: a call
that ends, memory that does not grow with what the server sends, a `/healthz` that is never stalled (a stall is
what the event loop parsing a 300 MB body did: tens of seconds). The speed goal, `/healthz` under 100 ms in every
scenario, is measured by bench/bench_hostile.py, never asserted here.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time

import pytest

from tests.hostile.conftest import (
    DEADLINE_S,
    HOOK,
    ISS_NO_LIST,
    LIMITS,
    MARGIN_S,
    MIB,
    READ_TIMEOUT_S,
    Hostile,
    Service,
    hook_body,
)
from tests.hostile.hostile_fhir import EVIL_TEXT

# behaviour → words the OperationOutcome must hold (our words: which limit or fault, never the server's)
HOSTILE = {
    "huge": "more than 16777216 bytes",
    "many": "more than 5000 entries",
    "pages": "more than 5 pages",
    "budget": "together pass 25165824 bytes",
    "trickle": "hook call (deadline 4 s): no complete answer within",
    "hang": "hook call (deadline 4 s): no complete answer within",
    "types": "not",  # "not a JSON object" / "Bundle.entry is not a list"
    "loop": "HTTP 302",
    "away": "HTTP 302",
    "evil": "HTTP 400",
    # Compressed bombs stop at the limit on decoded bytes, in pieces of 64 KiB, not a whole inflated chunk at once.
    "gzip": "more than 16777216 bytes",
    "deflate": "more than 16777216 bytes",
    "gzip2": "more than one Content-Encoding",  # refused before a byte is inflated
    "brotli": "Content-Encoding 'br'",
    # Headers that never end: the call's deadline, or h11's bound on a head (then a protocol error, retried once).
    "headers": "hook call (deadline 4 s): no complete answer within",
    "flood": "the server broke the connection",
}


@pytest.mark.parametrize("mode", list(HOSTILE))
def test_a_hostile_server_gets_a_clear_412_within_the_deadline(service: Service, hostile: Hostile, mode: str) -> None:
    r, took = service.call(hook_body(hostile.base(mode)))
    assert took < DEADLINE_S + MARGIN_S, (mode, took)
    assert r.status_code == 412, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert HOSTILE[mode] in outcome["issue"][0]["diagnostics"], outcome
    assert EVIL_TEXT not in r.text and "EVIL" not in r.text  # the upstream's words are never reflected


def test_a_redirect_to_another_origin_is_never_followed(service: Service, hostile: Hostile) -> None:
    before = hostile.hits().get("ok", 0)
    r, _ = service.call(hook_body(hostile.base("away")))
    assert r.status_code == 412
    assert hostile.hits().get("ok", 0) == before  # the token never went to the other origin


def test_calls_hanging_on_one_server_do_not_hold_a_call_to_another(service: Service, hostile: Hostile) -> None:
    """Five calls hang on one origin (4 connections each, CDS_CYTO_FHIR_POOL_CONNECTIONS=4): a call to a healthy
    origin meanwhile gets its cards. With one shared pool it waited for a connection and failed with 412."""
    results: list[tuple[int, float]] = []

    def hang() -> None:
        r, took = service.call(hook_body(hostile.base("hang")))
        results.append((r.status_code, took))

    threads = [threading.Thread(target=hang) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # let them take the slow origin's connections
    healthy, _ = service.call(hook_body(hostile.base("ok", 1)))
    still_hanging = sum(t.is_alive() for t in threads)
    for t in threads:
        t.join()
    assert healthy.status_code == 200, healthy.text
    assert still_hanging > 0  # it was answered while the slow server still held the others
    assert [status for status, _ in results] == [412] * 5
    assert max(took for _, took in results) < DEADLINE_S + MARGIN_S


def test_a_fhir_server_the_issuer_does_not_list_is_refused_without_a_call(service: Service, hostile: Hostile) -> None:
    before = sum(hostile.hits().values())
    unlisted = f"http://localhost:{hostile.ports[0]}/ok"  # the very server, under a name the issuer did not list
    r, _ = service.call(hook_body(unlisted))
    assert r.status_code == 403, r.text
    assert r.json()["issue"][0]["expression"] == ["fhirServer"]
    assert sum(hostile.hits().values()) == before + 1  # only our own /_hits request: no outbound call


def test_an_issuer_without_fhir_base_urls_gets_no_fetching(service: Service, hostile: Hostile) -> None:
    before = hostile.hits().get("ok", 0)
    r, _ = service.call(hook_body(hostile.base("ok", 1)), iss=ISS_NO_LIST)
    assert r.status_code == 412
    assert "no FHIR base URLs are configured for this issuer" in r.json()["issue"][0]["diagnostics"]
    assert hostile.hits().get("ok", 0) == before


def _raw(service: Service, head: str) -> socket.socket:
    host, port = service.base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head.encode())
    return sock


def _status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data else 0


def _head(service: Service, extra: str) -> str:
    token = service.token(HOOK)
    return (
        f"POST {HOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    )


def test_a_chunked_body_is_refused_as_it_passes_the_limit(service: Service) -> None:
    """400 MB offered in chunks: the 413 comes while we are still sending, long before 400 MB."""
    limit = int(LIMITS["CDS_CYTO_MAX_REQUEST_BYTES"])
    sock = _raw(service, _head(service, "Transfer-Encoding: chunked\r\n"))
    chunk = b"%x\r\n%s\r\n" % (MIB, b" " * MIB)
    sent = 0
    sock.settimeout(0.05)
    status = 0
    try:
        while sent < 400 * MIB:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += MIB
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                pass
        sock.settimeout(30)
        status = _status(sock)
    finally:
        sock.close()
    assert status == 413
    assert sent < 40 * limit  # refused as it passed, not after reading all


def test_an_announced_oversized_body_is_refused_unread(service: Service) -> None:
    sock = _raw(service, _head(service, f"Content-Length: {400 * MIB}\r\n"))
    try:
        assert _status(sock) == 413
    finally:
        sock.close()


def test_a_half_open_request_gets_408_within_the_read_timeout(service: Service) -> None:
    sock = _raw(service, _head(service, "Content-Length: 1000\r\n") + '{"hook": "pat')
    started = time.monotonic()
    try:
        status = _status(sock)
    finally:
        sock.close()
    assert status == 408
    assert time.monotonic() - started < READ_TIMEOUT_S + MARGIN_S


def _trickle_head(sock: socket.socket, first: bytes) -> int:
    """Send `first`, then one header line each 0.5 s for up to 30 s; the status that came back (0: none)."""
    sock.sendall(first)
    sock.settimeout(0.5)
    for i in range(60):
        try:
            sock.sendall(b"X-Trickle-%d: y\r\n" % i)
        except OSError:
            return 0
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        return int(data.split(b" ", 2)[1]) if data else 0
    return 0


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    length = [line.split(b":", 1)[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    return len(body) >= int(length[0]) if length else True


def test_a_request_head_that_trickles_gets_408_and_is_closed(service: Service) -> None:
    """Slowloris: a head sent one line at a time was held for ever (the read timeout covered bodies only)."""
    host, port = service.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        assert _trickle_head(sock, b"GET /cds-services HTTP/1.1\r\nHost: x\r\n") == 408
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        # the next request's head on the kept-alive connection is bounded alike
        assert _trickle_head(sock, b"GET /healthz HTTP/1.1\r\n") == 408


def test_a_connection_that_sends_nothing_is_closed(service: Service) -> None:
    host, port = service.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        assert sock.recv(4096) == b""  # closed by the server, no answer: there was no request


# Longer than any /healthz answer when the loop is free, far shorter than the stalls the limits removed; not 100 ms.
STALLED_MS = 1000.0


def test_memory_and_health_stayed_bounded_throughout(service: Service) -> None:
    """Runs last: over every call above, RSS growth stayed within the limits and /healthz was never stalled."""
    growth = service.peak_rss - service.baseline_rss
    bound = 4 * int(LIMITS["CDS_CYTO_HOOK_MAX_FETCH_BYTES"]) + 150 * MIB
    times = sorted(service.health_ms)
    p99 = times[int(len(times) * 0.99) - 1] if times else float("nan")
    print(
        f"\nhostile suite: RSS growth {growth / MIB:.0f} MiB (bound {bound / MIB:.0f} MiB); /healthz polls "
        f"{len(times)}, median {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, max {max(times):.1f} ms, "
        f"failures {service.health_failures}"
    )
    assert growth < bound
    assert service.health_failures == 0
    assert max(times) < STALLED_MS, "the event loop was held: something ran on it that should not"


@pytest.mark.parametrize("pid", ["..", "."])
def test_a_dot_only_patient_id_is_a_400_before_any_call(service: Service, hostile: Hostile, pid: str) -> None:
    """FHIR's id rule allows "..", but "Patient/.." is a dot segment, not a patient: refused, never a 500."""
    before = sum(hostile.hits().values())
    r, _ = service.call(hook_body(hostile.base("ok"), pid=pid))
    assert r.status_code == 400, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "patientId" in r.text
    assert sum(hostile.hits().values()) == before + 1  # only our own /_hits request: no outbound call
