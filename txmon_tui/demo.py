"""`txmon demo`: a receiver, the traffic generator and the dashboard, in one terminal.

The receiver and the generator run as child processes (their output goes to log files in the
demo's directory, so it never scribbles over the dashboard); quitting the dashboard, Ctrl-C,
SIGTERM or a closed SSH session stops both, waits for them, and leaves no process behind.
"""

from __future__ import annotations

import argparse
import contextlib
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
from types import FrameType

import httpx

from server.tools.options import Option, add_options, add_traffic_options

EPILOG = """\
examples:
  txmon demo                                  # temporary DB, 2 days of history, live traffic
  txmon demo --db ./demo.db --anomaly-every 3m
  txmon demo --replay ../shared/datasets/cloudwalk/transactions.csv
  txmon demo --headless 60                    # no dashboard: run a minute and print the alerts
Set TXMON_TELEGRAM_TOKEN and TXMON_TELEGRAM_CHAT_ID (see docs/alerts.md) to get the
incidents on your phone as well."""


DATABASE = Option(
    "--db", "database file to use and keep (default: a temporary one)", metavar="PATH"
)
SOURCE_AND_MODE: tuple[Option, ...] = (
    Option(
        "--replay",
        "import this CloudWalk-format file instead of generating traffic",
        metavar="FILE.csv",
    ),
    Option("--date", "the day of a --replay file with 'HHh MM' times", metavar="YYYY-MM-DD"),
    Option(
        "--headless",
        "run without the dashboard for this long, then print the alerts"
        " and stop (for scripts and tests)",
        float,
        metavar="SECONDS",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options: where to keep the database, the generator's traffic options (its
    own declaration, checked here and passed on to it as typed), or a file to replay instead,
    and headless mode for scripts."""
    add_options(parser, [DATABASE])
    add_traffic_options(parser, anomaly_every="2m", as_text=True)
    add_options(parser, SOURCE_AND_MODE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoError(RuntimeError):
    """A part of the demo could not start; the message says which and where its log is."""


@dataclass
class Demo:
    """The demo's child processes and where they write."""

    folder: Path
    db: Path
    port: int = field(default_factory=free_port)
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Start `python -m server ARGS` with its output in NAME.log (the demo's receiver is
        on loopback and needs no token, so an exported TXMON_TOKEN is not passed on)."""
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**{k: v for k, v in os.environ.items() if k != "TXMON_TOKEN"}, **(env or {})},
        )
        log.close()
        self.children.append((name, proc))

    def start_receiver(self) -> None:
        # The generator runs ahead of real time; allow its event times for the demo's life.
        env = {"TXMON_MAX_FUTURE_SECONDS": str(30 * 86_400), "TXMON_GROUP_WAIT": "5"}
        self.spawn(
            "receiver",
            "serve",
            "--db",
            str(self.db),
            "--port",
            str(self.port),
            "--access-log",
            "errors",
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            proc = self.children[-1][1]
            if proc.poll() is not None:
                raise DemoError(f"the receiver exited; see {self.folder / 'receiver.log'}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise DemoError(f"the receiver did not start; see {self.folder / 'receiver.log'}")

    def stop(self) -> None:
        """SIGTERM every child (the receiver commits and closes its DB), then wait."""
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in reversed(self.children):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.children.clear()


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP (a closed SSH session) into a clean exit."""

    def leave(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, leave) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace, dashboard_settings: object | None = None) -> int:
    """Start everything, run the dashboard (or wait), and always stop everything."""
    with contextlib.ExitStack() as stack:
        if args.db:
            db = Path(args.db).resolve()
            folder = db.parent
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="txmon-demo-")))
            db = folder / "txmon.db"
        demo = Demo(folder, db)
        stack.enter_context(_stop_on_signals())
        stack.callback(demo.stop)
        print(f"txmon demo: starting a receiver on {demo.url} (logs in {folder})", flush=True)
        demo.start_receiver()
        if args.replay:
            replay = ["import", args.replay, "--url", demo.url]
            if args.date:
                replay += ["--date", args.date]
            print(f"txmon demo: importing {args.replay} ...", flush=True)
            done = subprocess.run([sys.executable, "-m", "server", *replay], check=False)
            if done.returncode != 0:
                raise DemoError(f"importing {args.replay} failed")
        else:
            print(
                f"txmon demo: posting {args.backfill} of history, then live traffic at "
                f"x{args.speed} with an incident every {args.anomaly_every}"
                f" (what is injected: {folder / 'generate.log'})",
                flush=True,
            )
            demo.spawn(
                "generate",
                "generate",
                "--url",
                demo.url,
                "--backfill",
                args.backfill,
                "--speed",
                args.speed,
                "--anomaly-every",
                args.anomaly_every,
                "--seed",
                args.seed,
            )
        if args.headless is not None:
            return _headless(demo, args.headless)
        return _dashboard(demo, dashboard_settings)
    return 0


def _headless(demo: Demo, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, proc in demo.children:
            if proc.poll() is not None and name == "receiver":
                raise DemoError("the receiver stopped unexpectedly")
        time.sleep(0.2)
    summary = httpx.get(demo.url + "/api/v1/summary", timeout=10).json()
    alerts = httpx.get(demo.url + "/api/v1/alerts", params={"state": "all"}, timeout=10).json()
    print(
        f"records stored: {summary['records_stored']}, newest event time:"
        f" {summary['newest_event_time']}"
    )
    for alert in alerts["alerts"]:
        print(
            f"alert #{alert['id']} {alert['status']} {alert['kind']} {alert['severity']}"
            f" {alert['state']} since {alert['first_seen']}"
        )
    return 0


def _dashboard(demo: Demo, settings: object | None) -> int:
    from dataclasses import replace

    from txmon_tui.app import TxmonApp
    from txmon_tui.config import Settings

    base = settings if isinstance(settings, Settings) else Settings()
    app = TxmonApp(replace(base, url=demo.url, token=None))
    app.run(mouse=base.mouse)
    return app.return_code or 0
