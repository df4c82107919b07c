"""Several receivers (`txmon --url A,B`): the dashboard follows the one that answers, says
which one it is on, and sends its actions there. Against real receivers: `txmon-server
serve` processes killed with SIGKILL or stopped with SIGSTOP, and in-process ones."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from textual.pilot import Pilot

from tests.conftest import Live, ServerProcess
from tests.tui.test_tui_app import (
    START,
    USER,
    header,
    make_app,
    minute,
    post,
    run,
    toasts,
    until,
    until_loaded,
    wait_for_toast,
)
from txmon_tui.app import HEALTH_TIMEOUT, TxmonApp
from txmon_tui.screens.ack_note import AckNoteScreen
from txmon_tui.widgets.transactions import TransactionsTable


def seed_history(url: str, *, extra: bool = False, more: int = 0) -> int:
    """The history of test_tui_app.seed (a firing denied alert); `extra` adds a minute of
    `refunded`, a status only this receiver has; `more` approvals a minute make it another
    store's history. Returns the alert's id."""
    with httpx.Client(base_url=url, timeout=30) as client:
        post(
            client,
            [r for m in range(90) for r in minute(m, 115 + m % 11 + more, 5 + m % 4)],
        )
        for m in range(90, 94):
            post(client, minute(m, 118 + more, 70 + m % 3))
        if extra:
            ts = minute(93, 0, 0)[0]["timestamp"]
            post(client, [{"timestamp": ts, "status": "refunded", "count": 3}])
        alerts = client.get("/api/v1/alerts").json()["alerts"]
    assert [(a["status"], a["state"]) for a in alerts] == [("denied", "firing")], alerts
    return int(alerts[0]["id"])


NEAR = START + 95 * 60  # a clock just after the seeded history: the header stays short
WIDER = (160, 40)  # room in the header for the URL part


def where(url: str) -> str:
    return url.removeprefix("http://")


def failover_bound(app: TxmonApp) -> float:
    """Documented bound (docs/dashboard.md): a poll interval for the failure to be seen, the
    poll timeout when the receiver hangs rather than refuses, the probe of the next one."""
    return app.interval + app.client._timeout() + HEALTH_TIMEOUT


@pytest.fixture
def two(spawn: Callable[..., ServerProcess], tmp_path: Path) -> tuple[ServerProcess, ServerProcess]:
    """Two receiver processes with their own databases and the same history; only the
    second has a `refunded` record."""
    a = spawn(db=tmp_path / "a.db")
    b = spawn(db=tmp_path / "b.db")
    seed_history(a.url)
    seed_history(b.url, extra=True)
    return a, b


def on_b(app: TxmonApp, b: ServerProcess) -> bool:
    summary = app.latest.summary
    return (
        app.client.url == b.url
        and app.connection == "live"
        and summary is not None
        and "refunded" in summary.statuses
    )


def test_a_killed_receiver_is_followed_to_the_next_and_acks_land_there(
    two: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert app.client.url == a.url
        assert f"● live on {where(a.url)}" in header(app) and "(1/2)" in header(app)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        killed = time.monotonic()
        await until(pilot, lambda: on_b(app, b), timeout=failover_bound(app) + 5)
        took = time.monotonic() - killed
        assert took < failover_bound(app), took
        line = header(app)
        assert f"● live on {where(b.url)}" in line and f"{b.url} (2/2)" in line
        assert f"receiver {where(a.url)} not answering (connection refused); now on " + where(
            b.url
        ) in "\n".join(toasts(app))
        # B agrees with the rows on screen (as on one store): they stay, B's new one joins
        table = app.query_one(TransactionsTable)
        await until(pilot, lambda: any(t.status == "refunded" for t in table.records.values()))
        assert table.row_count == 189
        # an acknowledgement goes to the receiver in use
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckNoteScreen))
        await pilot.press(*"seen on b", "enter")
        await wait_for_toast(pilot, "Acknowledged")
        doc = httpx.get(f"{b.url}/api/v1/alerts/1", timeout=10).json()
        assert (doc["state"], doc["acknowledged_by"], doc["ack_note"]) == (
            "acknowledged",
            USER,
            "seen on b",
        )
        await until(pilot, lambda: "0 firing 1 acked" in header(app))

    run(make_app(f"{a.url},{b.url}", clock=lambda: NEAR), scenario, size=WIDER)


def test_another_stores_rows_replace_the_table(
    spawn: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """B's history differs (another store): the table is reloaded from B, never a mix."""
    a = spawn(db=tmp_path / "a.db")
    b = spawn(db=tmp_path / "b.db")
    seed_history(a.url)
    seed_history(b.url, extra=True, more=1000)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        assert max(t.count for t in table.records.values()) < 1000
        a.kill()
        await until(pilot, lambda: on_b(app, b), timeout=failover_bound(app) + 5)
        await until(pilot, lambda: table.row_count == 189)
        approved = [t.count for t in table.records.values() if t.status == "approved"]
        assert len(approved) == 94 and min(approved) >= 1000, approved

    run(make_app(f"{a.url},{b.url}"), scenario)


def test_a_receiver_behind_the_one_left_replaces_the_table(
    spawn: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """B holds A's first 188 records and not the 4 A got later: B's rows alone, not A's
    newest on top of them."""
    a = spawn(db=tmp_path / "a.db")
    b = spawn(db=tmp_path / "b.db")
    seed_history(a.url)
    seed_history(b.url)
    with httpx.Client(base_url=a.url, timeout=30) as client:
        post(client, minute(94, 117, 6) + minute(95, 116, 7))  # ids 189-192, A only
    only_on_a = {minute(94, 0, 0)[0]["timestamp"], minute(95, 0, 0)[0]["timestamp"]}

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        await until(pilot, lambda: table.row_count == 192)
        a.kill()
        await until(
            pilot,
            lambda: app.client.url == b.url and app.connection == "live",
            timeout=failover_bound(app) + 5,
        )
        await until(pilot, lambda: table.row_count == 188)
        assert not {t.timestamp for t in table.records.values()} & only_on_a

    run(make_app(f"{a.url},{b.url}"), scenario)


def test_a_hung_receiver_is_left_within_the_poll_timeout(
    two: tuple[ServerProcess, ServerProcess],
) -> None:
    """SIGSTOP: the kernel still accepts connections, nothing answers."""
    a, b = two

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        a.proc.send_signal(signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            await until(pilot, lambda: "no answer for" in header(app), timeout=5)
            assert where(a.url) in header(app)
            await until(pilot, lambda: on_b(app, b), timeout=failover_bound(app) + 5)
            took = time.monotonic() - stopped
            assert took < failover_bound(app), took
            await wait_for_toast(pilot, f"receiver {where(a.url)} not answering (no answer")
        finally:
            a.proc.send_signal(signal.SIGCONT)

    run(make_app(f"{a.url},{b.url}"), scenario)


def test_it_stays_on_the_receiver_it_moved_to(two: tuple[ServerProcess, ServerProcess]) -> None:
    """Sticky: once on B it stays there while B answers, even when A is back."""
    a, b = two

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        a.kill()
        await until(pilot, lambda: on_b(app, b), timeout=failover_bound(app) + 5)
        polls = app.polls
        await until(pilot, lambda: app.polls >= polls + 10)
        assert app.client.url == b.url and app.connection == "live"

    run(make_app(f"{a.url},{b.url}"), scenario)


def test_every_receiver_down_says_all_failed_then_follows_the_one_back(
    two: tuple[ServerProcess, ServerProcess], spawn: Callable[..., ServerProcess]
) -> None:
    a, b = two

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        a.kill()
        b.kill()
        await until(pilot, lambda: app.connection == "reconnecting", timeout=10)
        before = len(toasts(app))
        line = header(app)
        assert "✖ disconnected: all 2 receivers failed" in line, line
        assert "r: retry now" in line and "as of" in line
        assert "as of" in str(app.query_one(TransactionsTable).border_title)
        assert app.body.has_class("-stale")
        toast = await wait_for_toast(pilot, "Receivers unreachable")
        assert f"{where(a.url)} connection refused" in toast
        assert f"{where(b.url)} connection refused" in toast
        assert app.query_one(TransactionsTable).row_count == 188  # the last data stays
        await until(pilot, lambda: app.failures >= 3, timeout=20)  # retries, quietly
        later = toasts(app)[before:]
        assert len([t for t in toasts(app) if "Receivers unreachable" in t]) == 1
        assert not [t for t in later if t.startswith(("Failover", "Receivers"))], later
        # B comes back on its port: the dashboard finds it, whichever it tries first
        spawn(db=b.db, port=b.port)
        back = time.monotonic()
        await until(pilot, lambda: on_b(app, b), timeout=15)
        assert time.monotonic() - back < 2 * (2.0 + HEALTH_TIMEOUT)
        await wait_for_toast(pilot, f"Live again on {where(b.url)}")

    run(make_app(f"{a.url},{b.url}"), scenario)


def test_an_action_that_cannot_reach_the_receiver_in_use_is_done_by_the_next(
    two: tuple[ServerProcess, ServerProcess],
) -> None:
    """Paused on A (the poller has not noticed A is gone): the ack goes to B, once, and the
    dashboard moves to B."""
    a, b = two

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("p")
        await until(pilot, lambda: app.connection == "paused")
        a.kill()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckNoteScreen))
        await pilot.press(*"via b", "enter")
        await wait_for_toast(pilot, "Acknowledged")
        await wait_for_toast(pilot, f"now on {where(b.url)}")
        doc = httpx.get(f"{b.url}/api/v1/alerts/1", timeout=10).json()
        assert (doc["state"], doc["ack_note"]) == ("acknowledged", "via b")
        await until(pilot, lambda: app.client.url == b.url)
        await until(pilot, lambda: "paused on " + where(b.url) in header(app))

    run(make_app(f"{a.url},{b.url}"), scenario)


def test_a_rejected_token_is_shown_not_failed_over(
    make_receiver: Callable[..., Live], tmp_path: Path
) -> None:
    """401 is a setting to fix: the dashboard stays and says so; B is never asked."""
    a = make_receiver(token="right", db=str(tmp_path / "a.db"))
    b = make_receiver(db=str(tmp_path / "b.db"))
    seed_history(b.url)

    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, TxmonApp)
        await until(pilot, lambda: app.connection == "unauthorized")
        await until(pilot, lambda: app.failures >= 3, timeout=15)
        assert app.client.url == a.url
        assert app.receivers.clients[1].requests_sent == 0
        line = header(app)
        assert f"token rejected on {where(a.url)}" in line and "? firing" in line
        assert not [t for t in toasts(app) if t.startswith("Failover")]

    run(make_app(f"{a.url},{b.url}", token="wrong"), scenario)


class _Unavailable(BaseHTTPRequestHandler):
    """A receiver whose database is gone: every request answers 503, as docs/api.md says."""

    def do_GET(self) -> None:
        body = json.dumps({"error": "database unreachable"}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unavailable() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_receiver_answering_503_is_failed_over(unavailable: str, live: Live) -> None:
    seed_history(live.url)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert app.client.url == live.url and app.connection == "live"
        toast = await wait_for_toast(pilot, "Failover")
        assert f"receiver {where(unavailable)} not answering (HTTP 503" in toast
        assert f"now on {where(live.url)}" in toast

    run(make_app(f"{unavailable},{live.url}"), scenario)


def test_one_receiver_shows_no_receiver_name(live: Live) -> None:
    """The single-receiver screen is unchanged: no `on host:port`, no `(1/1)`."""
    seed_history(live.url)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        line = header(app)
        assert "● live │" in line and " on " not in line.split("│")[0]
        assert line.rstrip().endswith(f"txmon {live.url}")

    run(make_app(live.url, clock=lambda: NEAR), scenario, size=WIDER)
