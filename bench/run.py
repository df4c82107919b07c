"""txmon benchmark: ingest and read throughput against the seed peer and a no-op baseline.

Run as `make bench` (or `.venv/bin/python bench/run.py [--records N] [--quick]`). In one run:

1. single-record POSTs with wrk (1 thread, 8 keep-alive connections) against a no-op stdlib
   server, the seed Flask peer and txmon, each on a fresh database;
2. 1,000-record JSON batch POSTs with wrk (4 connections) against txmon and the no-op server;
3. reads (`/api/v1/series`, `/api/v1/summary`) on a database of 1,000 records and on one of
   `--records` records (default 10,000,000, filled over HTTP and cached under bench/results/).

Prints a table and writes bench/results/latest.json. Traffic goes to 127.0.0.1 only; every
server started here is stopped before the run ends. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import queue
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
WRK_LUA = BENCH / "wrk.lua"
NOOP_SERVER = BENCH / "noop_server.py"
DEFAULT_PEER = REPO.parent / "shared" / "peers" / "seed_flask" / "app.py"
HOST = "127.0.0.1"
TXMON_POST = "/api/v1/transactions"
PEER_POST = "/receive_transaction"

# Seven statuses for the filled databases; the first four are the ones the seed peer knows.
STATUSES = ("approved", "denied", "failed", "reversed", "refunded", "pending", "chargeback")
BASE_COUNT = {
    "approved": 180,
    "denied": 25,
    "failed": 12,
    "reversed": 4,
    "refunded": 3,
    "pending": 9,
    "chargeback": 1,
}
FILL_BATCH = 10_000  # the receiver's per-POST limit
POST_BATCH = 1_000  # the batch size the throughput test uses
BATCH_CONNECTIONS = 4
CACHE_FROM = 1_000_000  # read DBs this large are kept in bench/results/ between runs

# Acceptance targets.
MIN_SINGLE_RATIO = 10.0
MAX_SINGLE_P99_MS = 10.0
MIN_BATCH_RECORDS_PER_S = 100_000
MAX_READ_P95_MS = 10.0


class BenchError(RuntimeError):
    """The benchmark cannot go on (a tool is missing, a server did not start or misbehaved)."""


# --- servers ---------------------------------------------------------------------------------


# server/*.py fingerprint -> the txmon servers started with that code (it should be one).
CODE_SEEN: dict[str, list[str]] = {}


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
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
        return cpu_seconds(self.proc.pid) if self.proc else 0.0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
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
    script = Path(sys.executable).parent / "txmon-server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "server"]


def txmon_server(db: Path, workdir: Path, name: str = "txmon") -> Server:
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
    cwd = Path(tempfile.mkdtemp(prefix="peer-", dir=workdir))  # fresh DB every run
    port = free_port()
    return Server("seed-peer", [sys.executable, str(peer), str(port)], port, "/api/recent", cwd)


def noop_server(workdir: Path) -> Server:
    port = free_port()
    return Server("noop", [sys.executable, str(NOOP_SERVER), str(port)], port, "/", workdir)


# --- wrk -------------------------------------------------------------------------------------


def run_wrk(
    url: str,
    *,
    mode: str,
    connections: int,
    seconds: float,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One wrk run (1 thread); returns the figures wrk.lua's done() prints, plus rates."""
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(WRK_LUA),
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        argv,
        env={**os.environ, "BENCH_MODE": mode, **(env or {})},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")]
    if done.returncode != 0 or not lines:
        raise BenchError(
            f"wrk failed (exit {done.returncode}): {' '.join(argv)}\n{done.stdout}{done.stderr}"
        )
    result: dict[str, Any] = json.loads(lines[-1].split(" ", 1)[1])
    seconds_run = result["duration_us"] / 1e6
    ok = result["requests"] - result["non2xx"]
    result["seconds"] = round(seconds_run, 3)
    result["rps"] = round(result["requests"] / seconds_run, 1)
    result["rps_2xx"] = round(ok / seconds_run, 1)
    result["wrk_cpu_s"] = round(
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2
    )
    result["command"] = " ".join(argv)
    return result


def measure(
    server: Server,
    path: str,
    *,
    mode: str,
    connections: int,
    warmup: float,
    seconds: float,
    env: dict[str, str] | None = None,
    per_request: int = 0,
) -> dict[str, Any]:
    """Warm up, then measure; adds the server's CPU use during the measured part. POSTed
    records carry on in time after the warm-up's (`per_request` records per request)."""
    url = f"http://{HOST}:{server.port}{path}"
    env = {**(env or {}), "BENCH_FIRST": "0"}
    warm_ok = 0
    if warmup > 0:
        warm = run_wrk(url, mode=mode, connections=connections, seconds=warmup, env=env)
        warm_ok = warm["requests"] - warm["non2xx"]
        # Requests in flight when wrk stopped were sent but not counted: skip past them.
        env["BENCH_FIRST"] = str((warm["requests"] + connections) * per_request)
    cpu_before = server.cpu()
    result = run_wrk(url, mode=mode, connections=connections, seconds=seconds, env=env)
    result["warmup_2xx"] = warm_ok
    result["server_cpu_pct"] = round(100 * (server.cpu() - cpu_before) / result["seconds"], 1)
    return result


# --- record generation and the fill ----------------------------------------------------------


def record_rows(start: int, stop: int, first_minute: int) -> list[tuple[str, str, int]]:
    """Records number start..stop-1: record i is status i % 7 at minute i // 7 from
    `first_minute`, with a deterministic count around that status's usual level."""
    rows: list[tuple[str, str, int]] = []
    stamp_minute, stamp = -1, ""
    for i in range(start, stop):
        minute = first_minute + (i // len(STATUSES)) * 60
        if minute != stamp_minute:
            stamp_minute = minute
            stamp = time.strftime("%Y-%m-%d %H:%M:00", time.gmtime(minute))
        status = STATUSES[i % len(STATUSES)]
        usual = BASE_COUNT[status]  # the same formula as bench/wrk.lua's record()
        rows.append((stamp, status, usual + (i * 7919) % (usual // 2 + 2) - usual // 4))
    return rows


def json_body(rows: list[tuple[str, str, int]]) -> bytes:
    parts = [f'{{"timestamp":"{t}","status":"{s}","count":{c}}}' for t, s, c in rows]
    return ("[" + ",".join(parts) + "]").encode()


def first_minute_for(records: int) -> int:
    """Spread `records` so that the newest minute is the last full minute before now."""
    now_minute = int(time.time()) // 60 * 60
    minutes = -(-records // len(STATUSES))
    return now_minute - minutes * 60


def fill(port: int, records: int, clients: int, *, progress: bool) -> float:
    """POST `records` records in batches of FILL_BATCH with `clients` keep-alive clients;
    return the wall-clock seconds it took. Raises BenchError on any answer but 201."""
    first_minute = first_minute_for(records)
    batches: queue.SimpleQueue[int] = queue.SimpleQueue()
    for start in range(0, records, FILL_BATCH):
        batches.put(start)
    total_batches = -(-records // FILL_BATCH)
    failures: list[str] = []
    sent = [0]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        try:
            while not failures:
                try:
                    start = batches.get_nowait()
                except queue.Empty:
                    return
                body = json_body(record_rows(start, min(start + FILL_BATCH, records), first_minute))
                conn.request("POST", TXMON_POST, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                if response.status != 201:
                    failures.append(f"HTTP {response.status}: {answer[:300]!r}")
                    return
                with lock:
                    sent[0] += 1
                    if progress and sent[0] % max(1, total_batches // 10) == 0:
                        print(f"  fill: {sent[0] * FILL_BATCH:,} records", flush=True)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise BenchError(f"filling the database failed: {failures[0]}")
    return elapsed


def schema_version(port: int) -> int | None:
    _status, body = http_get(port, "/healthz", timeout=30)
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return int(json.loads(body)["schema_version"])
    return None


def stored_records(port: int) -> int:
    status, body = http_get(port, "/api/v1/summary?minutes=1", timeout=30)
    if status != 200:
        raise BenchError(f"GET /api/v1/summary answered {status}: {body[:300]!r}")
    return int(json.loads(body)["records_stored"])


# --- phases ----------------------------------------------------------------------------------


@dataclass
class Settings:
    records: int
    single_seconds: float
    batch_seconds: float
    read_seconds: float
    warmup: float
    fill_clients: int
    peer: Path
    quick: bool
    refill: bool
    rounds: int


def check_stored(
    entry: dict[str, Any], port: int, per_request: int, connections: int, problems: list[str]
) -> None:
    """Compare what txmon stored with what it acknowledged (warm-up + measured run). Requests
    still in flight when wrk stops are stored but never counted, so at most 2 x connections
    requests' worth may be extra; fewer stored than acknowledged would be lost data."""
    acked = (entry["warmup_2xx"] + entry["requests"] - entry["non2xx"]) * per_request
    stored = stored_records(port)
    entry["stored"], entry["acknowledged_records"] = stored, acked
    if not acked <= stored <= acked + 2 * connections * per_request:
        problems.append(f"txmon acknowledged {acked:,} records but stores {stored:,}")


def single_round(cfg: Settings, work: Path, problems: list[str], number: int) -> dict[str, Any]:
    """One round: the no-op server, the peer and txmon in turn, each on a fresh DB."""
    out: dict[str, Any] = {"round": number}
    # Four records (one per status) per minute from 60 days ago: room for 345,600 requests.
    env = {"BENCH_BASE": str(int(time.time()) - 60 * 86_400)}
    kw: dict[str, Any] = {
        "mode": "single",
        "connections": 8,
        "warmup": cfg.warmup,
        "seconds": cfg.single_seconds,
        "env": env,
        "per_request": 1,
    }
    with running(noop_server(work), problems) as srv:
        out["noop"] = measure(srv, TXMON_POST, **kw)
    with running(peer_server(cfg.peer, work), problems) as srv:
        out["peer"] = measure(srv, PEER_POST, **kw)
    with running(txmon_server(work / f"single-{number}.db", work), problems) as srv:
        out["txmon"] = measure(srv, TXMON_POST, **kw)
        check_stored(out["txmon"], srv.port, 1, 8, problems)
    tx, peer, noop = out["txmon"], out["peer"], out["noop"]
    out["ratio_txmon_peer"] = round(tx["rps_2xx"] / max(peer["rps_2xx"], 1e-9), 2)
    out["ratio_txmon_peer_raw"] = round(tx["rps"] / max(peer["rps"], 1e-9), 2)
    out["fraction_of_noop"] = round(tx["rps_2xx"] / max(noop["rps_2xx"], 1e-9), 3)
    out["peer_fraction_of_noop"] = round(peer["rps_2xx"] / max(noop["rps_2xx"], 1e-9), 4)
    print(
        f"  round {number}: noop {noop['rps']:,.0f}, peer {peer['rps_2xx']:,.0f} (2xx), "
        f"txmon {tx['rps_2xx']:,.0f} req/s -> txmon/peer {out['ratio_txmon_peer']:.1f}x, "
        f"txmon p99 {tx['p99_us'] / 1000:.2f} ms",
        flush=True,
    )
    return out


def phase_single(cfg: Settings, work: Path, problems: list[str]) -> dict[str, Any]:
    """Single-record POSTs, 8 keep-alive connections, in `cfg.rounds` interleaved rounds.
    The peer's rate swings a lot from run to run, so the figures reported are those of the
    round with the median txmon/peer ratio; every round is kept in the JSON."""
    print(f"[1/3] single-record POSTs (wrk -t1 -c8), {cfg.rounds} round(s)", flush=True)
    rounds = [single_round(cfg, work, problems, n + 1) for n in range(cfg.rounds)]
    median = sorted(rounds, key=lambda r: r["ratio_txmon_peer"])[(len(rounds) - 1) // 2]
    out = {key: value for key, value in median.items() if key != "round"}
    out["median_round"] = median["round"]
    out["rounds"] = rounds
    for name in ("ratio_txmon_peer", "fraction_of_noop"):
        out[f"{name}_range"] = [min(r[name] for r in rounds), max(r[name] for r in rounds)]
    out["txmon_p99_ms_rounds"] = [round(r["txmon"]["p99_us"] / 1000, 2) for r in rounds]
    return out


def measure_batch(
    server: Server, problems: list[str], *, warmup: float, seconds: float
) -> dict[str, Any]:
    """Start `server`, POST 1,000-record JSON arrays from 4 keep-alive connections, stop it.

    Adds records/s and the server's CPU time per record over every thread (Python, SQLite,
    kernel)."""
    # Seven records (one per status) per minute from three years ago: room for 11M records.
    env = {
        "BENCH_BASE": str(int(time.time()) - 3 * 365 * 86_400),
        "BENCH_BATCH": str(POST_BATCH),
    }
    with running(server, problems) as srv:
        result = measure(
            srv,
            TXMON_POST,
            mode="batch",
            connections=BATCH_CONNECTIONS,
            warmup=warmup,
            seconds=seconds,
            env=env,
            per_request=POST_BATCH,
        )
        check_stored(result, srv.port, POST_BATCH, BATCH_CONNECTIONS, problems)
    result["records_per_s"] = round(result["rps_2xx"] * POST_BATCH)
    cpu_s_per_s = result["server_cpu_pct"] / 100
    result["cpu_us_per_record"] = round(1e6 * cpu_s_per_s / max(result["records_per_s"], 1), 2)
    return result


def all_cpus_ceiling(cpu_us_per_record: float) -> int:
    """Records/s if that much CPU per record were spread perfectly over every CPU: a ceiling
    for any design that splits the same per-record work across processes."""
    return round((os.cpu_count() or 1) * 1e6 / max(cpu_us_per_record, 1e-9))


def phase_batch(cfg: Settings, work: Path, problems: list[str], peer_rps: float) -> dict[str, Any]:
    """1,000-record JSON array POSTs from 4 keep-alive connections."""
    print(f"[2/3] {POST_BATCH:,}-record batch POSTs (wrk -t1 -c{BATCH_CONNECTIONS})", flush=True)
    out: dict[str, Any] = {"batch_records": POST_BATCH}
    out["txmon"] = measure_batch(
        txmon_server(work / "batch.db", work),
        problems,
        warmup=cfg.warmup,
        seconds=cfg.batch_seconds,
    )
    out["all_cpus_ceiling_records_per_s"] = all_cpus_ceiling(out["txmon"]["cpu_us_per_record"])
    out["peer_records_per_s"] = peer_rps
    out["ratio_txmon_peer"] = round(out["txmon"]["records_per_s"] / max(peer_rps, 1e-9), 1)
    print(f"  txmon    {out['txmon']['records_per_s']:>9,.0f} records/s", flush=True)
    return out


def cached_db(records: int) -> tuple[Path, Path]:
    return RESULTS / f"db-{records}.sqlite", RESULTS / f"db-{records}.json"


def prepare_db(
    cfg: Settings, records: int, work: Path, problems: list[str], *, cache: bool
) -> dict[str, Any]:
    """A database of `records` records filled over HTTP (cached under bench/results/)."""
    if cache:
        db, meta_path = cached_db(records)
        if db.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("records") == records and not cfg.refill:
                meta.update(cached=True, path=str(db))
                return meta
            db.unlink()
        db.parent.mkdir(parents=True, exist_ok=True)
    else:
        db, meta_path = work / f"db-{records}.sqlite", None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    partial = Path(f"{db}.partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    print(
        f"  filling {records:,} records over HTTP ({cfg.fill_clients} clients, "
        f"batches of {FILL_BATCH:,})",
        flush=True,
    )
    with running(txmon_server(partial, work, name=f"txmon-fill-{records}"), problems) as srv:
        seconds = fill(srv.port, records, cfg.fill_clients, progress=records >= 1_000_000)
        stored = stored_records(srv.port)
        schema = schema_version(srv.port)
    if stored != records:
        raise BenchError(f"filled {records:,} records but the receiver reports {stored:,}")
    with contextlib.closing(sqlite3.connect(partial)) as conn:  # fold the WAL into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    partial.rename(db)
    meta = {
        "records": records,
        "path": str(db),
        "fill_seconds": round(seconds, 1),
        "fill_records_per_s": round(records / seconds),
        "filled_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "db_bytes": db.stat().st_size,
        "schema_version": schema,
        "server_sources_sha256": sources_digest(),
        "statuses": len(STATUSES),
        "minutes_spanned": -(-records // len(STATUSES)),
        "cached": False,
    }
    if meta_path is not None:
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"  filled in {seconds:.1f} s ({records / seconds:,.0f} records/s)", flush=True)
    return meta


READ_PATHS = (
    ("series_60", "/api/v1/series?minutes=60"),
    ("summary_60", "/api/v1/summary?minutes=60"),
    ("series_1440", "/api/v1/series?minutes=1440"),
    ("summary_1440", "/api/v1/summary?minutes=1440"),
)


def phase_reads(cfg: Settings, work: Path, problems: list[str]) -> dict[str, Any]:
    """Read latency on a small and a large database (1 keep-alive connection)."""
    print("[3/3] reads (wrk -t1 -c1)", flush=True)
    out: dict[str, Any] = {}
    # 1,000 records do not fill a 1,440-minute window (143 minutes); 100,000 do (14,286).
    sizes = sorted({1_000, min(100_000, cfg.records), cfg.records})
    for records in sizes:
        meta = prepare_db(cfg, records, work, problems, cache=records >= CACHE_FROM)
        db = Path(meta["path"])
        entry: dict[str, Any] = {"db": meta, "endpoints": {}}
        with running(txmon_server(db, work, name=f"txmon-read-{records}"), problems) as srv:
            entry["startup_seconds"] = round(srv.startup_seconds, 2)
            entry["schema_version"] = schema_version(srv.port)
            entry["stored"] = stored_records(srv.port)
            if entry["stored"] != records:
                problems.append(f"read DB holds {entry['stored']:,} records, not {records:,}")
            for key, path in READ_PATHS:
                entry["endpoints"][key] = measure(
                    srv, path, mode="get", connections=1, warmup=1.0, seconds=cfg.read_seconds
                )
        out[str(records)] = entry
        p95 = {k: v["p95_us"] / 1000 for k, v in entry["endpoints"].items()}
        print(
            f"  {records:>12,} records: p95 "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in p95.items()),
            flush=True,
        )
    return out


# --- report ----------------------------------------------------------------------------------


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def acceptance(results: dict[str, Any], records: int) -> list[dict[str, Any]]:
    single, batch, reads = results["single"], results["batch"], results["reads"]
    big = reads[str(records)]["endpoints"]
    p99 = statistics.median(single["txmon_p99_ms_rounds"])
    checks = [
        (
            "single-record POST rate, txmon/peer (2xx)",
            f">= {MIN_SINGLE_RATIO:g}",
            single["ratio_txmon_peer"],
            single["ratio_txmon_peer"] >= MIN_SINGLE_RATIO,
        ),
        (
            "single-record POST p99, txmon, median of rounds (ms)",
            f"< {MAX_SINGLE_P99_MS:g}",
            p99,
            p99 < MAX_SINGLE_P99_MS,
        ),
        (
            f"{POST_BATCH:,}-record batch POSTs, records/s",
            f">= {MIN_BATCH_RECORDS_PER_S:,}",
            batch["txmon"]["records_per_s"],
            batch["txmon"]["records_per_s"] >= MIN_BATCH_RECORDS_PER_S,
        ),
    ]
    for key in ("series_60", "summary_60"):
        p95 = big[key]["p95_us"] / 1000
        checks.append(
            (
                f"{key} p95 at {records:,} records (ms)",
                f"< {MAX_READ_P95_MS:g}",
                p95,
                p95 < MAX_READ_P95_MS,
            )
        )
    return [{"check": c, "target": t, "value": v, "holds": bool(h)} for c, t, v, h in checks]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: dict[str, Any], records: int) -> str:
    single, batch, reads = results["single"], results["batch"], results["reads"]
    m = results["machine"]
    out = [
        f"txmon benchmark, {results['date']} - {m['cpus']} CPUs, load {m['loadavg_before']} "
        "(shared, noisy machine: compare the ratios, measured in the same run)",
        "",
        f"Single-record POSTs, wrk -t1 -c8 (fresh DB each); round {single['median_round']} "
        f"of {len(single['rounds'])}, the one with the median txmon/peer ratio:",
    ]
    rows = [["server", "req/s", "2xx req/s", "p50 ms", "p99 ms", "non-2xx", "server CPU %"]]
    for name in ("noop", "peer", "txmon"):
        r = single[name]
        rows.append(
            [
                name,
                f"{r['rps']:,.0f}",
                f"{r['rps_2xx']:,.0f}",
                ms(r["p50_us"]),
                ms(r["p99_us"]),
                f"{r['non2xx']:,}",
                f"{r['server_cpu_pct']:.0f}",
            ]
        )
    out += [
        table(rows),
        "",
        f"txmon/peer = {single['ratio_txmon_peer']:.1f}x (2xx rates; raw "
        f"{single['ratio_txmon_peer_raw']:.1f}x); txmon = "
        f"{100 * single['fraction_of_noop']:.0f}% of the no-op stdlib server",
        "every round: txmon/peer "
        + ", ".join(f"{r['ratio_txmon_peer']:.1f}x" for r in single["rounds"])
        + "; txmon/no-op "
        + ", ".join(f"{100 * r['fraction_of_noop']:.0f}%" for r in single["rounds"])
        + "; txmon p99 "
        + ", ".join(f"{p:.2f}" for p in single["txmon_p99_ms_rounds"])
        + " ms; peer non-2xx "
        + ", ".join(f"{r['peer']['non2xx']:,}" for r in single["rounds"]),
        "",
    ]
    out.append(f"{POST_BATCH:,}-record JSON batch POSTs, wrk -t1 -c4:")
    rows = [["server", "req/s", "records/s", "p50 ms", "p99 ms", "non-2xx"]]
    for name in ("txmon",):
        r = batch[name]
        rows.append(
            [
                name,
                f"{r['rps']:,.1f}",
                f"{r['records_per_s']:,}",
                ms(r["p50_us"]),
                ms(r["p99_us"]),
                f"{r['non2xx']:,}",
            ]
        )
    rows.append(["peer (single records)", "", f"{batch['peer_records_per_s']:,.0f}", "", "", ""])
    out += [
        table(rows),
        "",
        f"txmon batch records/s / peer records/s = {batch['ratio_txmon_peer']:,.0f}x",
        f"txmon server CPU per record: {batch['txmon']['cpu_us_per_record']:.1f} µs (all "
        f"threads); spread perfectly over {results['machine']['cpus']} CPUs that work would "
        f"allow at most {batch['all_cpus_ceiling_records_per_s']:,} records/s",
        "",
    ]
    for size, entry in reads.items():
        meta = entry["db"]
        how = "cached" if meta.get("cached") else "filled now"
        out.append(
            f"Reads at {int(size):,} records (wrk -t1 -c1; DB {how}, fill took "
            f"{meta['fill_seconds']} s = {meta['fill_records_per_s']:,} records/s, "
            f"{meta['db_bytes'] / 1e6:,.0f} MB; server ready in {entry['startup_seconds']} s):"
        )
        if meta.get("schema_version") != entry.get("schema_version"):
            out.append(
                f"  (filled at schema {meta.get('schema_version')}, migrated on open to "
                f"{entry.get('schema_version')}; --refill rebuilds it)"
            )
        rows = [["endpoint", "requests", "p50 ms", "p95 ms", "p99 ms", "non-2xx"]]
        for key, r in entry["endpoints"].items():
            rows.append(
                [
                    key,
                    f"{r['requests']:,}",
                    ms(r["p50_us"]),
                    ms(r["p95_us"]),
                    ms(r["p99_us"]),
                    f"{r['non2xx']:,}",
                ]
            )
        out += [table(rows), ""]
    out.append("Acceptance:")
    rows = [["check", "target", "measured", "holds"]]
    for a in results["acceptance"]:
        value = a["value"]
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        rows.append([a["check"], a["target"], shown, "yes" if a["holds"] else "NO"])
    out.append(table(rows))
    if results["warnings"]:
        out += ["", "Warnings:"] + [f"  {w}" for w in results["warnings"]]
    if results["problems"]:
        out += ["", "Problems seen (exit status 1):"] + [f"  {p}" for p in results["problems"]]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "platform": platform.platform(),
        "server_sources_sha256": sources_digest(),
    }


def sources_digest() -> str:
    """A fingerprint of server/*.py (the tree may be uncommitted): which code was measured."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "server").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark txmon against the seed Flask peer and a no-op stdlib server.",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        help="records in the large read DB (default 10,000,000; 100,000 with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short run: 3 s measurements, 100,000-record read DB"
    )
    parser.add_argument(
        "--fill-clients",
        type=int,
        default=3,
        help="concurrent clients filling the read DB (default 3)",
    )
    parser.add_argument(
        "--peer",
        type=Path,
        default=Path(os.environ.get("TXMON_BENCH_PEER", DEFAULT_PEER)),
        help="the seed peer's app.py (default ../shared/peers/seed_flask/app.py)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="interleaved single-record rounds (noop, peer, txmon); the median ratio counts "
        "(default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--refill",
        action="store_true",
        help="rebuild the cached read DB even if bench/results/ has one for --records",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the JSON results",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every phase, print the table, write the JSON; 1 if a server misbehaved."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed; install it with:  apt-get install wrk", file=sys.stderr)
        return 2
    if not args.peer.is_file():
        print(f"bench: the seed peer {args.peer} is missing (pass --peer PATH)", file=sys.stderr)
        return 2
    try:
        import flask  # noqa: F401 - the peer needs it
    except ImportError:
        print(
            "bench: flask is missing: run `make bench` or pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    records = args.records or (100_000 if args.quick else 10_000_000)
    if records < 1_000:
        print("bench: --records must be at least 1,000", file=sys.stderr)
        return 2
    cfg = Settings(
        records=records,
        single_seconds=3 if args.quick else 10,
        batch_seconds=3 if args.quick else 10,
        read_seconds=2 if args.quick else 5,
        warmup=1 if args.quick else 2,
        fill_clients=max(1, args.fill_clients),
        peer=args.peer.resolve(),
        quick=args.quick,
        refill=args.refill,
        rounds=max(1, args.rounds or (1 if args.quick else 3)),
    )
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            "records": records,
            "quick": args.quick,
            "fill_clients": cfg.fill_clients,
            "single_seconds": cfg.single_seconds,
            "batch_seconds": cfg.batch_seconds,
            "read_seconds": cfg.read_seconds,
            "warmup_seconds": cfg.warmup,
            "peer": str(cfg.peer),
        },
    }
    problems: list[str] = []
    started = time.monotonic()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="txmon-bench-") as tmp:
        work = Path(tmp)
        try:
            results["single"] = phase_single(cfg, work, problems)
            results["batch"] = phase_batch(
                cfg, work, problems, results["single"]["peer"]["rps_2xx"]
            )
            results["reads"] = phase_reads(cfg, work, problems)
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
    checked = [(f"single round {r['round']}", r["txmon"]) for r in results["single"]["rounds"]]
    for phase, entry in [*checked, ("batch", results["batch"]["txmon"])]:
        if entry["non2xx"] or entry["connect_errors"] or entry["read_errors"]:
            problems.append(
                f"txmon {phase}: {entry['non2xx']} non-2xx answers, "
                f"{entry['connect_errors']} connect / {entry['read_errors']} read "
                "errors"
            )
    warnings: list[str] = []
    if len(CODE_SEEN) > 1:
        warnings.append(
            "server/*.py changed during the run, so the phases measured different code: "
            + "; ".join(f"{digest}: {', '.join(names)}" for digest, names in CODE_SEEN.items())
        )
    results["server_code"] = CODE_SEEN
    results["problems"] = problems
    results["warnings"] = warnings
    results["acceptance"] = acceptance(results, records)
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report(results, records))
    print(f"\nwall time {results['wall_seconds']:.0f} s; JSON written to {args.output}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
