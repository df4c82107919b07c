"""Driving a server with wrk and turning what wrk prints into figures.

One wrk run (`run_wrk`), a warm-up then a measured run with the server's CPU time
(`measure`), the check that txmon stored what it acknowledged, and the batch measurement that
bench/run.py and bench/ceiling.py share. The requests themselves are bench/wrk.lua's.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from typing import Any

from servers import BENCH, HOST, TXMON_POST, BenchError, Server, running, stored_records

WRK_LUA = BENCH / "wrk.lua"
POST_BATCH = 1_000  # the batch size the throughput test uses
BATCH_CONNECTIONS = 4


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


def single_env() -> dict[str, str]:
    """wrk's environment for single-record POSTs: four records (one per status) per minute
    from 60 days ago, room for 345,600 requests."""
    return {"BENCH_BASE": str(int(time.time()) - 60 * 86_400)}


def batch_env() -> dict[str, str]:
    """wrk's environment for batch POSTs: seven records (one per status) per minute from
    three years ago, room for 11M records."""
    return {"BENCH_BASE": str(int(time.time()) - 3 * 365 * 86_400), "BENCH_BATCH": str(POST_BATCH)}


def measure_batch(
    server: Server, problems: list[str], *, warmup: float, seconds: float
) -> dict[str, Any]:
    """Start `server`, POST 1,000-record JSON arrays from 4 keep-alive connections, stop it.

    Adds records/s and the server's CPU time per record over every thread (Python, SQLite,
    kernel)."""
    env = batch_env()
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
