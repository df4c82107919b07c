"""Fixtures that start real receivers on free loopback ports."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.api.server import TxmonHTTPServer
from server.config import Config
from server.core.receiver import Receiver

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, every: float = 0.02) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


# --- the two stores ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (tests/pg.py); skips without one."""
    from tests.pg import start_cluster

    cluster = start_cluster(free_port())
    yield cluster
    cluster.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store a test runs on: a fresh SQLite file, then a fresh PostgreSQL database.

    Every test that takes it (the store suite) runs once on each store."""
    if request.param == "sqlite":
        return str(tmp_path / "txmon.db")
    return request.getfixturevalue("pg_cluster").create_database()


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """A fresh PostgreSQL database, for tests of what only PostgreSQL does."""
    return pg_cluster.create_database()


@dataclass
class Live:
    """A receiver running in this process, on its own thread."""

    url: str
    receiver: Receiver
    server: TxmonHTTPServer
    client: httpx.Client
    config: Config


@pytest.fixture
def make_receiver(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    started: list[tuple[Live, threading.Thread]] = []

    def start(**settings: Any) -> Live:
        config = replace(
            Config(db=str(tmp_path / "txmon.db"), port=0, access_log="off"), **settings
        )
        receiver = Receiver(config)
        server = TxmonHTTPServer(config, receiver)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        live = Live(
            server.url,
            receiver,
            server,
            httpx.Client(base_url=server.url, headers=headers, timeout=30),
            config,
        )
        started.append((live, thread))
        return live

    yield start
    for live, thread in started:
        live.client.close()
        live.server.shutdown()
        live.server.server_close()
        thread.join(5)
        live.server.wait_idle(5)
        live.receiver.close()


@pytest.fixture
def live(make_receiver: Callable[..., Live]) -> Live:
    return make_receiver()


def _limit_open_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


class ServerProcess:
    """`txmon-server serve` in a subprocess, for restarts, signals and kill -9."""

    def __init__(
        self,
        db: Path,
        *args: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        open_files: int | None = None,
    ) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--db",
                str(db),
                "--port",
                str(self.port),
                *args,
            ],
            cwd=REPO,
            env=full_env,
            preexec_fn=None if open_files is None else lambda: _limit_open_files(open_files),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until(self._healthy, timeout=20)

    @property
    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used (from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited early: {self.proc.stderr.read()}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 15) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    procs: list[ServerProcess] = []

    def start(
        *args: str,
        db: Path | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        open_files: int | None = None,
    ) -> ServerProcess:
        proc = ServerProcess(
            db or tmp_path / "txmon.db", *args, env=env, port=port, open_files=open_files
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.proc.poll() is None:
            proc.kill()


@pytest.fixture
def store_tx(store_url: str) -> Iterator[Callable[[], Any]]:
    """Transactions on a fresh migrated store (each store in turn), on a connection of their
    own as the lease and the detector use them."""
    from server import store
    from server.config.location import resolve
    from server.store.session import Session

    location = resolve(store_url, store_url)
    conn = store.open_store(location)
    store.migrate(conn)
    conn.close()
    session = Session(location)
    yield session.transaction
    session.close()
