"""A throwaway PostgreSQL cluster for the tests, started from the installed binaries.

As root (CI), PostgreSQL refuses to run, so initdb and pg_ctl run as the `postgres` user via
`runuser`, on a data folder under a temporary directory owned by that user. Each test gets a
fresh database of its own. Without the binaries the PostgreSQL tests skip with a loud reason,
unless TXMON_REQUIRE_POSTGRES=1 (set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REQUIRE = os.environ.get("TXMON_REQUIRE_POSTGRES") == "1"


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin, or PATH."""
    for folder in sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    ):
        if os.path.exists(os.path.join(folder, "pg_ctl")):
            return Path(folder)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def unavailable(reason: str) -> None:
    """Skip loudly, or fail when CI requires PostgreSQL."""
    message = f"PostgreSQL tests not run: {reason}"
    if REQUIRE:
        pytest.fail(message + " (TXMON_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(message)


class Cluster:
    """One PostgreSQL server in a temporary folder; `url(db)` gives a connection URL."""

    def __init__(self, binaries: Path, port: int) -> None:
        self.binaries = binaries
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="txmon-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        self.startup_seconds = 0.0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o700)

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.binaries / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )

    def init(self) -> None:
        done = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                         "--no-sync")  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")

    def start(self) -> None:
        """Start and wait until it accepts connections (pg_ctl -w)."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                         "-o", options, "start")  # fmt: skip
        if done.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} {log[-2000:]}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def sql(self, statement: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as conn:
            conn.execute(statement)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(port: int) -> Cluster:
    """A running cluster, or a skip (a failure under TXMON_REQUIRE_POSTGRES=1)."""
    binaries = find_binaries()
    if binaries is None:
        unavailable("no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[dev]')")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("running as root without runuser")
    started = time.monotonic()
    cluster = None
    try:
        cluster = Cluster(binaries, port)
        cluster.init()
        cluster.start()
    except (RuntimeError, LookupError, OSError, subprocess.TimeoutExpired) as exc:
        if cluster is not None:
            shutil.rmtree(cluster.root, ignore_errors=True)
        unavailable(f"cannot start a cluster with {binaries}: {exc}")
    assert cluster is not None
    cluster.startup_seconds = time.monotonic() - started
    return cluster
