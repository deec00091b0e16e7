"""Type-mutated hook calls over real HTTP to a real `cds-cyto serve` process: the runner shared by the fixed-seed
test (tests/fuzz/test_http_fuzz.py) and the longer run (bench/bench_fuzz.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from tests.fuzz.cases import hook_case

__all__ = ["FuzzTally", "fuzz_hook", "serve_process"]

SERVICE = "/cds-services/cyto-patient-view"


@dataclass
class FuzzTally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)  # (case kind, status) → count
    not_outcome: list[int] = field(default_factory=list)  # seeds whose non-2xx body was no OperationOutcome
    server_errors: list[int] = field(default_factory=list)  # seeds answered 5xx

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve_process(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """`cds-cyto serve` as a subprocess with auth disabled (loopback), as of the scenarios' day 7; its base URL.
    Its stderr goes to `tmp_path/serve.log`."""
    port = _free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
    base_env |= {
        "CDS_CYTO_AUTH": "disabled",
        "CDS_CYTO_PORT": str(port),
        "CDS_CYTO_AS_OF": "2026-03-08",
        "CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp_path / 'fuzz.sqlite'}",
        "CDS_CYTO_DEMO_DIR": str(tmp_path / "no-demo"),
        "CDS_CYTO_LOG_LEVEL": "WARNING",  # tens of thousands of requests: only what goes wrong
    }
    base_env |= env or {}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_cyto", "serve"], env=base_env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"cds-cyto serve exited: {(tmp_path / 'serve.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("cds-cyto serve did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _is_outcome(body: bytes) -> bool:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and parsed.get("resourceType") == "OperationOutcome"


async def fuzz_hook(service: str, fhir_base: str | None, seeds: range, concurrency: int = 8) -> FuzzTally:
    """POST case `seed` (`hook_case`) for every seed, `concurrency` at a time; tally the answers."""
    tally = FuzzTally()
    queue = iter(seeds)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=service, limits=limits, timeout=60) as client:

        async def worker() -> None:
            for seed in queue:
                kind, body = hook_case(seed, fhir_base)
                r = await client.post(SERVICE, content=body, headers={"Content-Type": "application/json"})
                tally.statuses[(kind, r.status_code)] += 1
                if r.status_code >= 500:
                    tally.server_errors.append(seed)
                if r.status_code >= 300 and not _is_outcome(r.content):
                    tally.not_outcome.append(seed)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally
