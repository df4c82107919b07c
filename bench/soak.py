"""txmon soak: does the receiver hold its bounds under hostile and churning clients?

Run as `.venv/bin/python bench/soak.py [--minutes 10] [--quick]`. Starts `txmon-server serve`
on a fresh database under `ulimit -n 1024` (the systemd default), then, in order:

1. churn: 3,000 requests, each on a new connection, alternating `/healthz` and
   `/api/v1/summary`;
2. idle flood: 1,100 idle connections held open, then a new client's `/healthz` timed;
3. stalled heads: 40 requests that stop mid-header, RSS while they stall and after the
   receiver's header_timeout has closed them;
4. status flood: 50,000 distinct statuses offered in 50-record batches, `/metrics` size;
5. mixed load for `--minutes`: single-record POSTs on new connections, 100-record batches,
   and `/healthz` + `/metrics` + `/api/v1/summary` polls.

After each phase it prints the receiver's open files, threads and RSS (from /proc), and
writes everything to bench/results/soak.json. Traffic goes to 127.0.0.1 only; every loop is
bounded in count and time, and the receiver is stopped at the end. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from servers import HOST, REPO, RESULTS, free_port

FILE_LIMIT = 1024


def probe(pid: int) -> dict[str, Any]:
    """Open files, threads and resident memory of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "open_files": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
    }


def request(port: int, method: str, path: str, body: bytes = b"", timeout: float = 10) -> int:
    """One request on a new connection; the status code, or 0 when the connection failed."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(head + body)
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return 0
                data += chunk
            while sock.recv(65536):
                pass
            return int(data.split(b" ", 2)[1])
    except OSError:
        return 0


def get_size(port: int, path: str) -> int:
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(1 << 20):
            data += chunk
    return len(data.partition(b"\r\n\r\n")[2])


def records(first_minute: int, count: int, statuses: list[str]) -> bytes:
    body = [
        {"timestamp": first_minute + (i // len(statuses)) * 60, "status": s, "count": 5}
        for i, s in enumerate(statuses * count)
    ]
    return json.dumps(body).encode()


class Receiver:
    """`txmon-server serve` in a subprocess with the open-file limit of a systemd unit."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))

        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "server", "serve", "--db", str(work / "soak.db")),
                *("--port", str(self.port), "--access-log", "off"),
            ],
            cwd=REPO,
            preexec_fn=limit,
            stdout=subprocess.DEVNULL,
            stderr=(work / "receiver.log").open("wb"),
        )
        deadline = time.monotonic() + 30
        while request(self.port, "GET", "/healthz", timeout=1) != 200:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"receiver did not start; see {work / 'receiver.log'}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def say(line: str) -> None:
    print(line, flush=True)


def phase_churn(rx: Receiver, n: int) -> dict[str, Any]:
    before = probe(rx.proc.pid)
    codes: dict[int, int] = {}
    for i in range(n):
        code = request(rx.port, "GET", "/healthz" if i % 2 else "/api/v1/summary")
        codes[code] = codes.get(code, 0) + 1
    time.sleep(0.5)  # let the last connections close
    after = probe(rx.proc.pid)
    health = request(rx.port, "GET", "/healthz")
    return {"requests": n, "codes": codes, "before": before, "after": after, "healthz": health}


@contextlib.contextmanager
def holding() -> Iterator[list[socket.socket]]:
    """A list to put open sockets in; every one is closed when the block ends."""
    held: list[socket.socket] = []
    try:
        yield held
    finally:
        for sock in held:
            sock.close()


def phase_idle_flood(rx: Receiver, n: int) -> dict[str, Any]:
    """Hold `n` idle connections open and time a new client's /healthz meanwhile."""
    doc: dict[str, Any] = {"idle_connections": n, "before": probe(rx.proc.pid)}
    with holding() as held:
        for _ in range(n):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect((HOST, rx.port))
            held.append(sock)
        time.sleep(2)
        doc["during"] = probe(rx.proc.pid)
        started = time.monotonic()
        doc["new_client_healthz"] = request(rx.port, "GET", "/healthz", timeout=10)
        doc["new_client_seconds"] = round(time.monotonic() - started, 3)
    time.sleep(1)
    doc["after"] = probe(rx.proc.pid)
    return doc


def phase_stalled(rx: Receiver, n: int, header_timeout: float) -> dict[str, Any]:
    """Send `n` heads that stop halfway; count those the header timeout closes."""
    doc: dict[str, Any] = {"stalled": n, "before": probe(rx.proc.pid)}
    with holding() as held:
        for i in range(n):
            sock = socket.create_connection((HOST, rx.port), timeout=5)
            # A head that keeps coming just under the size limit, then stops.
            sock.sendall(b"POST /api/v1/transactions HTTP/1.1\r\nHost: x\r\n")
            sock.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 15_000))
            held.append(sock)
        time.sleep(1)
        doc["during"] = probe(rx.proc.pid)
        time.sleep(header_timeout + 1.5)
        closed = 0
        for sock in held:
            sock.settimeout(2)
            with contextlib.suppress(OSError):
                data = sock.recv(65536)
                closed += data.startswith(b"HTTP/1.1 4") or data == b""
        doc["closed_by_timeout"] = closed
    time.sleep(0.5)
    doc["after"] = probe(rx.proc.pid)
    return doc


def phase_statuses(rx: Receiver, offered: int) -> dict[str, Any]:
    before = probe(rx.proc.pid)
    codes: dict[int, int] = {}
    minute = int(time.time()) - 3600
    minute -= minute % 60
    per_batch = 50
    for first in range(0, offered, per_batch):
        names = [f"s{n}" for n in range(first, first + per_batch)]
        code = request(rx.port, "POST", "/api/v1/transactions", records(minute, 1, names))
        codes[code] = codes.get(code, 0) + 1
    # One status at a time past the cap: each is refused on its own too.
    for n in range(offered, offered + 20):
        code = request(rx.port, "POST", "/api/v1/transactions", records(minute, 1, [f"s{n}"]))
        codes[code] = codes.get(code, 0) + 1
    return {
        "offered": offered + 20,
        "codes": codes,
        "before": before,
        "after": probe(rx.proc.pid),
        "metrics_bytes": get_size(rx.port, "/metrics"),
        "summary_bytes": get_size(rx.port, "/api/v1/summary"),
    }


def phase_mixed(rx: Receiver, minutes: float) -> dict[str, Any]:
    before = probe(rx.proc.pid)
    stop = time.monotonic() + minutes * 60
    counts = {"single": 0, "batch": 0, "polls": 0, "errors": 0}
    lock = threading.Lock()
    samples: list[dict[str, Any]] = []

    def tally(kind: str, code: int) -> None:
        with lock:
            counts[kind] += 1
            if code >= 500 or code == 0:
                counts["errors"] += 1

    def single() -> None:
        minute = int(time.time()) - 7200
        i = 0
        while time.monotonic() < stop:
            ts = minute + (i % 7200) * 60
            body = json.dumps({"timestamp": ts, "status": "approved", "count": 100}).encode()
            tally("single", request(rx.port, "POST", "/api/v1/transactions", body))
            i += 1

    def batch() -> None:
        minute = int(time.time()) - 7200
        while time.monotonic() < stop:
            body = records(minute, 25, ["approved", "denied", "failed", "reversed"])
            tally("batch", request(rx.port, "POST", "/api/v1/transactions", body))
            time.sleep(0.2)

    def poll() -> None:
        while time.monotonic() < stop:
            for path in ("/healthz", "/metrics", "/api/v1/summary", "/api/v1/series"):
                tally("polls", request(rx.port, "GET", path))
            time.sleep(0.5)

    workers = [threading.Thread(target=f) for f in (single, single, batch, poll)]
    for worker in workers:
        worker.start()
    while time.monotonic() < stop:
        time.sleep(min(30.0, max(0.1, stop - time.monotonic())))
        samples.append(probe(rx.proc.pid))
    for worker in workers:
        worker.join()
    time.sleep(1)
    return {
        "minutes": minutes,
        "counts": counts,
        "before": before,
        "samples": samples,
        "after": probe(rx.proc.pid),
    }


def show(name: str, doc: dict[str, Any]) -> None:
    b, a = doc["before"], doc["after"]
    say(
        f"  {name:<14} open files {b['open_files']:>4} -> {a['open_files']:>4}   threads "
        f"{b['threads']:>3} -> {a['threads']:>3}   "
        f"RSS {b['rss_mb']:>6.1f} -> {a['rss_mb']:>6.1f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="mixed-load minutes")
    parser.add_argument("--quick", action="store_true", help="1 mixed-load minute")
    args = parser.parse_args(argv)
    minutes = 1.0 if args.quick else args.minutes
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    results: dict[str, Any] = {"file_limit": FILE_LIMIT}
    with tempfile.TemporaryDirectory(prefix="txmon-soak-") as tmp:
        rx = Receiver(Path(tmp))
        try:
            results["idle"] = probe(rx.proc.pid)
            say(f"receiver pid {rx.proc.pid} under ulimit -n {FILE_LIMIT}: {results['idle']}")
            say("[1/5] churn: 3,000 requests on new connections")
            results["churn"] = phase_churn(rx, 3000)
            show("churn", results["churn"])
            say("[2/5] idle flood: 1,100 idle connections")
            results["idle_flood"] = flood = phase_idle_flood(rx, 1100)
            show("idle flood", flood)
            say(f"  while held: {flood['during']}")
            say(
                f"  new client's /healthz: {flood['new_client_healthz']} in "
                f"{flood['new_client_seconds']} s"
            )
            say("[3/5] stalled heads: 40")
            results["stalled"] = stalled = phase_stalled(rx, 40, header_timeout=10.0)
            show("stalled", stalled)
            say(
                f"  RSS while stalled {stalled['during']['rss_mb']} MB; closed by the "
                f"header timeout: {stalled['closed_by_timeout']}/40"
            )
            say("[4/5] status flood: 50,000 distinct statuses")
            results["statuses"] = statuses = phase_statuses(rx, 50_000)
            show("statuses", statuses)
            say(
                f"  answers {statuses['codes']}; /metrics {statuses['metrics_bytes']:,} B, "
                f"/api/v1/summary {statuses['summary_bytes']:,} B"
            )
            say(f"[5/5] mixed load for {minutes:g} min")
            results["mixed"] = mixed = phase_mixed(rx, minutes)
            show("mixed", mixed)
            say(f"  requests {mixed['counts']}")
            results["end"] = probe(rx.proc.pid)
        finally:
            rx.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    say(f"idle {results['idle']} -> end {results['end']}; written to bench/results/soak.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
