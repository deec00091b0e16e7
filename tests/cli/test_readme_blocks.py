"""The README's shell blocks, run in order as a new user pastes them: in a copy of the repository, against a fresh
HAPI sandbox (`make hapi-up`) and a temp store.

Every ```sh and ```console block is read from the README. A `console` block's `$ ` lines are commands and the lines
after each are its output, compared exactly; every `sh` line must exit 0. What differs from a user's shell, and why:

- ports: the sandbox's 8080 and the service's 8000 become free ports (another server may hold them here);
- `/tmp/` paths become the test's own folder;
- `HAPI_WAIT_S` is raised (the documented setting of `make hapi-up`): the suite loads the machine;
- `make test` is not run: it is the command running this test;
- `make run` and `cds-cyto serve` stay up in the background (a user's terminal would block on them) until the next
  server starts or the blocks end; the next command waits until the server answers `/healthz`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.hapi

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
NOT_RUN = ("make test",)  # the command that runs this test
SERVERS = ("make run", "cds-cyto serve")  # long-running: started in the background


@dataclass(frozen=True)
class Command:
    line: int  # where it is in the README
    text: str
    expected: str | None  # a console block's output, else None


def readme_commands(readme: str) -> list[Command]:
    commands: list[Command] = []
    for match in FENCE.finditer(readme):
        kind, body = match.group(1), match.group(2)
        first = readme.count("\n", 0, match.start(2)) + 1
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            raw = lines[i]
            start = i
            if kind == "console" and not raw.startswith("$ "):
                i += 1
                continue
            text = raw[2:] if kind == "console" else raw
            while (text.endswith("\\") or not _complete(text)) and i + 1 < len(lines):
                i += 1
                text += "\n" + lines[i]  # bash reads backslash-newline and a quote's newline as the user's shell
            i += 1
            expected = None
            if kind == "console":
                out = []
                while i < len(lines) and not lines[i].startswith("$ "):
                    out.append(lines[i])
                    i += 1
                expected = "\n".join(out)
            if text.strip():
                commands.append(Command(first + start, text, expected))
    return commands


def _complete(text: str) -> bool:
    """Whether a command is whole: a quoted string may run over several lines (the curl example's JSON body)."""
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _copy_repository(to: Path) -> None:
    """The tracked files (mtimes kept, so make does not rebuild the HAPI jar), the installed .venv and the built
    test server linked in: what a user has after `git clone` and the first `make`."""
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    )
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            target = to / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (to / ".venv").symlink_to(ROOT / ".venv")
    (to / "hapi" / "target").symlink_to(ROOT / "hapi" / "target")


class Shell:
    """Runs the README's commands in the copy, with the substitutions of the module docstring."""

    def __init__(self, repo: Path, scratch: Path) -> None:
        self.repo = repo
        self.scratch = scratch
        self.hapi_port = _free_port()
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_CYTO_")}
        self.env["PATH"] = f"{repo / '.venv' / 'bin'}:{self.env.get('PATH', '')}"
        self.env["CDS_CYTO_DATABASE_URL"] = f"sqlite:///{scratch / 'readme.sqlite'}"
        self.env["HAPI_WAIT_S"] = "900"  # a machine running the rest of the suite starts the JVM slowly
        self.env["PYTHONPATH"] = str(repo)
        self.server: subprocess.Popen[bytes] | None = None
        self.server_log = scratch / "server.log"

    def adapt(self, text: str) -> str:
        text = text.replace("127.0.0.1:8080", f"127.0.0.1:{self.hapi_port}")
        text = re.sub(r"\bmake hapi-up\b", f"make hapi-up HAPI_PORT={self.hapi_port}", text)
        text = text.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        text = re.sub(r"\bmake run\b", f"make run PORT={self.port}", text)
        text = re.sub(r"\bcds-cyto serve\s*$", f"cds-cyto serve --port {self.port}", text)
        return text.replace("/tmp/", f"{self.scratch}/")

    def run(self, text: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """stdout and stderr as one stream, in the order a terminal shows them."""
        return subprocess.run(
            ["bash", "-c", text],
            cwd=self.repo,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_server(self, text: str) -> None:
        self.stop_server()
        with self.server_log.open("ab") as log:  # the child keeps its own descriptor
            self.server = subprocess.Popen(
                ["bash", "-c", text], cwd=self.repo, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise AssertionError(f"{text!r} exited {self.server.returncode}: {self.server_log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{text!r} did not answer /healthz: {self.server_log.read_text()[-2000:]}")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        self.server = None


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    repo = tmp_path / "repo"
    _copy_repository(repo)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sh = Shell(repo, scratch)
    try:
        yield sh
    finally:
        sh.stop_server()
        sh.run(f"make hapi-down HAPI_PORT={sh.hapi_port}", timeout=120)


def test_the_readme_has_the_blocks_a_new_user_pastes() -> None:
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    texts = [c.text for c in commands]
    assert [t.split("#")[0].strip() for t in texts[:2]] == ["make run", "make test"], texts[:2]
    assert any("make hapi-up" in t for t in texts) and any("fixtures load" in t for t in texts)
    assert any(c.expected for c in commands), "the console block with its output"


def test_the_readme_shell_blocks_run_in_order(shell: Shell) -> None:
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    ran = 0
    for command in commands:
        bare = command.text.split("#")[0].strip()
        if bare in NOT_RUN:
            continue
        text = shell.adapt(command.text)
        if any(re.search(rf"(^|\s){re.escape(s)}(\s|$)", bare.splitlines()[-1].strip() + " ") for s in SERVERS) and (
            "--check" not in bare
        ):
            shell.start_server(text)
            ran += 1
            continue
        done = shell.run(text, timeout=1800)  # loading the cohort on a busy 2-core machine
        ran += 1
        where = f"README line {command.line}: {command.text!r}"
        if command.expected is not None:
            assert done.stdout.rstrip("\n") == command.expected.rstrip("\n"), f"{where} printed\n{done.stdout}"
            continue
        assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout[-3000:]}"
        if bare.startswith("curl"):
            assert isinstance(json.loads(done.stdout), dict), f"{where}: {done.stdout[:500]}"
    assert ran >= 12, ran
