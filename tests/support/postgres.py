"""Start and stop a throwaway PostgreSQL cluster for the tests, from the Debian ``postgresql`` package's binaries.

    server = start_postgres()          # initdb in a temp dir, pg_ctl start on a free loopback port
    try:
        url = server.create_database("t1")   # postgresql://postgres@127.0.0.1:PORT/t1
    finally:
        server.stop()                  # pg_ctl stop, temp dir removed

The binaries are looked up on PATH, then in /usr/lib/postgresql/<version>/bin (where Debian puts them, off PATH).
``initdb`` refuses to run as root: as root the cluster is created and run by the unprivileged ``postgres`` account
that the package creates (the temp dir is handed to it). Authentication is ``trust`` and the server listens on
127.0.0.1 only, with its unix socket in the temp dir. Pure standard library, like ``tests/support/hapi.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Final

__all__ = ["PostgresServer", "find_bin_dir", "postgres_available", "start_postgres"]

LOOPBACK: Final[str] = "127.0.0.1"
SUPERUSER: Final[str] = "postgres"
START_TIMEOUT_S: Final[float] = 60.0
_SERVICE_ACCOUNT: Final[str] = "postgres"  # created by the Debian package
# Durability is worthless for a throwaway cluster and costs seconds of fsync on a small machine.
_FAST: Final[tuple[str, ...]] = ("-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def _version(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([\d.]+)/bin", path)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (newest Debian version when several are installed)."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        real = Path(on_path).resolve().parent  # Debian's /usr/bin wrappers or symlinks lead to the real directory
        if (real / "pg_ctl").is_file() and (real / "postgres").is_file():
            return real
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(candidates[-1]).parent if candidates else None


def _service_account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SERVICE_ACCOUNT)
    except KeyError:
        return None


def postgres_available() -> tuple[bool, str]:
    """Whether :func:`start_postgres` can work here, and why (not)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return False, "no initdb on PATH or in /usr/lib/postgresql/*/bin (install the Debian package postgresql)"
    if os.geteuid() == 0 and _service_account() is None:
        return False, f"running as root and there is no '{_SERVICE_ACCOUNT}' account to run initdb as"
    return True, f"PostgreSQL binaries in {bin_dir}"


class PostgresServer:
    """A running throwaway cluster."""

    def __init__(self, bin_dir: Path, root: Path, port: int, account: pwd.struct_passwd | None) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root
        self.log_path = root / "server.log"
        self.port = port
        self._account = account
        self._stopped = False
        atexit.register(self.stop)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError("database names here are lower-case identifiers")
        self._sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _sql(self, statement: str) -> None:
        import psycopg  # only needed once a server runs

        with psycopg.connect(host=LOOPBACK, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as c:
            c.execute(statement.encode())

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)

    def stop(self) -> None:
        """Fast shutdown, then the temp dir goes. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            if (self.data_dir / "postmaster.pid").exists():
                _run(
                    [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
                    self._account,
                    check=False,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __repr__(self) -> str:
        return f"PostgresServer(port={self.port}, root={str(self.root)!r})"


def _run(
    command: list[str], account: pwd.struct_passwd | None, *, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None
    if account is not None:
        # Drop to the service account for this command only (initdb and postgres refuse root).
        user, group, extra_groups = account.pw_uid, account.pw_gid, []
        env |= {"HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name}
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=START_TIMEOUT_S + 30,
        check=False,
        cwd="/",
        env=env,
        user=user,
        group=group,
        extra_groups=extra_groups,
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
        raise RuntimeError(f"{Path(command[0]).name} failed with exit code {result.returncode}:\n{output[-3000:]}")
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def start_postgres() -> PostgresServer:
    """initdb a new cluster in a temp dir and start it on a free loopback port; raises RuntimeError on failure."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries not found (install the Debian package postgresql)")
    account = _service_account()
    if os.geteuid() == 0 and account is None:
        raise RuntimeError(f"running as root and there is no '{_SERVICE_ACCOUNT}' account to run initdb as")
    root = Path(tempfile.mkdtemp(prefix="cds-cyto-pg-"))
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            account,
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    log_path = root / "server.log"
    failures: list[str] = []
    for _ in range(3):  # the free port can be taken between finding it and binding it
        port = _free_port()
        options = " ".join(["-p", str(port), "-k", str(root), "-c", f"listen_addresses={LOOPBACK}", *_FAST])
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(log_path)]
        result = _run([*pg_ctl, "-o", options, "-w", "-t", str(int(START_TIMEOUT_S)), "start"], account, check=False)
        if result.returncode == 0 and _answers(port):
            return PostgresServer(bin_dir, root, port, account)
        failures.append(f"port {port}: exit code {result.returncode}")
        _run([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"], account, check=False)
    tail = _tail(log_path)
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start ({'; '.join(failures)}):\n{tail}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


def _answers(port: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
            return True
        time.sleep(0.1)
    return False
