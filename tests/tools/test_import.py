"""`txmon-server import` of each CloudWalk file format, over HTTP and straight into a DB."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from server.detect.config import DetectConfig
from server.tools.backtest import replay
from server.tools.csvfiles import load_sorted
from tests.conftest import REPO, SHARED, Live

CLOUDWALK = SHARED / "datasets" / "cloudwalk"
needs_data = pytest.mark.skipif(not CLOUDWALK.exists(), reason="../shared datasets not present")


def run_import(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server", "import", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def totals(db: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(db)
    rows, total = conn.execute("SELECT COUNT(*), SUM(count) FROM transactions").fetchone()
    rolled = conn.execute("SELECT SUM(count) FROM minute_totals").fetchone()[0]
    return rows, total, rolled


@needs_data
@pytest.mark.parametrize(
    ("name", "date", "rows", "total"),
    [
        ("transactions.csv", None, 25_920, 544_320),
        ("transactions_1.csv", "2022-07-01", 4_234, 254_670),
        ("transactions_2.csv", "2022-07-02", 3_944, 308_406),
    ],
)
def test_each_cloudwalk_format_imports_exactly(
    tmp_path: Path, name: str, date: str | None, rows: int, total: int
) -> None:
    db = tmp_path / "import.db"
    extra = ["--date", date] if date else []
    result = run_import(str(CLOUDWALK / name), "--db", str(db), *extra)
    assert result.returncode == 0, result.stderr
    assert f"{rows:,} stored, 0 bad rows" in result.stdout
    assert totals(db) == (rows, total, total)
    # event-time order: ids increase with time although the 2025 file is grouped by status
    conn = sqlite3.connect(db)
    times = [t for (t,) in conn.execute("SELECT ts FROM transactions ORDER BY id")]
    assert times == sorted(times)


@needs_data
def test_import_over_http_reports_alerts_and_is_idempotent(live: Live) -> None:
    path = str(CLOUDWALK / "transactions.csv")
    first = run_import(path, "--url", live.url)
    assert first.returncode == 0, first.stderr
    assert "span        2025-07-12T13:45:00Z .. 2025-07-15T13:44:00Z" in first.stdout
    # The receiver opens what the backtest of the same file opens (not a constant: the
    # detector changes, this equality must not).
    records, _bad = load_sorted(path)
    opened = len(replay(records, DetectConfig()))
    assert opened >= 14  # at least one per labelled incident
    assert f"alerts      {opened} opened" in first.stdout
    again = run_import(path, "--url", live.url)
    assert again.returncode == 0
    # answered again (Idempotent-Replayed), so nothing is reported as stored or opened now
    assert "0 stored, 25,920 stored before" in again.stdout
    assert "alerts      0 opened" in again.stdout
    summary = live.client.get("/api/v1/summary", params={"minutes": 10080}).json()
    assert summary["records_stored"] == 25_920
    assert summary["total"] == 544_320


def test_bad_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,status,count\n"
        "2025-07-12 13:45:00,approved,10\n"
        "2025-07-12 13:46:00,APPROVED,10\n"
        "not a time,denied,3\n"
        "2025-07-12 13:47:00,denied,-4\n"
        "2025-07-12 13:48:00,denied,2\n"
    )
    db = tmp_path / "x.db"
    result = run_import(str(path), "--db", str(db))
    assert result.returncode == 0
    assert f"{path}:3: status" in result.stderr
    assert f"{path}:4: timestamp" in result.stderr
    assert f"{path}:5: count" in result.stderr
    assert "2 stored, 3 bad rows skipped" in result.stdout
    assert totals(db)[:2] == (2, 12)


def test_strict_stops_on_the_first_bad_row_and_imports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,status,count\n2025-07-12 13:45:00,approved,1\nx,y,z\n")
    db = tmp_path / "x.db"
    result = run_import(str(path), "--db", str(db), "--strict")
    assert result.returncode == 1
    assert "stopped at line 3" in result.stderr
    assert not db.exists()


def test_clock_times_need_a_date(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text("time,status,f0_\n00h 00,approved,9\n")
    result = run_import(str(path), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "--date" in result.stderr


def test_unknown_header_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("when,what,how_many\n1,2,3\n")
    result = run_import(str(path), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "header" in result.stderr
    assert "Traceback" not in result.stderr


@needs_data
def test_a_second_import_with_another_batch_size_is_refused_and_stores_nothing_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "import.db"
    path = str(CLOUDWALK / "transactions_2.csv")
    first = run_import(path, "--date", "2022-07-02", "--db", str(db), "--batch", "1000")
    assert first.returncode == 0, first.stderr
    before = totals(db)
    same = run_import(path, "--date", "2022-07-02", "--db", str(db), "--batch", "1000")
    assert same.returncode == 0, same.stderr
    assert "0 stored, 3,944 stored before" in same.stdout
    other = run_import(path, "--date", "2022-07-02", "--db", str(db), "--batch", "3000")
    assert other.returncode == 1
    assert "Traceback" not in other.stderr
    assert "imported before with another --batch" in other.stderr
    assert totals(db) == before == (3_944, 308_406, 308_406)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "0"], "--batch: must be 1-10,000, got 0"),
        (["--batch", "ten"], "--batch: not a whole number"),
        (["--url", "notaurl"], "--url: not an http(s) URL"),
    ],
)
def test_bad_import_arguments_are_clear_errors_not_tracebacks(
    tmp_path: Path, args: list[str], message: str
) -> None:
    csv = tmp_path / "few.csv"
    csv.write_text("timestamp,status,count\n2025-07-12 13:45:00,approved,3\n")
    result = run_import(str(csv), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
