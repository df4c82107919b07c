"""`txmon demo` starts a receiver and the generator, and stops both cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import REPO, wait_until


def parse_ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_headless_demo_runs_an_incident_and_stops_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "demo" / "txmon.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "txmon_tui.cli",
            "demo",
            "--headless",
            "30",
            "--db",
            str(db),
            "--anomaly-every",
            "10s",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert db.exists()
    log = (db.parent / "generate.log").read_text()
    assert "START  denied spike" in log
    # The first day of history is the detector's warm-up (docs/detection.md): on a weekday start
    # the first evening's decline may open an approved drop there. After it, every alert is one
    # the generator injected, and the first injection (a denied spike) is the first of them.
    history_from = re.search(r"backfilling [\d,]+ minutes from (\S+Z)", log)
    assert history_from, log
    warmed = parse_ts(history_from.group(1)) + 86400
    alerts = [
        (int(m.group(1)), m.group(2), parse_ts(m.group(3)))
        for m in re.finditer(r"^alert #(\d+) (\w+ \w+) \w+ \w+ since (\S+Z)$", result.stdout, re.M)
    ]
    after_warmup = sorted((n, what) for n, what, since in alerts if since >= warmed)
    assert after_warmup and after_warmup[0][1] == "denied spike", result.stdout
    assert '"event":"stopped","clean":true' in (db.parent / "receiver.log").read_text()


def test_sigterm_stops_the_demo_and_its_children(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "txmon_tui.cli",
            "demo",
            "--headless",
            "600",
            "--db",
            str(tmp_path / "txmon.db"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kids = wait_until(lambda: len(children_of(proc.pid)) >= 2 and children_of(proc.pid), timeout=30)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    wait_until(lambda: not any(alive(k) for k in kids), timeout=10)


def test_demo_without_a_terminal_gives_a_hint() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "txmon_tui.cli", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert "--headless" in result.stderr
