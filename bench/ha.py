"""Several receivers on one PostgreSQL: ingest throughput and the detector's failover time.

Run as `.venv/bin/python bench/ha.py [--quick]`. In one run, against a throwaway PostgreSQL
cluster it starts itself (tests/pg.py's, with fsync ON unless `--fsync off`):

1. single-record POSTs (8 keep-alive connections in all) and 1,000-record batch POSTs (4 in
   all) for one receiver on SQLite (the baseline) and 1, 2 and 3 receivers on PostgreSQL, in
   interleaved rounds, each on a fresh database. wrk hits one URL, so each receiver gets its
   own wrk with its share of the connections, all started together, and the rates are summed:
   a load balancer without a Python proxy eating the CPU under measurement. Every wrk replays
   the same feed (the same minutes), so the receivers contend for the same rollup rows as
   they would behind a balancer;
2. the detector's failover: 3 receivers under light ingest, the leader SIGKILLed `--kills`
   times (a replacement started after each), the time from the kill until another receiver's
   /healthz says `"role":"leader"` with a higher term, with the default timers (TTL 15 s,
   renewal 5 s) and scaled ones (TTL 2 s, renewal 0.5 s).

Prints a table (plain and as Markdown for docs/performance.md) and writes
bench/results/ha.json. Traffic goes to 127.0.0.1 only; every process started here is stopped
before the run ends. See docs/performance.md, "Several receivers on PostgreSQL".
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from load import BATCH_CONNECTIONS, POST_BATCH, batch_env, check_stored, measure, single_env
from report import machine, table
from servers import (
    CODE_SEEN,
    HOST,
    REPO,
    RESULTS,
    TXMON_POST,
    BenchError,
    Server,
    cpu_seconds,
    free_port,
    http_get,
    running,
    stored_records,
    txmon_server,
)

sys.path.insert(0, str(REPO))
from tests.pg import Cluster, find_binaries

SINGLE_CONNECTIONS = 8
SETUPS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 3))
DEFAULT_TIMERS = (15.0, 5.0)
SCALED_TIMERS = (2.0, 0.5)


class BenchCluster(Cluster):
    """tests/pg.py's throwaway cluster, started with fsync on (durable commits) by default."""

    def __init__(self, binaries: Path, port: int, fsync: bool) -> None:
        super().__init__(binaries, port)
        self.fsync = fsync

    def start(self) -> None:
        """Start and wait until it accepts connections; fsync as chosen on the command line."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        if not self.fsync:
            options += " -c fsync=off -c full_page_writes=off"
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                         "-o", options, "start")  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"pg_ctl start failed: {done.stderr.strip()}")

    def cpu(self) -> float:
        """CPU seconds used so far by the postmaster and its backends (from /proc)."""
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        total = cpu_seconds(postmaster)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    total += cpu_seconds(int(stat.parent.name))
        return total


@dataclass
class Settings:
    """How long each measurement runs and how many kills, from the command line."""

    rounds: int
    seconds: float
    warmup: float
    kills_default: int
    kills_scaled: int


def split(total: int, parts: int) -> list[int]:
    """`total` connections shared out over `parts` wrk runs (8 over 3: 3, 3, 2)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def receiver(kind: str, name: str, work: Path, url: str, config: Path | None = None) -> Server:
    """A txmon receiver on SQLite (a fresh file) or on the PostgreSQL database `url`."""
    server = txmon_server(work / f"{name}.db", work, name=name)
    if kind == "postgresql":
        server.argv += ["--store", url]
    if config is not None:
        server.argv += ["--config", str(config)]
    return server


@contextlib.contextmanager
def group(
    kind: str, count: int, label: str, work: Path, cluster: BenchCluster, problems: list[str]
) -> Iterator[list[Server]]:
    """`count` running receivers on one fresh store; all stopped on exit."""
    url = cluster.create_database() if kind == "postgresql" else ""
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                running(receiver(kind, f"txmon-{label}-{chr(97 + i)}", work, url), problems)
            )
            for i in range(count)
        ]
        yield servers


def spread(
    servers: list[Server],
    cluster: BenchCluster,
    *,
    mode: str,
    connections: int,
    cfg: Settings,
    per_request: int,
    env: dict[str, str],
    problems: list[str],
) -> dict[str, Any]:
    """One wrk per receiver at once (connections shared out), their rates summed; the
    stored-versus-acknowledged check over the whole store; server and PostgreSQL CPU."""
    shares = split(connections, len(servers))
    results: list[dict[str, Any] | BaseException] = [RuntimeError("not run")] * len(servers)

    def one(i: int) -> None:
        try:
            results[i] = measure(
                servers[i],
                TXMON_POST,
                mode=mode,
                connections=shares[i],
                warmup=cfg.warmup,
                seconds=cfg.seconds,
                env=env,
                per_request=per_request,
            )
        except BaseException as exc:  # reported below, in the main thread
            results[i] = exc

    pg_before, wall = cluster.cpu(), time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(servers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pg_cpu = cluster.cpu() - pg_before
    wall = time.monotonic() - wall
    for result in results:
        if isinstance(result, BaseException):
            raise BenchError(f"a wrk run failed: {result}")
    runs: list[dict[str, Any]] = results  # type: ignore[assignment]
    total = {
        key: sum(r[key] for r in runs)
        for key in ("requests", "non2xx", "warmup_2xx", "connect_errors", "read_errors")
    }
    total["rps_2xx"] = round(sum(r["rps_2xx"] for r in runs), 1)
    total["records_per_s"] = round(total["rps_2xx"] * per_request)
    total["p50_ms"] = round(max(r["p50_us"] for r in runs) / 1000, 2)
    total["p99_ms"] = round(max(r["p99_us"] for r in runs) / 1000, 2)
    total["receiver_cpu_pct"] = round(sum(r["server_cpu_pct"] for r in runs), 1)
    # The PostgreSQL share covers the warm-up too (its backends come and go); per second.
    total["postgres_cpu_pct"] = (
        round(100 * pg_cpu / wall, 1) if servers[0].argv.count("--store") else 0.0
    )
    total["connections"] = shares
    total["runs"] = runs
    check_stored(total, servers[0].port, per_request, connections, problems)
    if total["non2xx"] or total["connect_errors"] or total["read_errors"]:
        problems.append(
            f"{servers[0].name} ({len(servers)} receivers, {mode}): {total['non2xx']} non-2xx, "
            f"{total['connect_errors']} connect / {total['read_errors']} read errors"
        )
    return total


def ingest_round(
    cfg: Settings, work: Path, cluster: BenchCluster, problems: list[str], number: int
) -> dict[str, Any]:
    """One round: every setup in turn, single records then batches, each on a fresh store."""
    out: dict[str, Any] = {"round": number}
    phases = (
        ("single", SINGLE_CONNECTIONS, 1, single_env()),
        ("batch", BATCH_CONNECTIONS, POST_BATCH, batch_env()),
    )
    for kind, count in SETUPS:
        key = f"{kind}-{count}"
        entry: dict[str, Any] = {}
        for phase, connections, per_request, env in phases:
            name = f"{key}-r{number}-{phase}"
            with group(kind, count, name, work, cluster, problems) as servers:
                entry[phase] = spread(
                    servers,
                    cluster,
                    mode=phase,
                    connections=connections,
                    cfg=cfg,
                    per_request=per_request,
                    env=env,
                    problems=problems,
                )
        out[key] = entry
    base = out["sqlite-1"]
    for kind, count in SETUPS:
        entry = out[f"{kind}-{count}"]
        for phase in ("single", "batch"):
            entry[phase]["ratio"] = round(
                entry[phase]["records_per_s"] / max(base[phase]["records_per_s"], 1e-9), 2
            )
    print(
        f"  round {number}: "
        + "; ".join(
            f"{k}-{n} {out[f'{k}-{n}']['single']['rps_2xx']:,.0f} req/s, "
            f"{out[f'{k}-{n}']['batch']['records_per_s']:,} rec/s"
            for k, n in SETUPS
        ),
        flush=True,
    )
    return out


def summarise_ingest(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per setup and phase: the median over rounds of the rate and of the in-round ratio."""
    out: dict[str, Any] = {}
    for kind, count in SETUPS:
        key = f"{kind}-{count}"
        out[key] = {}
        for phase in ("single", "batch"):
            runs = [r[key][phase] for r in rounds]
            rates = [r["records_per_s"] for r in runs]
            ratios = [r["ratio"] for r in runs]
            out[key][phase] = {
                "records_per_s": round(statistics.median(rates)),
                "range": [min(rates), max(rates)],
                "ratio": round(statistics.median(ratios), 2),
                "ratio_range": [min(ratios), max(ratios)],
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "receiver_cpu_pct": statistics.median(r["receiver_cpu_pct"] for r in runs),
                "postgres_cpu_pct": statistics.median(r["postgres_cpu_pct"] for r in runs),
            }
    return out


def health(server: Server) -> dict[str, Any] | None:
    """A receiver's /healthz document, or None if it does not answer 200 at once."""
    with contextlib.suppress(OSError, ValueError):
        status, body = http_get(server.port, "/healthz", timeout=0.5)
        if status == 200:
            return json.loads(body)
    return None


def find_leader(servers: list[Server], newer_than: int = 0) -> tuple[Server, int] | None:
    """The live receiver that says it leads with a term above `newer_than`, if any."""
    for server in servers:
        if server.alive():
            doc = health(server)
            if doc and doc.get("role") == "leader" and int(doc.get("term") or 0) > newer_than:
                return server, int(doc["term"])
    return None


def wait_leader(servers: list[Server], newer_than: int, timeout: float) -> tuple[Server, int]:
    """Poll every 20 ms until `find_leader` finds one; BenchError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find_leader(servers, newer_than)
        if found:
            return found
        time.sleep(0.02)
    raise BenchError(f"no receiver became leader above term {newer_than} within {timeout:.0f} s")


class Feeder(threading.Thread):
    """Light ingest while the leader is killed: one minute (two records) every 50 ms, round
    robin over the live receivers, each request with its own Idempotency-Key, retried on the
    next receiver with the same key until one answers 201, as a client behind a balancer."""

    def __init__(self, servers: list[Server]) -> None:
        super().__init__(name="ha-feeder", daemon=True)
        self.servers = servers
        self.stop = threading.Event()
        self.acked = 0
        self.retries = 0
        self.failed = 0
        self._base = int(time.time()) - 20 * 86_400
        self._base -= self._base % 60

    def run(self) -> None:
        turn = itertools.count()
        with httpx.Client(timeout=2) as client:
            for minute in itertools.count():
                if self.stop.is_set():
                    return
                ts = self._base + 60 * minute
                body = [
                    {"timestamp": ts, "status": "approved", "count": 120 + minute % 9},
                    {"timestamp": ts, "status": "denied", "count": 6 + minute % 4},
                ]
                deadline = time.monotonic() + 60
                while not self.stop.is_set():
                    alive = [s for s in self.servers if s.alive()]
                    if alive:
                        server = alive[next(turn) % len(alive)]
                        with contextlib.suppress(httpx.HTTPError):
                            answer = client.post(
                                f"http://{HOST}:{server.port}{TXMON_POST}",
                                json=body,
                                headers={"Idempotency-Key": f"ha-{minute}"},
                            )
                            if answer.status_code == 201:
                                self.acked += len(body)
                                break
                    self.retries += 1
                    if time.monotonic() > deadline:
                        self.failed += 1
                        break
                    time.sleep(0.05)
                self.stop.wait(0.05)


def failover(
    ttl: float, renew: float, kills: int, work: Path, cluster: BenchCluster, problems: list[str]
) -> dict[str, Any]:
    """SIGKILL the leader of 3 receivers `kills` times under light ingest; takeover times."""
    label = f"ttl{ttl:g}"
    config = work / f"group-{label}.toml"
    config.write_text(f"[group]\nlease_ttl_seconds = {ttl}\nlease_renew_seconds = {renew}\n")
    url = cluster.create_database()
    names = itertools.count()
    servers: list[Server] = []

    def start_one() -> None:
        server = receiver("postgresql", f"txmon-ha-{label}-{next(names)}", work, url, config)
        servers.append(server)
        server.start()

    feeder = Feeder(servers)
    takeovers: list[float] = []
    terms: list[int] = []
    killed: set[str] = set()
    try:
        for _ in range(3):
            start_one()
        feeder.start()
        _, term = wait_leader(servers, 0, timeout=ttl + renew + 30)
        for n in range(kills):
            # Kill at a random point of the renewal cycle, not in step with it.
            time.sleep(random.uniform(0.5, 0.5 + renew))
            leader, term = wait_leader(servers, 0, timeout=ttl + renew + 30)
            terms.append(term)
            leader.proc.kill()
            started = time.monotonic()
            killed.add(leader.name)
            _, new_term = wait_leader(servers, term, timeout=3 * (ttl + renew))
            takeovers.append(round(time.monotonic() - started, 3))
            terms.append(new_term)
            leader.proc.wait(timeout=10)
            print(
                f"  {label} kill {n + 1}/{kills}: term {term} -> {new_term} after "
                f"{takeovers[-1]:.2f} s",
                flush=True,
            )
            start_one()  # the orchestrator replaces the dead receiver
        feeder.stop.set()
        feeder.join(timeout=30)
        stored = stored_records(next(s for s in servers if s.alive()).port)
    finally:
        feeder.stop.set()
        for server in servers:
            server.stop()
            if server.name not in killed:
                problems += [f"{server.name} stderr: {line}" for line in server.stderr_problems()]
    if stored != feeder.acked:
        problems.append(
            f"failover {label}: {feeder.acked:,} records acknowledged, {stored:,} stored"
        )
    if feeder.failed:
        problems.append(f"failover {label}: {feeder.failed} requests found no receiver in 60 s")
    if terms != sorted(terms):
        problems.append(f"failover {label}: terms went back: {terms}")
    return {
        "ttl_seconds": ttl,
        "renew_seconds": renew,
        "bound_seconds": ttl + renew,
        "kills": len(takeovers),
        "takeover_seconds": takeovers,
        "median_seconds": round(statistics.median(takeovers), 2),
        "min_seconds": min(takeovers),
        "max_seconds": max(takeovers),
        "terms": terms,
        "records_acked": feeder.acked,
        "records_stored": stored,
        "client_retries": feeder.retries,
    }


def tables(results: dict[str, Any]) -> tuple[str, str]:
    """The figures as aligned text and as a Markdown table (the same rows)."""
    head = ["setup", "single req/s", "x SQLite", "p99 ms (worst wrk)", "batch records/s"]
    head += ["x SQLite", "receivers CPU %", "PostgreSQL CPU %"]
    rows = [head]
    for kind, count in SETUPS if results["ingest"] else ():
        s, b = (results["ingest"][f"{kind}-{count}"][p] for p in ("single", "batch"))
        name = "SQLite, 1 receiver" if kind == "sqlite" else f"PostgreSQL, {count} receiver"
        pg = f"{s['postgres_cpu_pct']:.0f} / {b['postgres_cpu_pct']:.0f}"
        rows.append(
            [
                name + ("s" if count > 1 else ""),
                f"{s['records_per_s']:,}",
                f"{s['ratio']:.2f}",
                f"{s['p99_ms']:.2f}",
                f"{b['records_per_s']:,}",
                f"{b['ratio']:.2f}",
                f"{s['receiver_cpu_pct']:.0f} / {b['receiver_cpu_pct']:.0f}",
                "-" if kind == "sqlite" else pg,
            ]
        )
    fail = [["timers", "kills", "median s", "min s", "max s", "bound TTL+renew s"]]
    for entry in results["failover"]:
        fail.append(
            [
                f"TTL {entry['ttl_seconds']:g} s, renew {entry['renew_seconds']:g} s",
                str(entry["kills"]),
                f"{entry['median_seconds']:.2f}",
                f"{entry['min_seconds']:.2f}",
                f"{entry['max_seconds']:.2f}",
                f"{entry['bound_seconds']:g}",
            ]
        )

    def markdown(block: list[list[str]]) -> str:
        lines = ["| " + " | ".join(block[0]) + " |", "|" + " --- |" * len(block[0])]
        return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in block[1:])])

    text = table(rows) + "\n\n" + table(fail)
    return text, markdown(rows) + "\n\n" + markdown(fail)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line of bench/ha.py."""
    parser = argparse.ArgumentParser(
        description="Ingest with 1-3 receivers on PostgreSQL against one on SQLite, and the "
        "detector's failover time over repeated leader kills."
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 3 s measurements, one round, 3 kills"
    )
    parser.add_argument("--rounds", type=int, help="interleaved ingest rounds (default 3)")
    parser.add_argument("--kills", type=int, help="leader kills per timer set (default 10)")
    parser.add_argument(
        "--fsync", choices=("on", "off"), default="on", help="PostgreSQL fsync (default on)"
    )
    parser.add_argument(
        "--only",
        choices=("ingest", "failover"),
        help="run one phase (a diagnostic, not the figures)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "ha.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the cluster, run both phases, print the tables, write the JSON."""
    args = parse_args(argv)
    binaries = find_binaries()
    if shutil.which("wrk") is None or binaries is None:
        print("bench/ha.py needs wrk and PostgreSQL's initdb/pg_ctl", file=sys.stderr)
        return 2
    kills = args.kills or (3 if args.quick else 10)
    cfg = Settings(
        rounds=max(1, args.rounds or (1 if args.quick else 3)),
        seconds=3 if args.quick else 10,
        warmup=1 if args.quick else 2,
        kills_default=min(kills, 2) if args.quick and not args.kills else kills,
        kills_scaled=kills,
    )
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([".venv/bin/python", "bench/ha.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "settings": {**cfg.__dict__, "fsync": args.fsync, "postgresql": str(binaries)},
    }
    problems: list[str] = []
    started = time.monotonic()
    cluster = BenchCluster(binaries, free_port(), fsync=args.fsync == "on")
    try:
        cluster.init()
        cluster.start()
        version = postgres_version(binaries)
        results["machine"]["postgresql"] = version
        with tempfile.TemporaryDirectory(prefix="txmon-ha-") as tmp:
            work = Path(tmp)
            print(f"[1/2] ingest, {cfg.rounds} round(s) of {cfg.seconds:g} s runs", flush=True)
            rounds = [
                ingest_round(cfg, work, cluster, problems, n + 1)
                for n in range(cfg.rounds if args.only != "failover" else 0)
            ]
            results["ingest"] = summarise_ingest(rounds) if rounds else {}
            results["ingest_rounds"] = rounds
            print("[2/2] failover of the detector", flush=True)
            results["failover"] = [
                failover(*timers, n, work, cluster, problems)
                for timers, n in (
                    (DEFAULT_TIMERS, cfg.kills_default),
                    (SCALED_TIMERS, cfg.kills_scaled),
                )
                if args.only != "ingest"
            ]
    except BenchError as exc:
        print(f"bench/ha.py: {exc}", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    finally:
        cluster.remove()
    if len(CODE_SEEN) > 1:
        problems.append("server/**/*.py changed during the run")
    results["problems"] = problems
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    text, markdown = tables(results)
    results["markdown"] = markdown
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    print(
        f"\ntxmon HA benchmark, {results['date']} - {m['cpus']} CPUs, load "
        f"{m['loadavg_before']}, {version}, fsync {args.fsync}\n"
    )
    print(text)
    print("\nMarkdown:\n\n" + markdown)
    if problems:
        print("\nProblems seen (exit status 1):\n" + "\n".join(f"  {p}" for p in problems))
    print(f"\nwall time {results['wall_seconds']:.0f} s; JSON written to {args.output}")
    return 1 if problems else 0


def postgres_version(binaries: Path) -> str:
    """`postgres --version` of the binaries used, for the machine note."""
    done = subprocess.run(
        [str(binaries / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "PostgreSQL (version unknown)"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
