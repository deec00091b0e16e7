"""The image as its Dockerfile defines it (issue 15 items 6 and 7), without Docker: its environment, its default
command and its healthcheck command, each run as the image would run it. The demo runs only when asked; the
healthcheck follows CDS_CYTO_PORT; the documented default CDS_CYTO_TRUSTED_ISSUERS={} is one line, exit 2."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

from cds_cyto.settings import repo_path
from tests.cds.scenario import hook_request
from tests.support.cli import assert_one_line_error, run_cds_cyto
from tests.support.serve import Signer, free_port, served

DOCKERFILE = repo_path("Dockerfile").read_text()
HOOK = "/cds-services/cyto-patient-view"


def _instructions(name: str) -> list[str]:
    """Every such instruction's text, its continuation lines joined."""
    found = re.findall(rf"^{name}\s+((?:.*\\\n)*.*)$", DOCKERFILE, re.MULTILINE)
    assert found, name
    return [text.replace("\\\n", " ") for text in found]


def _instruction(name: str) -> str:
    return _instructions(name)[-1]  # the final stage's: the image's


def _image_env(tmp_path: Path) -> dict[str, str]:
    """The image's ENV, its /app paths mapped onto this checkout and its database onto a throwaway file."""
    env = dict(pair.split("=", 1) for pair in shlex.split(_instruction("ENV")) if pair.startswith("CDS_CYTO_"))
    env = {k: v.replace("/app/", str(repo_path()) + "/") for k, v in env.items()}
    return env | {"CDS_CYTO_DATABASE_URL": f"sqlite:///{tmp_path / 'image.sqlite'}"}


def _default_command() -> list[str]:
    command: list[str] = json.loads(_instruction("CMD"))
    return command


def test_the_default_command_serves_production_not_the_demo() -> None:
    assert _default_command() == ["cds-cyto", "serve"]
    assert "--demo" not in _instruction("CMD")


def test_the_default_command_with_the_documented_default_issuers_is_one_line(tmp_path: Path) -> None:
    env = _image_env(tmp_path) | {"CDS_CYTO_TRUSTED_ISSUERS": "{}"}
    result = run_cds_cyto(tmp_path, *_default_command()[1:], "--check", env=env)
    assert_one_line_error(result, "CDS_CYTO_TRUSTED_ISSUERS")


def _healthcheck(port: int) -> int:
    command = _instruction("HEALTHCHECK").split(" CMD ", 1)[1].strip()
    argv = shlex.split(command)
    assert argv[0] == "python"
    env = {"CDS_CYTO_PORT": str(port), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, *argv[1:]], check=False, env=env, capture_output=True, timeout=30)
    return done.returncode


def test_the_image_serves_no_synthetic_patient_and_its_healthcheck_follows_the_port(tmp_path: Path) -> None:
    signer, port = Signer(), free_port()
    env = _image_env(tmp_path) | {
        "CDS_CYTO_HOST": "127.0.0.1",  # the image's 0.0.0.0 is for a container's own network, not this machine
        "CDS_CYTO_PORT": str(port),
        "CDS_CYTO_TRUSTED_ISSUERS": signer.issuers(),
        "CDS_CYTO_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    assert Path(env["CDS_CYTO_DEMO_DIR"]).is_dir(), "the image ships the cohort: it must not be served"
    with served(tmp_path, env, port=port) as server:
        r = httpx.post(
            server.url + HOOK, json=hook_request(pid="syn-all-0038"), headers=signer.bearer(server.url + HOOK)
        )
        assert r.status_code == 412, r.text
        assert r.json()["resourceType"] == "OperationOutcome"
        assert _healthcheck(port) == 0
        assert _healthcheck(free_port()) != 0, "a healthcheck on another port than CDS_CYTO_PORT must fail"
