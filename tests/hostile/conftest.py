"""The hostile-FHIR suite's real parts: the hostile server and `cds-cyto serve`, each a subprocess on loopback
sockets, a signed ES384 token per request, and a thread polling `/healthz` and the service's RSS throughout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_cyto.settings import repo_path

ISS = "https://ehr.example.org"  # its fhir_base_urls: both hostile ports
ISS_NO_LIST = "https://other-ehr.example.org"  # no fhir_base_urls: prefetch only
KEY = ECKey.generate_key("P-384", parameters={"kid": "hostile-key"}, private=True)

# The limits under test, set as a site sets them: environment variables of the real entry point.
MIB = 1024 * 1024
LIMITS = {
    "CDS_CYTO_FHIR_MAX_RESPONSE_BYTES": str(16 * MIB),
    "CDS_CYTO_HOOK_MAX_FETCH_BYTES": str(24 * MIB),
    "CDS_CYTO_FHIR_MAX_PAGE_ENTRIES": "5000",
    "CDS_CYTO_FHIR_MAX_PAGES": "5",
    "CDS_CYTO_HOOK_DEADLINE_S": "4",
    "CDS_CYTO_FETCH_TIMEOUT_S": "30",  # longer than the deadline: the deadline is what must bound a call
    "CDS_CYTO_FHIR_POOL_CONNECTIONS": "4",
    "CDS_CYTO_FHIR_POOL_ORIGINS": "8",
    "CDS_CYTO_MAX_REQUEST_BYTES": str(8 * MIB),
    "CDS_CYTO_REQUEST_READ_TIMEOUT_S": "2",
}
DEADLINE_S = float(LIMITS["CDS_CYTO_HOOK_DEADLINE_S"])
READ_TIMEOUT_S = float(LIMITS["CDS_CYTO_REQUEST_READ_TIMEOUT_S"])
MARGIN_S = 3.0  # the acceptance bound's slack on a shared machine, not a speed target
HOOK = "/cds-services/cyto-patient-view"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def vm_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Hostile:
    ports: tuple[int, int]

    def base(self, mode: str, port_index: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[port_index]}/{mode}"

    def hits(self) -> dict[str, int]:
        answer: dict[str, int] = httpx.get(f"http://127.0.0.1:{self.ports[1]}/_hits", timeout=5).json()
        return answer


@dataclass
class Service:
    base: str
    pid: int
    baseline_rss: int = 0
    health_ms: list[float] = field(default_factory=list)
    health_failures: int = 0
    peak_rss: int = 0

    def token(self, path: str, iss: str = ISS) -> str:
        now = int(time.time())
        claims = {"iss": iss, "sub": "ehr", "aud": self.base + path, "exp": now + 300, "iat": now}
        claims["jti"] = str(uuid.uuid4())
        return jwt.encode({"alg": "ES384", "kid": "hostile-key", "typ": "JWT"}, claims, KEY, algorithms=["ES384"])

    def call(self, body: dict[str, Any] | bytes, iss: str = ISS, timeout: float = 60.0) -> tuple[httpx.Response, float]:
        """POST a hook call (a body, or its bytes) with a fresh token; (response, seconds it took)."""
        started = time.monotonic()
        r = httpx.post(
            self.base + HOOK,
            content=body if isinstance(body, bytes) else json.dumps(body),
            headers={"Authorization": f"Bearer {self.token(HOOK, iss)}", "Content-Type": "application/json"},
            timeout=timeout,
        )
        return r, time.monotonic() - started


def hook_body(fhir_server: str | None, pid: str = "pt-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": pid},
        **extra,
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    return body


@contextmanager
def running_hostile() -> Iterator[Hostile]:
    """The hostile server as a subprocess (its CPU is not the service's), stopped on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hostile.hostile_fhir"], cwd=repo_path(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first, second = (int(p) for p in proc.stdout.readline().split())
        yield Hostile((first, second))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()  # or it is closed by the garbage collector, a ResourceWarning in some later test


@contextmanager
def running_service(hostile: Hostile, workdir: Path, poll_s: float = 0.02) -> Iterator[Service]:
    """`cds-cyto serve` as a subprocess with auth required and LIMITS, `/healthz` and RSS polled every `poll_s`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    public = KEY.as_dict(private=False)
    issuers = {
        ISS: {"jwks": {"keys": [public]}, "fhir_base_urls": [f"http://127.0.0.1:{p}" for p in hostile.ports]},
        ISS_NO_LIST: {"jwks": {"keys": [public]}},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
    env |= {
        "CDS_CYTO_AUTH": "required",
        "CDS_CYTO_TRUSTED_ISSUERS": json.dumps(issuers),
        "CDS_CYTO_PUBLIC_BASE_URL": base,
        "CDS_CYTO_PORT": str(port),
        "CDS_CYTO_DATABASE_URL": f"sqlite:///{workdir / 'h.sqlite'}",
        "CDS_CYTO_LOG_LEVEL": "WARNING",
        **LIMITS,
    }
    proc = subprocess.Popen([sys.executable, "-m", "cds_cyto", "serve"], env=env, cwd=repo_path())
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("cds-cyto serve did not start")
        svc = Service(base, proc.pid)
        svc.call(hook_body(hostile.base("ok", 1)))  # warm: imports and first-call caches are not growth
        svc.baseline_rss = svc.peak_rss = vm_rss_bytes(proc.pid)
        stop = threading.Event()
        poller = threading.Thread(target=_poll, args=(svc, stop, poll_s), daemon=True)
        poller.start()
        try:
            yield svc
        finally:
            stop.set()
            poller.join(timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="package")
def hostile() -> Iterator[Hostile]:
    with running_hostile() as server:
        yield server


@pytest.fixture(scope="package")
def service(hostile: Hostile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(hostile, tmp_path_factory.mktemp("hostile")) as svc:
        yield svc


def _poll(svc: Service, stop: threading.Event, every_s: float) -> None:
    """/healthz every `every_s` over one kept-alive connection, and the service's RSS, until told to stop."""
    with httpx.Client(base_url=svc.base, timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                ok = client.get("/healthz").status_code == 200
            except httpx.HTTPError:
                ok = False
            svc.health_ms.append((time.perf_counter() - started) * 1000)
            svc.health_failures += not ok
            svc.peak_rss = max(svc.peak_rss, vm_rss_bytes(svc.pid))
            stop.wait(every_s)
