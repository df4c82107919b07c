"""The traffic generator: statistics of the seeded model, injection shapes, and the
`generate` command against a real receiver."""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections import defaultdict

import pytest

from server.tools.generate import MENU, load_scenario, parse_duration, plan
from server.tools.traffic import SHARES, WEEK_START, Injection, generate_minutes
from tests.conftest import REPO, Live

DAY_MINUTES = 1440


def day_counts(seed: int = 3, injections: tuple = (), days: int = 1) -> list[dict[str, int]]:
    return [c for _, c in generate_minutes(WEEK_START, days * DAY_MINUTES, seed, injections)]


def test_shares_are_plausible() -> None:
    totals: dict[str, int] = defaultdict(int)
    for counts in day_counts(days=2):
        for status, count in counts.items():
            totals[status] += count
    grand = sum(totals.values())
    assert 0.88 <= totals["approved"] / grand <= 0.92
    assert 0.05 <= totals["denied"] / grand <= 0.07
    assert set(totals) == set(SHARES)
    zero_minutes = sum(1 for c in day_counts() if c["backend_reversed"] == 0)
    assert zero_minutes > DAY_MINUTES * 0.1  # small statuses are often zero


def test_daily_cycle_is_quiet_at_night_and_busy_at_lunch() -> None:
    minutes = day_counts()
    night = statistics.mean(sum(c.values()) for c in minutes[3 * 60 : 4 * 60])
    lunch = statistics.mean(sum(c.values()) for c in minutes[12 * 60 + 30 : 13 * 60 + 30])
    assert lunch > 5 * night


def test_weekend_is_quieter_than_weekdays() -> None:
    week = [sum(c.values()) for c in day_counts(days=7)]
    weekday = sum(week[:DAY_MINUTES]) / DAY_MINUTES  # WEEK_START is a Monday
    saturday = sum(week[5 * DAY_MINUTES : 6 * DAY_MINUTES]) / DAY_MINUTES
    assert saturday < 0.85 * weekday


def test_noise_is_over_dispersed() -> None:
    # Around the lunch peak the approved count varies more than a Poisson would.
    lunch = [c["approved"] for c in day_counts()[12 * 60 + 40 : 12 * 60 + 50]]
    assert statistics.variance(lunch) > 1.5 * statistics.mean(lunch)


def test_same_seed_same_traffic() -> None:
    assert day_counts(seed=9)[:100] == day_counts(seed=9)[:100]
    assert day_counts(seed=9)[:100] != day_counts(seed=10)[:100]


@pytest.mark.parametrize(
    ("injection", "status", "low", "high"),
    [
        (Injection("spike", WEEK_START + 12 * 3600, 20, "denied", 3.5), "denied", 2.5, 4.5),
        (Injection("drop", WEEK_START + 12 * 3600, 20, "approved", 0.35), "approved", 0.25, 0.45),
        (Injection("surge", WEEK_START + 12 * 3600, 20, None, 3.0), "approved", 2.5, 3.5),
        (Injection("surge", WEEK_START + 12 * 3600, 20, None, 3.0), "denied", 2.2, 3.8),
    ],
)
def test_each_injection_changes_its_window_by_its_factor(
    injection: Injection, status: str, low: float, high: float
) -> None:
    clean = day_counts(seed=5)
    changed = day_counts(seed=5, injections=(injection,))
    window = slice(12 * 60, 12 * 60 + 20)
    ratio = sum(c[status] for c in changed[window]) / sum(c[status] for c in clean[window])
    assert low <= ratio <= high
    assert changed[: 12 * 60] == clean[: 12 * 60]  # nothing changes before it starts


def test_slow_ramp_grows_over_its_hour() -> None:
    ramp = Injection("ramp", WEEK_START + 12 * 3600, 60, "reversed", 5.0)
    counts = day_counts(seed=5, injections=(ramp,))
    first = sum(c["reversed"] for c in counts[12 * 60 : 12 * 60 + 15])
    last = sum(c["reversed"] for c in counts[12 * 60 + 45 : 13 * 60])
    assert last > 2.5 * first


def test_silence_removes_the_status_for_its_window() -> None:
    quiet = Injection("silence", WEEK_START + 12 * 3600, 20, "denied")
    counts = day_counts(seed=5, injections=(quiet,))
    assert all("denied" not in c for c in counts[12 * 60 : 12 * 60 + 20])
    assert "denied" in counts[12 * 60 + 20]


def test_schedule_is_seeded_and_covers_every_kind_of_incident() -> None:
    schedule = plan(WEEK_START, 7 * 400, 300, seed=4)
    assert schedule == plan(WEEK_START, 7 * 400, 300, seed=4)
    assert {p.what for p in schedule[: len(MENU)]} == {m[5] for m in MENU}
    ends = [p.injection.end for p in schedule]
    starts = [p.injection.start for p in schedule]
    assert all(e <= s for e, s in zip(ends, starts[1:], strict=False))  # never overlapping


def test_scenario_file_is_read(tmp_path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(
        '[[injection]]\nkind = "spike"\nstatus = "failed"\nat = 5\nminutes = 10\nfactor = 8\n'
    )
    (planned,) = load_scenario(str(path), WEEK_START)
    assert planned.injection == Injection("spike", WEEK_START + 300, 10, "failed", 8.0)
    path.write_text('[[injection]]\nkind = "explode"\n')
    with pytest.raises(ValueError, match="kind"):
        load_scenario(str(path), WEEK_START)


def test_durations_parse() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "5m", "2h", "2d")] == [
        90,
        90,
        300,
        7200,
        172800,
    ]


def generate(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server", "generate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_backfill_posts_every_status_of_every_minute_once(live: Live) -> None:
    result = generate("--url", live.url, "--backfill", "6h", "--duration", "0")
    assert result.returncode == 0, result.stderr
    assert "backfilled 2,520 records" in result.stdout  # 360 minutes x 7 statuses
    # a second run posts the same batches under the same keys: nothing new is stored
    stored = live.client.get("/api/v1/summary").json()["records_stored"]
    assert stored == 2520


def test_streaming_prints_injections_and_raises_the_alerts(live: Live) -> None:
    result = generate(
        "--url",
        live.url,
        "--backfill",
        "1d",
        "--speed",
        "1200",
        "--anomaly-every",
        "6s",
        "--duration",
        "20s",
        "--seed",
        "2",
    )
    assert result.returncode == 0, result.stderr
    starts = [line for line in result.stdout.splitlines() if " START " in line]
    ends = [line for line in result.stdout.splitlines() if " END " in line]
    assert len(starts) >= 2 and len(ends) >= 1
    alerts = live.client.get("/api/v1/alerts", params={"state": "all"}).json()["alerts"]
    assert alerts, result.stdout


def test_unreachable_receiver_is_a_clear_error_after_retries() -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    result = generate("--url", url, "--backfill", "1h", "--duration", "0", "--give-up", "2s")
    assert result.returncode == 1
    assert "retrying in" in result.stdout
    assert "gave up" in result.stderr and "Traceback" not in result.stderr


def test_receiver_restart_mid_stream_loses_and_duplicates_nothing(spawn) -> None:
    import signal
    import sqlite3
    import time

    server = spawn()
    speed, seconds = 600, 8  # 10 simulated minutes a second
    gen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "generate",
            "--url",
            server.url,
            "--backfill",
            "2h",
            "--speed",
            str(speed),
            "--anomaly-every",
            "0",
            "--duration",
            f"{seconds}s",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    time.sleep(1)
    spawn(db=server.db, port=server.port)
    out, err = gen.communicate(timeout=120)
    assert gen.returncode == 0, err
    assert "retrying in" in out
    conn = sqlite3.connect(server.db)
    minutes = 120 + int(seconds / 60 * speed) + 1
    assert conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == minutes * 7
    dupes = conn.execute(
        "SELECT COUNT(*) FROM (SELECT ts, status FROM transactions GROUP BY ts, status"
        " HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    assert dupes == 0
