"""Start and stop the real HAPI FHIR JPA test server (``hapi/``) from Python.

The server is a HAPI FHIR 8.8.0 JPA server for FHIR R4 on an in-memory H2 database,
packaged as one runnable jar by the Maven module in ``hapi/``. Every start is a fresh,
empty database; tests should use unique resource ids rather than rely on a reset.

Typical use (a pytest session fixture)::

    server = start_hapi()          # builds the jar if needed, waits for /fhir/metadata
    try:
        ...                        # talk to server.base_url, e.g. http://127.0.0.1:PORT/fhir
    finally:
        server.stop()

Pure standard library on purpose: it must work before any project dependency is usable.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

REPO_ROOT: Final[Path] = Path(__file__).resolve().parents[2]
DEFAULT_JAR: Final[Path] = REPO_ROOT / "hapi" / "target" / "hapi-test-server.jar"
# Run from REPO_ROOT. The only supported build command (see hapi/README.md).
BUILD_COMMAND: Final[tuple[str, ...]] = (
    "mvn",
    "-q",
    "-B",
    "-f",
    "hapi/pom.xml",
    "package",
    "-DskipTests",
)
BUILD_TIMEOUT_S: Final[float] = 1800.0
# Heap and start-up flags: C1-only JIT and the serial collector start faster and keep
# the resident size near 0.6 GB on a 2-core machine. Override with HAPI_JAVA_OPTS.
DEFAULT_JAVA_OPTS: Final[tuple[str, ...]] = (
    "-Xmx1g",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Duser.timezone=UTC",
)
LOOPBACK: Final[str] = "127.0.0.1"
LOG_TAIL_LINES: Final[int] = 40
STOP_GRACE_S: Final[float] = 20.0
_MIN_JAVA: Final[int] = 17

# Requests to the server must never go through an HTTP proxy from the environment.
_OPENER: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HapiServer:
    """A running HAPI FHIR test server process (its own process group)."""

    base_url: str
    port: int
    pid: int
    log_path: Path
    jar: Path

    def __init__(
        self,
        *,
        process: subprocess.Popen[bytes],
        port: int,
        log_path: Path,
        log_file: IO[bytes],
        jar: Path,
    ) -> None:
        self._process = process
        self._log_file = log_file
        self.pid = process.pid
        self.port = port
        self.base_url = f"http://{LOOPBACK}:{port}/fhir"
        self.log_path = log_path
        self.jar = jar
        atexit.register(self.stop)

    def __repr__(self) -> str:
        return f"HapiServer(base_url={self.base_url!r}, pid={self.pid}, log_path={str(self.log_path)!r})"

    def is_running(self) -> bool:
        """True while the server process has not exited."""
        return self._process.poll() is None

    def stop(self) -> None:
        """Terminate the server (SIGTERM to its process group), escalating to SIGKILL.

        Waits until the process is gone. Safe to call more than once.
        """
        atexit.unregister(self.stop)
        try:
            # Signal only while the process is not yet reaped: its PID (= process
            # group id, it is a session leader) cannot have been reused until then.
            if self._process.poll() is None:
                _signal_group(self.pid, signal.SIGTERM)
                try:
                    self._process.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    if self._process.poll() is None:
                        _signal_group(self.pid, signal.SIGKILL)
                    self._process.wait(timeout=STOP_GRACE_S)
        finally:
            if not self._log_file.closed:
                self._log_file.close()

    def _kill(self) -> None:
        """SIGKILL at once (start-up failed: a JVM still refreshing Spring ignores SIGTERM)."""
        atexit.unregister(self.stop)
        try:
            if self._process.poll() is None:
                _signal_group(self.pid, signal.SIGKILL)
            self._process.wait(timeout=STOP_GRACE_S)
        finally:
            if not self._log_file.closed:
                self._log_file.close()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log."""
        return _tail(self.log_path, lines)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def hapi_available() -> tuple[bool, str]:
    """Whether :func:`start_hapi` can work here, and why (not).

    Needs ``java`` (17 or newer) on PATH, and ``mvn`` on PATH unless the default jar
    is already built.
    """
    java = shutil.which("java")
    if java is None:
        return False, "java is not on PATH"
    major = _java_major_version(java)
    if major is not None and major < _MIN_JAVA:
        return False, f"java {major} found at {java}; HAPI FHIR 8 needs Java {_MIN_JAVA}+"
    mvn = shutil.which("mvn")
    if mvn is None and not DEFAULT_JAR.is_file():
        return False, f"mvn is not on PATH and {DEFAULT_JAR} is not built"
    parts = [f"java {major if major is not None else '?'} at {java}"]
    parts.append(f"mvn at {mvn}" if mvn else f"no mvn, but {DEFAULT_JAR.name} is built")
    return True, "; ".join(parts)


def start_hapi(
    jar: Path | None = None,
    port: int | None = None,
    timeout_s: float = 240.0,
) -> HapiServer:
    """Start the HAPI FHIR test server and wait until ``GET {base}/metadata`` answers 200.

    ``jar`` defaults to ``hapi/target/hapi-test-server.jar``, which is (re)built first if
    it is missing or older than the sources under ``hapi/`` (see :func:`ensure_jar`).
    ``port`` defaults to a free loopback port. The server binds to 127.0.0.1; its
    stdout/stderr go to a log file in the system temp dir (``server.log_path``). On
    timeout or early exit the process is killed and RuntimeError is raised with the
    tail of the log.
    """
    if jar is None:
        jar_path = DEFAULT_JAR
        ensure_jar()
    else:
        jar_path = jar.resolve()
        if not jar_path.is_file():
            raise FileNotFoundError(f"HAPI FHIR test server jar not found: {jar_path}")
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java is not on PATH; cannot start the HAPI FHIR test server")

    attempts = 1 if port is not None else 3
    for attempt in range(1, attempts + 1):
        chosen = port if port is not None else _free_port()
        try:
            return _launch(java, jar_path, chosen, timeout_s)
        except _PortInUseError as err:
            if attempt == attempts:
                raise RuntimeError(str(err)) from None
    raise AssertionError("unreachable")  # pragma: no cover


def ensure_jar() -> Path:
    """Build ``hapi/target/hapi-test-server.jar`` if it is missing or out of date.

    Out of date means a file of the Maven module (``hapi/pom.xml``, ``hapi/.mvn``,
    ``hapi/src``) is newer than the jar; without ``mvn`` an existing jar is used as is.
    Concurrent callers (e.g. pytest-xdist workers) build once, under a file lock.
    """
    if not _jar_is_stale(DEFAULT_JAR):
        return DEFAULT_JAR
    if shutil.which("mvn") is None and DEFAULT_JAR.is_file():
        return DEFAULT_JAR
    lock_path = Path(tempfile.gettempdir()) / "cds-cyto-hapi-build.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _jar_is_stale(DEFAULT_JAR):
                build_jar()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if not DEFAULT_JAR.is_file():
        raise RuntimeError(f"{DEFAULT_JAR} does not exist after building hapi/")
    return DEFAULT_JAR


def build_jar() -> None:
    """Build hapi/target/hapi-test-server.jar with the project's Maven command."""
    if shutil.which("mvn") is None:
        raise RuntimeError(f"{DEFAULT_JAR} needs building and mvn is not on PATH")
    try:
        result = subprocess.run(
            BUILD_COMMAND,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"{shlex.join(BUILD_COMMAND)} timed out after {err.timeout} s") from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        tail = "\n".join(output.splitlines()[-LOG_TAIL_LINES:])
        raise RuntimeError(f"{shlex.join(BUILD_COMMAND)} failed with exit code {result.returncode}:\n{tail}")


class _PortInUseError(Exception):
    pass


def _launch(java: str, jar: Path, port: int, timeout_s: float) -> HapiServer:
    fd, log_name = tempfile.mkstemp(prefix=f"hapi-test-server-{port}-", suffix=".log")
    log_path = Path(log_name)
    log_file = os.fdopen(fd, "wb")
    java_opts = shlex.split(os.environ.get("HAPI_JAVA_OPTS", "")) or list(DEFAULT_JAVA_OPTS)
    command = [
        java,
        *java_opts,
        "-jar",
        str(jar),
        f"--server.port={port}",
        f"--server.address={LOOPBACK}",
        # The JVM exits by itself if this Python process dies without calling stop().
        f"--hapi.exit-with-pid={os.getpid()}",
    ]
    try:
        process = subprocess.Popen(
            command,
            cwd=tempfile.gettempdir(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError:
        log_file.close()
        raise
    server = HapiServer(process=process, port=port, log_path=log_path, log_file=log_file, jar=jar)

    metadata_url = f"{server.base_url}/metadata"
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            server._kill()
            tail = _tail(log_path, LOG_TAIL_LINES)
            message = f"HAPI FHIR test server exited with code {code} during start-up (log: {log_path}):\n{tail}"
            if re.search(r"(?i)port \d+ (?:is |was )?already in use|address already in use", tail):
                raise _PortInUseError(message)
            raise RuntimeError(message)
        if _get_status(metadata_url) == 200:
            return server
        if time.monotonic() >= deadline:
            server._kill()
            raise RuntimeError(
                f"HAPI FHIR test server did not answer 200 on {metadata_url} within "
                f"{timeout_s:.0f} s (log: {log_path}):\n{_tail(log_path, LOG_TAIL_LINES)}"
            )
        time.sleep(0.5)


def _get_status(url: str) -> int | None:
    request = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
    try:
        with _OPENER.open(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


def _jar_is_stale(jar: Path) -> bool:
    if not jar.is_file():
        return True
    built = jar.stat().st_mtime
    module = REPO_ROOT / "hapi"
    inputs = [module / "pom.xml"]
    for sub in ("src", ".mvn"):
        inputs.extend(p for p in (module / sub).rglob("*") if p.is_file())
    return any(p.stat().st_mtime > built for p in inputs if p.exists())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as handle:
            last = deque(handle, maxlen=lines)
    except OSError as err:
        return f"<could not read {path}: {err}>"
    text = b"".join(last).decode("utf-8", "replace").rstrip("\n")
    return text if text else "<the log is empty>"


def _java_major_version(java: str) -> int | None:
    try:
        result = subprocess.run(
            [java, "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(rb'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:  # "1.8.0_x" style
        major = int(match.group(2))
    return major
