"""`cds-cyto serve` as a real server process on a free loopback port, and ES384 client tokens an EHR would send.

    with served(tmp_path, env, "--workers", "2") as server:   # waits for /healthz, stops the process tree after
        httpx.get(server.url + "/cds-services", headers=signer.bearer(server.url + "/cds-services"))

Used by the tests and by bench/bench_throughput.py, so both run the service exactly as users do.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

__all__ = ["Served", "Signer", "free_port", "served"]

START_TIMEOUT_S = 90.0  # several workers importing the app on a busy 2-core machine


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Signer:
    """One EHR: an issuer and its P-384 key; `issuers()` is its CDS_CYTO_TRUSTED_ISSUERS entry (key pinned)."""

    iss: str = "https://ehr.example.org"
    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-384", parameters={"kid": "k1"}, private=True))

    def issuers(self) -> str:
        return json.dumps({self.iss: {"jwks": {"keys": [self.key.as_dict(private=False)]}}})

    def token(self, audience: str, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.iss, "sub": "ehr", "aud": audience, "iat": now, "exp": now + 300}
        payload["jti"] = uuid.uuid4().hex
        payload.update(claims)
        return jwt.encode({"alg": "ES384", "kid": "k1", "typ": "JWT"}, payload, self.key, algorithms=["ES384"])

    def bearer(self, audience: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(audience, **claims)}"}


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    workers: int = 1

    def worker_pids(self) -> set[int]:
        """The serving processes: the workers when there are several (uvicorn's parent only supervises), else it.
        (With one, its spawned children are the answer pool's processes and the resource tracker: not workers.)"""
        if self.workers == 1:
            return {self.process.pid}
        return {pid for pid in _children(self.process.pid) if b"spawn_main" in _cmdline(pid)}

    def process_tree(self) -> set[int]:
        """Every process of the server: it, its workers, their answer pools (for CPU accounting)."""
        found, todo = set(), [self.process.pid]
        while todo:
            pid = todo.pop()
            found.add(pid)
            todo.extend(_children(pid) - found)
        return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


@contextmanager
def served(tmp_path: Path, env: dict[str, str], *args: str, port: int | None = None) -> Iterator[Served]:
    """`cds-cyto serve --port P ARGS` with only the CDS_CYTO_* in `env` (and a throwaway SQLite file unless `env`
    names a database); yields once /healthz answers; SIGTERM at the end (uvicorn stops its workers)."""
    port = port or free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
    base["CDS_CYTO_DATABASE_URL"] = f"sqlite:///{tmp_path / f'serve-{port}.sqlite'}"
    base["CDS_CYTO_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    base.update(env)
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cds_cyto", "serve", "--port", str(port), *args],
            env=base,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the workers go with it even if it dies hard
        )
    workers = args[args.index("--workers") + 1] if "--workers" in args else base.get("CDS_CYTO_WORKERS", "1")
    server = Served(process, f"http://127.0.0.1:{port}", log, int(workers))
    try:
        _wait_healthy(server)
        yield server
    finally:
        _stop(process)


def _wait_healthy(server: Served) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"cds-cyto serve exited {server.process.returncode}:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"cds-cyto serve did not answer /healthz:\n{server.log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group (our own process group only)
    process.wait(timeout=10)
