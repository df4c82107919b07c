"""Pilot tests of the dashboard against a real receiver on a free loopback port."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from rich.text import Text
from textual.pilot import Pilot

from server.api.server import TxmonHTTPServer
from server.config import NotifyConfig
from tests.conftest import Live, free_port
from tests.tui.gate import Gate
from txmon_tui import severity
from txmon_tui.app import TxmonApp
from txmon_tui.config import Settings
from txmon_tui.screens.ack_note import AckNoteScreen
from txmon_tui.screens.alert_detail import AlertDetailScreen
from txmon_tui.screens.confirm import ConfirmScreen
from txmon_tui.screens.filter import CheckList, FilterScreen
from txmon_tui.screens.help import HelpScreen
from txmon_tui.screens.silence import SilenceScreen
from txmon_tui.screens.silences import SilencesScreen
from txmon_tui.screens.too_small import TooSmallScreen
from txmon_tui.widgets.alerts import AlertsTable
from txmon_tui.widgets.header import StatusBar
from txmon_tui.widgets.sparklines import SparklinesPanel
from txmon_tui.widgets.transactions import TransactionsTable

START = 1_752_300_000 - 1_752_300_000 % 3600  # an hour boundary in July 2025
USER = "tester@host"
WIDE = (120, 40)


# --- seeding the receiver ----------------------------------------------------------------------


def minute(m: int, approved: int, denied: int) -> list[dict[str, Any]]:
    ts = START + m * 60
    return [
        {"timestamp": ts, "status": "approved", "count": approved},
        {"timestamp": ts, "status": "denied", "count": denied},
    ]


def post(client: httpx.Client, body: list[dict[str, Any]]) -> dict[str, Any]:
    answer = client.post("/api/v1/transactions", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def seed(live: Live) -> dict[str, Any]:
    """90 quiet minutes, then denied at 70/min for 4 minutes: high records and a firing alert."""
    post(live.client, [r for m in range(90) for r in minute(m, 115 + m % 11, 5 + m % 4)])
    for m in range(90, 94):
        post(live.client, minute(m, 118, 70 + m % 3))
    alerts = live.client.get("/api/v1/alerts").json()["alerts"]
    assert [(a["status"], a["state"]) for a in alerts] == [("denied", "firing")], alerts
    return alerts[0]


def alert_state(live: Live, alert_id: int) -> dict[str, Any]:
    return live.client.get(f"/api/v1/alerts/{alert_id}").json()


# --- running the app ---------------------------------------------------------------------------


def make_app(
    url: str,
    look: severity.Look | None = severity.COLOR,
    clock: Callable[[], float] = time.time,
    **settings: Any,
) -> TxmonApp:
    base = Settings(url=url, interval=0.2, user=USER)
    app = TxmonApp(replace(base, **settings), look=look, clock=clock)
    # Only the newest two toasts stay on screen: keep every one for the assertions.
    seen: list[str] = []
    shown = app.notify

    def notify(message: str, **options: Any) -> None:
        seen.append(f"{options.get('title', '')}: {message}")
        shown(message, **options)

    app.notify = notify  # type: ignore[method-assign]
    app.seen_toasts = seen  # type: ignore[attr-defined]
    return app


def run(
    app: TxmonApp,
    scenario: Callable[[Pilot[None]], Awaitable[None]],
    size: tuple[int, int] = WIDE,
) -> None:
    """Run a Pilot scenario in a fresh event loop."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Let the app run until `predicate()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)


async def until_loaded(pilot: Pilot[None]) -> TxmonApp:
    app = pilot.app
    assert isinstance(app, TxmonApp)
    await until(pilot, lambda: app.polls >= 1 and app.query_one(TransactionsTable).row_count)
    await until(pilot, lambda: app.query_one(AlertsTable).row_count or not app.latest.alerts)
    await pilot.pause()
    return app


def toasts(app: TxmonApp) -> list[str]:
    """Title and message of every notification so far (shown or already gone)."""
    return list(app.seen_toasts)  # type: ignore[attr-defined]


def header(app: TxmonApp) -> str:
    return app.query_one(StatusBar).render().plain


async def wait_for_toast(pilot: Pilot[None], text: str) -> str:
    app = pilot.app
    assert isinstance(app, TxmonApp)
    return await until(pilot, lambda: next((t for t in toasts(app) if text in t), None))


# --- what is shown -----------------------------------------------------------------------------


def test_high_rows_are_red_bold_and_say_so(live: Live) -> None:
    seed(live)
    high_ids = {
        r["id"]
        for r in live.client.get("/api/v1/transactions", params={"severity": "high"}).json()[
            "transactions"
        ]
    }
    assert high_ids

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        assert table.row_count == 188
        for row_id in high_ids:
            cells = table.get_row(str(row_id))
            assert all(isinstance(c, Text) and c.style == severity.COLOR.high for c in cells)
            assert "HIGH" in cells[0].plain
        normal = table.get_row("1")
        assert all(c.style == "" for c in normal) and "ok" in normal[0].plain
        # newest first
        assert table.coordinate_to_cell_key((0, 0)).row_key.value == str(max(table.records))
        # the other panels
        assert " 1 FIRING  0 acked" in header(app) and "live" in header(app)
        sparks = app.query_one(SparklinesPanel)
        # The series arrive on their own poll, possibly after the table and the alerts.
        await until(
            pilot, lambda: "denied" in sparks.rows and sparks.rows["denied"].has_class("-high")
        )
        assert sparks.rows["approved"].has_class("-normal")
        assert "HIGH" in str(sparks.rows["denied"].query_one(".spark-stats").render())
        alerts = app.query_one(AlertsTable)
        assert [a.status for a in alerts.alerts] == ["denied"]
        assert "FIRING" in alerts.get_row_at(0)[0].plain
        assert app.selected_status == "denied"

    run(live_app(live), scenario)


def live_app(live: Live, **settings: Any) -> TxmonApp:
    return make_app(live.url, **settings)


def test_new_rows_arrive_live_and_wait_while_scrolled_down(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        post(live.client, minute(94, 117, 6))
        await until(pilot, lambda: table.row_count == 190)
        top = table.coordinate_to_cell_key((0, 0)).row_key.value
        assert top == str(max(table.records))
        # scroll away from the top: new rows wait and are counted
        table.focus()
        await pilot.press("down", "down", "down")
        held = table.selected
        post(live.client, minute(95, 117, 6))
        await until(pilot, lambda: table.pending_count == 2)
        assert table.row_count == 190 and table.selected == held
        assert "2 new" in str(table.border_subtitle)
        await pilot.press("g")
        await until(pilot, lambda: table.row_count == 192 and not table.pending_count)
        assert table.cursor_row == 0
        assert table.coordinate_to_cell_key((0, 0)).row_key.value == str(max(table.records))

    run(live_app(live), scenario)


# --- keys that change the receiver's state -----------------------------------------------------


def test_a_acknowledges_with_a_note_and_u_undoes_it(live: Live) -> None:
    alert = seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckNoteScreen))
        await pilot.press(*"vendor paged", "enter")
        await wait_for_toast(pilot, "Acknowledged")
        doc = alert_state(live, alert["id"])
        assert (doc["state"], doc["acknowledged_by"], doc["ack_note"]) == (
            "acknowledged",
            USER,
            "vendor paged",
        )
        await until(pilot, lambda: "0 firing 1 acked" in header(app))
        await until(pilot, lambda: app.query_one(AlertsTable).alerts[0].state == "acknowledged")
        # a second a on an acknowledged alert says so instead of asking the receiver
        await pilot.press("a")
        await wait_for_toast(pilot, "already acknowledged")
        await pilot.press("u")
        await wait_for_toast(pilot, "Unacknowledged")
        assert alert_state(live, alert["id"])["state"] == "firing"
        await until(pilot, lambda: " 1 FIRING  0 acked" in header(app))

    run(live_app(live), scenario)


def test_escape_cancels_the_ack(live: Live) -> None:
    alert = seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, AckNoteScreen))
        await pilot.press("escape")
        await pilot.pause()
        assert alert_state(live, alert["id"])["state"] == "firing"

    run(live_app(live), scenario)


def test_a_on_a_transaction_acks_the_alert_of_its_status(live: Live) -> None:
    alert = seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        table.focus()
        approved_row = next(
            i for i in range(table.row_count) if table.get_row_at(i)[2].plain == "approved"
        )
        table.move_cursor(row=approved_row)
        await pilot.press("a")
        await wait_for_toast(pilot, "no open alert for 'approved'")
        denied_row = next(
            i for i in range(table.row_count) if table.get_row_at(i)[2].plain == "denied"
        )
        table.move_cursor(row=denied_row)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AckNoteScreen))
        await pilot.press("enter")
        await wait_for_toast(pilot, "Acknowledged")
        doc = alert_state(live, alert["id"])
        assert doc["state"] == "acknowledged" and doc["ack_note"] is None

    run(live_app(live), scenario)


def test_shift_a_acknowledges_every_firing_alert_after_confirmation(live: Live) -> None:
    alert = seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert alert_state(live, alert["id"])["state"] == "firing"
        await pilot.press("A")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for_toast(pilot, "Acknowledged 1 alert(s)")
        assert alert_state(live, alert["id"])["state"] == "acknowledged"

    run(live_app(live), scenario)


def test_s_silences_the_selected_status_and_shift_s_removes_it(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("s")  # the alerts panel has focus: its alert's status
        await until(pilot, lambda: isinstance(app.screen, SilenceScreen))
        assert app.screen.status == "denied"
        await pilot.press("2")
        await wait_for_toast(pilot, "denied silenced for 60 min")
        silences = live.client.get("/api/v1/silences").json()["silences"]
        assert [(s["status"], s["created_by"]) for s in silences] == [("denied", USER)]
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SilencesScreen))
        screen = app.screen
        await until(pilot, lambda: screen.silences)
        await pilot.press("d")
        await wait_for_toast(pilot, f"Removed silence #{silences[0]['id']}")
        assert live.client.get("/api/v1/silences").json()["silences"] == []
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SilencesScreen))

    run(live_app(live), scenario)


def test_silence_uses_the_sparkline_selection(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("2")  # focus the sparklines
        panel = app.query_one(SparklinesPanel)
        panel.select("approved")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SilenceScreen))
        await pilot.press("1")
        await wait_for_toast(pilot, "approved silenced for 15 min")
        silences = live.client.get("/api/v1/silences").json()["silences"]
        assert [s["status"] for s in silences] == ["approved"]

    run(live_app(live), scenario)


def test_t_without_channels_shows_the_receivers_reason(live: Live) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: pilot.app.polls >= 1)
        await pilot.press("t")
        toast = await wait_for_toast(pilot, "no notification channel is configured")
        assert "HTTP 409" in toast

    run(live_app(live), scenario)


class _Sink(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


def test_t_shows_each_channels_result(make_receiver: Callable[..., Live]) -> None:
    sink = HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=sink.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        hook = f"http://127.0.0.1:{sink.server_address[1]}/hook"
        live = make_receiver(notify=NotifyConfig(webhook_url=hook))

        async def scenario(pilot: Pilot[None]) -> None:
            await until(pilot, lambda: pilot.app.polls >= 1)
            await pilot.press("t")
            toast = await wait_for_toast(pilot, "✓ webhook")
            assert toast.startswith("Test alert sent")

        run(live_app(live), scenario)
        assert _Sink.bodies
    finally:
        sink.shutdown()
        sink.server_close()
        thread.join(5)


def test_read_only_refuses_every_state_change(live: Live) -> None:
    alert = seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert "READ-ONLY" in header(app)
        shown = {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}
        assert not shown & {"ack", "ack_all", "unack", "test_fire", "silence"}
        assert {"pause", "filter", "help", "quit"} <= shown
        for key, what in (
            ("a", "acknowledge"),
            ("A", "acknowledge"),
            ("u", "unacknowledge"),
            ("t", "test-fire"),
            ("s", "silence"),
        ):
            app.seen_toasts.clear()  # type: ignore[attr-defined]
            await pilot.press(key)
            await wait_for_toast(pilot, f"Cannot {what}: read-only")
            assert app.screen is app.screen_stack[0], f"{key} opened a dialog"
        assert alert_state(live, alert["id"])["state"] == "firing"
        assert live.client.get("/api/v1/silences").json()["silences"] == []
        # the detail screen and silences list do not offer changes either
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SilencesScreen))
        await pilot.press("d")
        await wait_for_toast(pilot, "Cannot remove a silence: read-only")
        await pilot.press("escape")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AlertDetailScreen)
        assert alert_state(live, alert["id"])["state"] == "firing"

    run(live_app(live, read_only=True), scenario)


# --- keys that change the view -----------------------------------------------------------------


def test_p_pauses_polling_and_resumes(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        await pilot.press("p")
        await until(pilot, lambda: "paused" in header(app))
        await pilot.pause(0.3)  # let a poll already in flight finish
        sent, polls = app.client.requests_sent, app.polls
        post(live.client, minute(94, 117, 6))
        await pilot.pause(6 * app.interval)  # six intervals of silence
        assert (app.client.requests_sent, app.polls, table.row_count) == (sent, polls, 188)
        await pilot.press("p")
        await until(pilot, lambda: table.row_count == 190)
        assert "live" in header(app)

    run(live_app(live), scenario)


def test_r_refreshes_while_paused(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("p")
        await pilot.pause(0.3)
        post(live.client, minute(94, 117, 6))
        await pilot.press("r")
        await until(pilot, lambda: app.query_one(TransactionsTable).row_count == 190)
        assert app.paused and "paused" in header(app)

    run(live_app(live), scenario)


def test_f_filters_the_table_by_severity_and_status(live: Live) -> None:
    seed(live)
    high = live.client.get("/api/v1/transactions", params={"severity": "high"}).json()

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        table = app.query_one(TransactionsTable)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        await pilot.press("tab")  # to the severity list; high is first
        await pilot.press("space", "enter")
        await until(pilot, lambda: table.row_count == len(high["transactions"]))
        assert {t.severity for t in table.records.values()} == {"high"}
        assert "severity=high" in header(app)
        # new rows that do not match stay out
        post(live.client, minute(94, 117, 6))
        await until(pilot, lambda: app.latest.last_id is not None and app.polls > 3)
        await pilot.pause(0.5)
        assert {t.severity for t in table.records.values()} == {"high"}
        # status filter only, then clear
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        await pilot.press("x")
        statuses = app.screen.query_one("#filter-statuses", CheckList)
        assert statuses.has_focus and [v for v, _ in statuses.items] == ["approved", "denied"]
        await pilot.press("j")  # j/k move as in the other lists
        assert statuses.highlighted == 1
        await pilot.press("k")
        assert statuses.highlighted == 0
        await pilot.press("space", "enter")
        await until(pilot, lambda: table.row_count == 95)
        assert {t.status for t in table.records.values()} == {"approved"}
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        await pilot.press("x", "enter")
        await until(pilot, lambda: table.row_count == 190)

    run(live_app(live), scenario)


def test_enter_shows_the_alert_detail_with_its_timeline(live: Live) -> None:
    alert = seed(live)
    live.client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ana", "note": "on it"})

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen))
        screen = app.screen
        await until(pilot, lambda: screen.alert is not None)
        timeline = screen.query_one("#detail-timeline")
        events = [timeline.get_row_at(i)[1] for i in range(timeline.row_count)]
        assert events[0] == "opened" and events[-1] == "acknowledged"
        # one clock per column: the opening at its minute (July 2025), the ack at none
        times = [timeline.get_row_at(i)[0] for i in range(timeline.row_count)]
        assert times[0].startswith("2025-07-12") and times[-1] == "—", times
        assert screen.alert.ack_note == "on it" and screen.alert.acknowledged_by == "ana"
        await pilot.press("u")  # unack from the detail
        await wait_for_toast(pilot, "Unacknowledged")
        assert alert_state(live, alert["id"])["state"] == "firing"

    run(live_app(live), scenario)


def test_help_lists_every_key(live: Live) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = {k for line, _ in app.screen.keys for k in line.split()}
        assert {"a", "A", "u", "t", "s", "S", "p", "r", "/", "⏎", "?", "q"} <= keys
        # polling goes on behind a dialog
        post(live.client, minute(0, 117, 6))
        await until(pilot, lambda: app.table.row_count == 2 and "1 firing" not in header(app))
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)

    run(live_app(live), scenario)


def test_small_terminal_is_compact_and_too_small_says_so(live: Live) -> None:
    seed(live)

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        assert app.compact and app.query_one("#body").has_class("-compact")
        assert app.query_one("#alerts").display and not app.query_one("#chart").display
        await pilot.press("4")
        assert app.query_one("#chart").display and not app.query_one("#alerts").display
        await pilot.resize_terminal(50, 12)
        await until(pilot, lambda: isinstance(app.screen, TooSmallScreen))
        assert "50x12" in str(app.screen.query_one("#too-small-text").render())
        await pilot.resize_terminal(*WIDE)
        await until(pilot, lambda: not isinstance(app.screen, TooSmallScreen))
        await until(pilot, lambda: not app.compact)
        assert app.query_one("#alerts").display and app.query_one("#chart").display

    run(live_app(live), scenario, size=(80, 24))


# --- the receiver going away -------------------------------------------------------------------


def test_receiver_restart_shows_reconnecting_then_recovers(live: Live) -> None:
    seed(live)
    port = live.server.server_address[1]
    proxy = Gate(port)
    proxy.start()
    second: list[TxmonHTTPServer] = []

    async def scenario(pilot: Pilot[None]) -> None:
        app = await until_loaded(pilot)
        # the receiver stops: its HTTP front closes and every connection drops
        live.server.shutdown()
        live.server.server_close()
        proxy.stop()
        await until(pilot, lambda: app.connection == "reconnecting")
        assert "retry in" in header(app) and "r: retry now" in header(app)
        assert "connection refused" in header(app)
        await wait_for_toast(pilot, "Receiver unreachable")
        assert app.query_one(TransactionsTable).row_count == 188  # last data kept
        await until(pilot, lambda: app.failures >= 2)
        # it comes back on the same port, with more data
        server = TxmonHTTPServer(replace(live.config, port=port), live.receiver)
        second.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        post(live.client, minute(94, 117, 6))
        proxy.start()
        await until(pilot, lambda: app.connection == "live", timeout=20)
        await wait_for_toast(pilot, "Reconnected")
        await until(pilot, lambda: app.query_one(TransactionsTable).row_count == 190)
        assert "live" in header(app)

    try:
        run(make_app(proxy.url), scenario)
    finally:
        proxy.stop()
        for server in second:
            server.shutdown()
            server.server_close()


def test_nothing_listening_keeps_retrying(live: Live) -> None:
    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, TxmonApp)
        await until(pilot, lambda: app.connection == "reconnecting")
        await until(pilot, lambda: app.failures >= 2)
        assert "connection refused" in header(app)

    run(make_app(f"http://127.0.0.1:{free_port()}"), scenario)


def test_a_url_with_a_path_says_what_answered_instead_of_connecting_forever(live: Live) -> None:
    """The receiver answers 404 under /txmon/...: that is a wrong address, not a slow one."""

    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, TxmonApp)
        await until(pilot, lambda: app.connection == "unexpected")
        assert "unexpected answer" in header(app) and "404" in header(app)
        assert "no path" in str(app.guide.render())
        await wait_for_toast(pilot, "404")
        await until(pilot, lambda: app.failures >= 2, timeout=15)  # retried, one toast only
        assert sum("404" in t for t in toasts(app)) == 1

    run(make_app(live.url + "/txmon"), scenario)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_wrong_token_is_reported_as_such(
    make_receiver: Callable[..., Live], token: str | None
) -> None:
    live = make_receiver(token="right")

    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, TxmonApp)
        await until(pilot, lambda: app.connection == "unauthorized")
        assert "token rejected" in header(app)
        toast = await wait_for_toast(pilot, "401")
        assert ("rejected the token" if token else "needs a token") in toast

    run(live_app(live, token=token), scenario)


def test_the_right_token_works(make_receiver: Callable[..., Live]) -> None:
    live = make_receiver(token="right")

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: pilot.app.connection == "live")

    run(live_app(live, token="right"), scenario)
