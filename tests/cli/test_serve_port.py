"""The port a user picks reaches everything (issue 19 item 5): `make run PORT=…`, the cards' links, and a port in use
stopping the start in one line. Run as users run it: `make` and `cds-cyto` as subprocesses on real sockets."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from tests.cds.scenario import hook_request
from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.serve import free_port, served

REPO = Path(__file__).resolve().parents[2]
HOOK = "/cds-services/cyto-patient-view"
DEMO_PATIENT = "syn-all-0038"  # a demo patient with cards on the demo's data cut


def card_links(url: str) -> list[str]:
    r = httpx.post(url + HOOK, json=hook_request(pid=DEMO_PATIENT), timeout=60, trust_env=False)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    assert cards, "the demo patient has cards"
    # every URL the card carries back to this service: its source (the rule page) and any links
    return [card["source"]["url"] for card in cards] + [link["url"] for card in cards for link in card.get("links", [])]


def test_the_cards_link_to_the_port_served_when_no_public_url_is_set(tmp_path: Path) -> None:
    port = free_port()
    # CDS_CYTO_PORT, not --port: the environment alone must move the links (the README's `CDS_CYTO_PORT=8013`)
    with served(tmp_path, {"CDS_CYTO_PUBLIC_BASE_URL": "", "CDS_CYTO_PORT": str(port)}, "--demo", port=port) as s:
        links = card_links(s.url)
    assert links and all(link.startswith(f"http://127.0.0.1:{port}/") for link in links), links


def test_a_public_url_that_is_set_is_kept(tmp_path: Path) -> None:
    env = {"CDS_CYTO_PUBLIC_BASE_URL": "https://cds.example.org/cyto"}
    with served(tmp_path, env, "--demo") as s:
        links = card_links(s.url)
    assert links and all(link.startswith("https://cds.example.org/cyto/") for link in links), links


def test_a_port_in_use_is_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cds_cyto(tmp_path, "serve", "--demo", "--port", str(port))
    assert_one_line_error(result, f"port {port}", "--port")
    assert "{" not in result.stderr  # no JSON log line before it


@pytest.mark.parametrize("port", ["0", "65536"])
def test_a_port_out_of_range_is_a_configuration_error(port: str, tmp_path: Path) -> None:
    result = run_cds_cyto(tmp_path, "serve", "--check", env={"CDS_CYTO_AUTH": "disabled", "CDS_CYTO_PORT": port})
    assert_one_line_error(result, "configuration", "CDS_CYTO_PORT")


def test_version(tmp_path: Path) -> None:
    result = run_cds_cyto(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cds-cyto ") and result.stdout.split()[1][0].isdigit(), result.stdout


@contextmanager
def make_run(*assignments: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_") and not k.startswith("MAKE")}
    process = subprocess.Popen(
        ["make", "-s", "run", *assignments],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is part of the README's first command")
def test_make_run_port_serves_there_and_links_there() -> None:
    port = free_port()
    with make_run(f"PORT={port}") as process:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "make run exited"
            with suppress(httpx.TransportError):
                if httpx.get(url + "/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("make run PORT=... never answered")
        links = card_links(url)
    assert links and all(link.startswith(f"{url}/") for link in links), links
