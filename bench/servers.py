"""The processes a benchmark measures: the no-op baseline, the seed peer and txmon.

Each is started on a free 127.0.0.1 port, waited for until it answers, and always stopped
(SIGTERM, then SIGKILL); its stderr is kept and scanned for trouble. Also the few questions
every bench script asks a running txmon (stored records, schema version) and where the bench
folder's files are. Imported by the scripts in bench/ as a sibling module (`import servers`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
NOOP_SERVER = BENCH / "noop_server.py"
HOST = "127.0.0.1"
TXMON_POST = "/api/v1/transactions"
PEER_POST = "/receive_transaction"


class BenchError(RuntimeError):
    """The benchmark cannot go on (a tool is missing, a server did not start or misbehaved)."""


# server/**/*.py fingerprint -> the txmon servers started with that code (it should be one).
CODE_SEEN: dict[str, list[str]] = {}


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET on a new connection to 127.0.0.1:`port`: the status and the body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc (0.0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A server process started for one measurement; stopped (SIGTERM, then SIGKILL) on exit."""

    name: str
    argv: list[str]
    port: int
    ready_path: str
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    stderr_path: Path = field(init=False)
    exit_code: int | None = None
    startup_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.stderr_path = self.cwd / f"{self.name}.stderr"

    def start(self, wait: float = 180.0) -> None:
        """Start the process and wait until `ready_path` answers below 500; BenchError if not."""
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        started = time.monotonic()
        deadline = started + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with code {self.proc.returncode} before it answered; "
                    f"stderr:\n{self.stderr_tail()}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = http_get(self.port, self.ready_path, timeout=1.0)
                if status < 500:
                    self.startup_seconds = time.monotonic() - started
                    return
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer on port {self.port} within {wait:.0f} s")

    def cpu(self) -> float:
        """CPU seconds the process has used so far (0.0 before it started)."""
        return cpu_seconds(self.proc.pid) if self.proc else 0.0

    def alive(self) -> bool:
        """Whether the process was started and is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; keeps the exit code. Safe to call twice."""
        if self.proc is None or self.exit_code is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.exit_code = self.proc.returncode

    def stderr_tail(self, lines: int = 20) -> str:
        """The last `lines` lines of its stderr, for an error message."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stderr_problems(self) -> list[str]:
        """Lines on stderr that show something went wrong (tracebacks, 5xx, errors)."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return []
        bad = ("Error", "error", "Exception", '"code":5', '" 500 ', '" 503 ')
        lines = text.splitlines()
        counts: dict[str, int] = {}
        for line in lines:
            # A traceback's last line says what it was; count each distinct one once.
            if any(b in line for b in bad) and not line.startswith(" "):
                counts[line.strip()[:200]] = counts.get(line.strip()[:200], 0) + 1
        tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
        found = [f"{n} x {line}" for line, n in counts.items()]
        if tracebacks:
            found.insert(0, f"{tracebacks} traceback(s) on stderr ({self.stderr_path.name})")
        return found[:20]


@contextlib.contextmanager
def running(server: Server, problems: list[str]) -> Iterator[Server]:
    """Start `server`, yield it, and always stop it; note crashes and stderr trouble."""
    try:
        if server.name.startswith("txmon"):
            CODE_SEEN.setdefault(sources_digest(), []).append(server.name)
        server.start()
        yield server
        if not server.alive():
            problems.append(f"{server.name} died during the run (exit {server.proc.returncode})")
    finally:
        server.stop()
        for line in server.stderr_problems():
            problems.append(f"{server.name} stderr: {line}")
        # SIGTERM is how we stop it: -15 is expected, anything else besides 0 is not.
        if server.exit_code not in (0, -signal.SIGTERM, None):
            problems.append(f"{server.name} exited with code {server.exit_code}")


def txmon_command() -> list[str]:
    """The receiver's command: the venv's `txmon-server` script, else `python -m server`."""
    script = Path(sys.executable).parent / "txmon-server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "server"]


def txmon_server(db: Path, workdir: Path, name: str = "txmon") -> Server:
    """txmon serving `db` on a free port, access log off (it would measure the disk)."""
    port = free_port()
    argv = [
        *txmon_command(),
        "serve",
        "--db",
        str(db),
        "--port",
        str(port),
        "--host",
        HOST,
        "--access-log",
        "off",
    ]
    return Server(name, argv, port, "/healthz", workdir)


def peer_server(peer: Path, workdir: Path) -> Server:
    """The seed peer's app.py on a free port, in a folder of its own so its DB is fresh."""
    cwd = Path(tempfile.mkdtemp(prefix="peer-", dir=workdir))  # fresh DB every run
    port = free_port()
    return Server("seed-peer", [sys.executable, str(peer), str(port)], port, "/api/recent", cwd)


def noop_server(workdir: Path) -> Server:
    """The no-op baseline (noop_server.py) on a free port."""
    port = free_port()
    return Server("noop", [sys.executable, str(NOOP_SERVER), str(port)], port, "/", workdir)


def schema_version(port: int) -> int | None:
    """The schema version txmon's /healthz reports (None if it reports none)."""
    _status, body = http_get(port, "/healthz", timeout=30)
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return int(json.loads(body)["schema_version"])
    return None


def stored_records(port: int) -> int:
    """How many records txmon holds, from /api/v1/summary; BenchError on any answer but 200."""
    status, body = http_get(port, "/api/v1/summary?minutes=1", timeout=30)
    if status != 200:
        raise BenchError(f"GET /api/v1/summary answered {status}: {body[:300]!r}")
    return int(json.loads(body)["records_stored"])


def sources_digest() -> str:
    """A fingerprint of server/**/*.py (the tree may be uncommitted): which code was measured.
    Every package counts, each file by its path under server/, so a moved module changes it."""
    digest = hashlib.sha256()
    root = REPO / "server"
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
