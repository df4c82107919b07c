"""The dashboard app: polls the receiver's API and drives the panels and actions.

Given several receivers it polls the one in use and moves to the next when that one stops
answering (docs/dashboard.md, "Several receivers"); what the user does goes there too.

What it shows is only ever as good as its last successful poll, and it says so: until the
first poll succeeds, and whenever the last one failed, the header and the panels say what is
not known and why, everything still shown is marked `as of HH:MMZ`, and the data panels are
dimmed (as they are when the newest record is older than `--stale-after`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import termios
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.notifications import Notify, SeverityLevel
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from txmon_tui import severity
from txmon_tui.client import ApiError, TxmonClient, TxmonError, Unauthorized, Unreachable
from txmon_tui.config import Settings
from txmon_tui.format import Filter, hhmm
from txmon_tui.messages import StatusChosen, StatusSelected
from txmon_tui.models import Alert, Summary, Transaction
from txmon_tui.poller import AUTH_BACKOFF, Latest, backoff, fetch, remember, same_records
from txmon_tui.receivers import Receivers
from txmon_tui.screens.ack_note import AckNoteScreen
from txmon_tui.screens.alert_detail import AlertDetailScreen
from txmon_tui.screens.confirm import ConfirmScreen
from txmon_tui.screens.filter import FilterScreen
from txmon_tui.screens.help import HelpScreen
from txmon_tui.screens.silence import SilenceScreen
from txmon_tui.screens.silences import SilencesScreen
from txmon_tui.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from txmon_tui.widgets.alerts import AlertsTable
from txmon_tui.widgets.breakdown import BreakdownTable
from txmon_tui.widgets.header import StatusBar, as_of
from txmon_tui.widgets.hourly_chart import HourlyChart
from txmon_tui.widgets.sparklines import SparklinesPanel
from txmon_tui.widgets.table import KeyTable
from txmon_tui.widgets.transactions import TransactionsTable

HEALTH_TIMEOUT = 2.0  # the /healthz probe while reconnecting
MAX_TOASTS = 2
TOAST_SECONDS, MAX_TOAST_SECONDS = 4.0, 6.0
COMPACT_WIDTH, COMPACT_HEIGHT = 110, 32
PANELS = ("alerts", "sparklines", "breakdown", "chart", "transactions")
PANEL_TITLES = {
    "alerts": "Alerts",
    "sparklines": "Sparklines",
    "breakdown": "Breakdown",
    "chart": "Hourly",
    "transactions": "Table",
}
HELP_WHERE = {
    "alerts": "the open alerts",
    "sparklines": "the sparklines",
    "breakdown": "the status breakdown",
    "chart": "the hourly chart",
    "transactions": "the transactions table",
}
SWITCHED = ("alerts", "breakdown", "chart")  # the panels the compact layout shows one of
STATE_CHANGING = {"ack", "ack_all", "unack", "test_fire", "silence"}
NOT_IN_HELP = {
    "cursor_left",
    "cursor_right",
    "scroll_left",
    "scroll_right",
    "page_left",
    "page_right",
    "app.focus_next",
    "app.focus_previous",
    "screen.copy_text",
    "copy_text",
}
WIDE_FOOTER_ONLY = {"test_fire", "pause", "resume", "unack"}
FIRST_RUN = """\
The receiver has no records yet. Send one (the current minute):

  curl -s -X POST {url}/api/v1/transactions -H 'Content-Type: application/json'{auth} \\
    -d '{{"timestamp": "{now}", "status": "approved", "count": 118}}'

or stream realistic traffic with an incident every few minutes:

  txmon-server generate --url {url}{token}

Rows appear here as soon as they arrive (docs/api.md has every format)."""
NO_DATA = """\
Nothing is known about the receiver yet: {why}.

{hint}"""


class PanelBar(Static):
    """Which panel is shown in the compact layout, and the number keys that switch."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parts: list[tuple[str, str]] = []

    def show(self, current: str, focused: str | None, firing: int) -> None:
        """Repaint with the shown panel marked and the focused one bold."""
        parts = []
        for number, name in enumerate(PANELS, 1):
            label = PANEL_TITLES[name]
            if name == "alerts" and firing:
                label += f" ({firing}!)"
            marker = "▸" if name in (current, "sparklines") else " "
            parts.append((f"{marker}{number} {label}", "bold" if name == focused else ""))
        if parts != self._parts:
            self._parts = parts
            self.update(Text("  ").join(Text(t, style=s) for t, s in parts))


class TxmonApp(App[None]):
    """Full-screen dashboard of a txmon receiver (the one in use, when given several)."""

    CSS_PATH = "app.tcss"
    TITLE = "txmon"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", id="help"),
        Binding("a", "ack", "Ack", id="ack", tooltip="Acknowledge the selected alert"),
        Binding("A", "ack_all", "Ack all", id="ack_all", tooltip="Acknowledge every firing alert"),
        Binding("u", "unack", "Unack", id="unack", tooltip="Undo an acknowledgement"),
        Binding("t", "test_fire", "Test", id="test_fire", tooltip="Test-fire every channel"),
        Binding("s", "silence", "Silence", id="silence", tooltip="Silence the selected status"),
        Binding("S", "silences", "Silences", id="silences", tooltip="List and remove silences"),
        Binding("p", "pause", "Pause", id="pause", tooltip="Pause live updates"),
        Binding("p", "resume", "Resume", id="resume", tooltip="Resume live updates"),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="Refresh now; retry at once"),
        Binding(
            "slash,f",
            "filter",
            "Filter",
            id="filter",
            tooltip="Filter the transactions by status and severity",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            id="clear_filter",
            tooltip="Show every transaction again",
        ),
        Binding("enter", "detail", "Detail", key_display="⏎", id="detail", tooltip="Alert detail"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit.ctrl_c"),
        *(
            Binding(str(n), f"panel('{name}')", PANEL_TITLES[name], show=False, id=f"panel.{name}")
            for n, name in enumerate(PANELS, 1)
        ),
        # Twins of t, p and u kept out of the footer in the compact layout (the help lists them).
        Binding(
            "t",
            "quietly('test_fire')",
            "Test",
            show=False,
            id="quiet.test_fire",
            tooltip="Test-fire every channel",
        ),
        Binding(
            "u",
            "quietly('unack')",
            "Unack",
            show=False,
            id="quiet.unack",
            tooltip="Undo an acknowledgement",
        ),
        Binding(
            "p",
            "quietly('pause')",
            "Pause",
            show=False,
            id="quiet.pause",
            tooltip="Pause or resume live updates",
        ),
        # In read-only mode the actions above are hidden; these say why a key does nothing.
        *(
            Binding(
                key,
                f"refuse('{what}')",
                f"{what.capitalize()} (refused: read-only)",
                show=False,
                id=f"refuse.{key}",
            )
            for key, what in (
                ("a", "acknowledge"),
                ("A", "acknowledge"),
                ("u", "unacknowledge"),
                ("t", "test-fire"),
                ("s", "silence"),
            )
        ),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        client: TxmonClient | Receivers | None = None,
        clock: Callable[[], float] = time.time,
        look: severity.Look | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.read_only = settings.read_only
        self.by = settings.user
        self.interval = settings.interval
        self.clock = clock
        self.look = look or severity.choose_look(self.no_color, self.console.color_system)
        if self.look is severity.ANSI16:
            # the terminal's own 16 colours, passed through, not approximated from RGB
            self.theme = "ansi-dark"
            self.ansi_color = True
        if client is None:
            timeout = max(5.0, settings.interval * 3)
            client = Receivers(
                [TxmonClient(url, settings.token, timeout=timeout) for url in settings.urls]
            )
        self.receivers = client if isinstance(client, Receivers) else Receivers([client])
        self.receivers.on_switch = self._request_moved
        self._rows_from = self.receivers.current  # the receiver whose ids latest.last_id is of
        self._round: dict[str, str] = {}  # receivers failed since one last answered: reasons
        self.receiver_problems: dict[str, str] = {}  # the last round in which every one failed
        self._left: str = ""  # why the last receiver was left, told once the next one answers
        self.latest = Latest()
        self.filter = Filter()
        self.paused = False
        self.connection = "connecting"
        self.problem = ""
        self.failures = 0
        self.polls = 0  # successful polls so far (tests wait on it)
        self.selected_status: str | None = None
        self.compact = False
        self.shown = "alerts"  # which of SWITCHED the compact layout shows
        self._wake = asyncio.Event()
        self._refresh_requested = True
        self._full = True
        self._filter_generation = 0
        self._terminal = _terminal_fd()

    @property
    def client(self) -> TxmonClient:
        """The receiver in use."""
        return self.receivers.current

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Keep references: App.query_one only searches the active screen, which is a dialog
        # whenever one is open, while polling goes on updating these.
        self.header = StatusBar(
            self.settings.url, read_only=self.read_only, clock=self.clock, id="status-bar"
        )
        self.header.update_state(
            stale_after=self.settings.stale_after,
            poll_late_after=max(2.0, 2 * self.interval),
        )
        self._show_receiver()
        self.panel_bar = PanelBar(id="panel-bar")
        self.sparklines = SparklinesPanel(id="sparklines", classes="panel")
        self.breakdown = BreakdownTable(id="breakdown", classes="panel")
        self.chart = HourlyChart(id="chart", classes="panel")
        self.alerts_table = AlertsTable(id="alerts", classes="panel")
        self.table = TransactionsTable(id="transactions", classes="panel")
        self.guide = Static(id="guide", classes="panel", markup=False)
        self.body = Vertical(id="body")
        self.panels: dict[str, Widget] = {
            "alerts": self.alerts_table,
            "sparklines": self.sparklines,
            "breakdown": self.breakdown,
            "chart": self.chart,
            "transactions": self.table,
        }
        yield self.header
        with self.body:
            yield self.panel_bar
            with Vertical(id="panels"):
                with Horizontal(id="row-statuses", classes="panel-row"):
                    yield self.sparklines
                    yield self.breakdown
                with Horizontal(id="row-alerts", classes="panel-row"):
                    yield self.chart
                    yield self.alerts_table
            yield self.table
            yield self.guide
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.body.set_class(self.look is not severity.ANSI16, "-can-tint")
        self._layout_for(self.size.width, self.size.height)
        self._show_unknown()
        self.alerts_table.focus()
        self.set_interval(1.0, self._tick)
        self.run_worker(self._poll_forever(), name="poll", group="poll", exit_on_error=False)

    async def on_unmount(self) -> None:
        await self.receivers.aclose()

    def on_resize(self, event: events.Resize) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        on_top = isinstance(self.screen, TooSmallScreen)
        if too_small and not on_top:
            self.push_screen(TooSmallScreen())
        elif too_small and on_top:
            self.screen.show_size(width, height)  # type: ignore[attr-defined]
        elif not too_small and on_top:
            self.pop_screen()
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        if compact != self.compact:
            self.compact = compact
            self.refresh_bindings()
        self.body.set_class(self.compact, "-compact")
        # the compact layout keeps a sparkline per status in view: up to 40% of the height
        self.sparklines.styles.max_height = max(4, int((height - 2) * 0.4)) if compact else 16
        self._show_panel()

    def _show_panel(self) -> None:
        for name in SWITCHED:
            self.panels[name].set_class(name == self.shown, "-shown")
        for row in self.body.query(".panel-row"):
            row.set_class(any(p.id == self.shown for p in row.children), "-shown")
        focused = next((n for n, w in self.panels.items() if w is self.focused), None)
        self.panel_bar.show(self.shown, focused, self._firing())

    def _firing(self) -> int:
        summary = self.latest.summary
        return summary.firing if summary else 0

    def action_panel(self, name: str) -> None:
        """Show (compact layout) and focus a panel."""
        if name in SWITCHED:
            self.shown = name
        self._show_panel()
        widget = self.panels[name]
        if name == "transactions" and not self.table.display:
            self.guide.focus()
            return
        widget.focus()
        self.call_after_refresh(self._show_panel)

    def action_focus_next(self) -> None:
        """tab: the next panel (showing it in the compact layout); the usual in dialogs."""
        self._cycle_panel(1)

    def action_focus_previous(self) -> None:
        """shift+tab: the previous panel."""
        self._cycle_panel(-1)

    def _cycle_panel(self, step: int) -> None:
        if self.screen is not self.screen_stack[0]:
            if step > 0:
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
        current = next((n for n, w in self.panels.items() if w is self.focused), "alerts")
        index = (PANELS.index(current) + step) % len(PANELS)
        self.action_panel(PANELS[index])

    # --- polling ----------------------------------------------------------------------------

    def request_refresh(self, full: bool = False) -> None:
        """Poll now (even while paused), not at the next tick."""
        self._refresh_requested = True
        self._full = self._full or full
        self._wake.set()

    async def _poll_forever(self) -> None:
        while True:
            if self.paused and not self._refresh_requested:
                self._wake.clear()
                await self._wake.wait()
                continue
            self._refresh_requested = False
            delay = await self._poll_guarded()
            if self.paused:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _poll_guarded(self) -> float:
        """One poll of the receiver in use; returns how long to wait before the next one."""
        client = self.client
        try:
            if self.connection in ("reconnecting", "switching"):
                # cheap first: no token, a tiny answer, a short timeout
                await client.health(timeout=HEALTH_TIMEOUT)
            await self.poll_once(client)
        except Unauthorized as exc:
            # it answered: a setting to fix, shown as such, not a reason to move on
            self._round.clear()
            self._tell_moved(client)
            self.failures += 1
            if self.connection != "unauthorized":
                self.notify(str(exc), title="Token rejected", severity="error")
            self._set_connection("unauthorized", problem="HTTP 401: check --token / TXMON_TOKEN")
            return backoff(self.failures, self.interval, AUTH_BACKOFF)
        except (Unreachable, ApiError) as exc:
            if isinstance(exc, ApiError) and not exc.transient:
                # something answered, but not as the receiver does (a path in the URL, another
                # server on the port): say so once, show it in place of 'connecting', retry
                self._round.clear()
                self.failures += 1
                if self.connection != "unexpected":
                    self.notify(str(exc), title="Unexpected answer", severity="error", markup=False)
                self._set_connection("unexpected", problem=f"HTTP {exc.status}: {exc.message}")
                return max(self.interval, 5.0)
            if isinstance(exc, Unreachable):
                return self._receiver_failed(client, exc.reason, exc.reason)
            return self._receiver_failed(client, exc.message, f"HTTP {exc.status}: {exc.message}")
        except Exception as exc:  # a bug must not stop polling: say so and carry on
            self.log.error("poll failed", exc)
            self.notify(
                f"{type(exc).__name__}: {exc}",
                title="Dashboard error",
                severity="error",
                markup=False,
            )
            return max(self.interval, 5.0)
        self._round.clear()
        self._tell_moved(client)
        if self.failures and self.connection != "connecting":
            where = f" on {client.where}" if self.receivers.several else ""
            self.notify(f"Live again{where}", title="Reconnected", timeout=3, markup=False)
        self.failures = 0
        self._set_connection("paused" if self.paused else "live")
        return self.interval

    def _receiver_failed(self, client: TxmonClient, problem: str, detail: str) -> float:
        """The receiver in use did not answer (or answered 5xx): move on to the next one not
        tried since one last answered, at once; when every one failed, wait and retry."""
        receivers = self.receivers
        self._round[client.where] = detail
        if receivers.several and len(self._round) < len(receivers):
            new = receivers.advance(client)
            for _ in range(len(receivers)):
                if new.where not in self._round:
                    break
                new = receivers.advance(new)
            if self.connection == "reconnecting":  # trying each in turn: no toast per attempt
                self._show_receiver()
                return 0.0
            if not self._left:  # the first receiver left in this round is the one to name
                self._left = f"receiver {client.where} not answering ({detail})"
            self._set_connection("switching", problem=f"{client.where}: {problem}")
            return 0.0
        self.failures += 1
        delay = backoff(self.failures, self.interval)
        toast, title = problem, "Receiver unreachable"
        if receivers.several:
            self.receiver_problems = dict(self._round)
            self._round.clear()
            receivers.advance(client)  # the next attempt starts with the next in the list
            self._left = ""  # nothing to move to: the toast below says so instead
            problem = f"all {len(receivers)} receivers failed"
            failed = self.receiver_problems.items()
            toast = f"{problem}: " + "; ".join(f"{where} {why}" for where, why in failed)
            title = "Receivers unreachable"
        if self.connection not in ("reconnecting", "unauthorized"):
            self.notify(toast, title=title, severity="warning", markup=False)
        self._set_connection("reconnecting", problem=problem, retry_at=self.clock() + delay)
        return delay

    def _tell_moved(self, client: TxmonClient) -> None:
        """Once the receiver moved to answers, say which one was left and why."""
        if self._left:
            self.notify(
                f"{self._left}; now on {client.where}",
                title="Failover",
                severity="warning",
                markup=False,
            )
            self._left = ""

    def _request_moved(self, old: TxmonClient, new: TxmonClient, reason: str) -> None:
        """An action could not reach the receiver in use and was done by the next one: the
        dashboard follows it there."""
        self.notify(
            f"receiver {old.where} not answering ({reason}); now on {new.where}",
            title="Failover",
            severity="warning",
            markup=False,
        )
        self._show_receiver()
        self.request_refresh(full=True)

    def _show_receiver(self) -> None:
        """Name the receiver in use in the header (only when there are several)."""
        if self.receivers.several:
            client = self.client
            self.header.update_state(
                url=client.url,
                receiver=client.where,
                receivers=len(self.receivers),
                position=self.receivers.index + 1,
            )

    def _set_connection(
        self, state: str, *, problem: str = "", retry_at: float | None = None
    ) -> None:
        self.connection, self.problem = state, problem
        self.header.update_state(connection=state, problem=problem, retry_at=retry_at)
        self._show_receiver()
        if self.latest.summary is None:
            self._show_unknown()
        self._mark_freshness()

    async def poll_once(self, client: TxmonClient | None = None) -> None:
        """Fetch what changed since the last poll (from `client`, by default the receiver in
        use) and show it. The first round on another receiver fetches everything afresh, and
        the table is reloaded unless the rows show the two share one store."""
        client = client or self.client
        full, self._full = self._full, False
        generation = self._filter_generation
        moved = client is not self._rows_from
        if moved:
            self.latest.last_id = None
        arrived_at = self.latest.changed_at
        poll = await fetch(client, self.latest, self.filter, full=full or moved)
        same_filter = generation == self._filter_generation
        if moved:  # the rows shown so far came from another receiver
            self._rows_from = client
            if not same_records(self.table.records, poll.rows):
                self.table.reset(self.filter.describe() if self.filter.active else "")
        remember(self.latest, poll, self.clock(), rows=same_filter)
        if moved:
            self.latest.changed_at = arrived_at  # another store's count is not an arrival
        if same_filter:
            self._show_rows(poll.rows)
        self.polls += 1
        self._show(poll.data_changed or poll.alerts is not None)

    def _show_rows(self, rows: list[Transaction]) -> None:
        if rows:
            self.table.add_batch(rows)

    def _show(self, panels: bool) -> None:
        summary = self.latest.summary
        if summary is None:
            return
        self.header.update_state(
            have_data=True,
            last_ok=self.latest.ok_at,
            last_change=self.latest.changed_at,
            newest_event_time=summary.newest_event_time,
            ingest_rate=summary.ingest_rate,
            firing=summary.firing,
            acknowledged=summary.acknowledged,
        )
        self._show_guide(summary)
        if not panels:
            self._mark_freshness()
            return
        series = self.latest.series.series if self.latest.series else {}
        names = set(summary.statuses) | set(series)
        baselines = {n: s.baseline for n, s in summary.statuses.items()}
        severities = {}
        for name in names:
            values = series.get(name, ())
            base = baselines.get(name)
            severities[name] = severity.status_severity(
                values[-1] if values else None,
                base.upper if base else None,
                [a for a in self.latest.alerts if a.status == name],
            )
        self.sparklines.update_data(series, baselines, severities)
        self.breakdown.update_summary(summary)
        self.alerts_table.update_alerts(self.latest.alerts, summary.newest_event_time)
        if self.selected_status not in names:
            firing = [
                a.status for a in self.latest.alerts if a.state == "firing" and a.status in names
            ]
            busiest = sorted(summary.statuses.values(), key=lambda s: -s.count)
            self.selected_status = firing[0] if firing else busiest[0].name if busiest else None
            if self.selected_status:
                self.sparklines.select(self.selected_status)
                self.breakdown.select(self.selected_status)
        self._show_chart()
        self._show_panel()
        self._mark_freshness()

    def _show_guide(self, summary: Summary) -> None:
        """First run: the main panel says how to send data instead of showing an empty table."""
        first_run = summary.records_stored == 0 and not self.filter.active
        if first_run:
            self.guide.border_title = "Getting started"
            token = self.settings.token
            self.guide.update(
                FIRST_RUN.format(
                    url=self.client.url,
                    now=time.strftime("%Y-%m-%d %H:%M:00", time.gmtime(self.clock())),
                    auth=' -H "Authorization: Bearer $TXMON_TOKEN"' if token else "",
                    token=' --token "$TXMON_TOKEN"' if token else "",
                )
            )
        self._show_main(guide=first_run)

    def _show_main(self, *, guide: bool) -> None:
        """The guide or the transactions table in the main panel."""
        self.guide.display = guide
        self.table.display = not guide

    def _show_unknown(self) -> None:
        """Before the first successful poll: every panel says why it is empty."""
        why = self._why_unknown()
        for panel in (self.alerts_table, self.breakdown, self.sparklines, self.table):
            _border(panel, None, why)
            if isinstance(panel, KeyTable):
                panel.empty_reason = why
        url = self.client.url
        hints = {
            "unauthorized": f"The receiver at {url} rejected the token. Start txmon with the "
            "right --token or TXMON_TOKEN; it retries every few seconds."
            if self.receivers.several
            else "The receiver rejected the token. Start txmon with the right "
            "--token or TXMON_TOKEN; it retries every few seconds.",
            "unexpected": f"{url} answered {self.problem}, not as a txmon receiver does. "
            "Is it the receiver's address: scheme, host and port, with no path? "
            "It retries every few seconds; r retries now.",
            "reconnecting": f"Is the receiver running at {url}? "
            "(txmon-server serve). It retries every few seconds; r retries now.",
        }
        if self.receivers.several and self.receiver_problems:
            failed = "\n".join(f"  {w}: {r}" for w, r in self.receiver_problems.items())
            hints["reconnecting"] = (
                f"None of the {len(self.receivers)} receivers answers:\n{failed}\n\n"
                "Are they running (txmon-server serve)? It retries each in turn every few "
                "seconds; r retries now."
            )
        hint = hints.get(self.connection, f"Asking {url} …")
        self.guide.border_title = "No data"
        self.guide.update(NO_DATA.format(why=why.removeprefix("no data: "), hint=hint))
        self._show_main(guide=True)

    def _why_unknown(self) -> str:
        if self.connection == "unauthorized":
            return "no data: token rejected"
        if self.connection == "reconnecting":
            if self.receivers.several:
                return f"no data: {self.problem}"
            return f"no data: receiver unreachable ({self.problem})"
        if self.connection == "unexpected":
            return f"no data: unexpected answer ({self.problem})"
        if self.connection == "switching":
            return f"no data yet: trying {self.client.where}"
        return "no data yet: connecting"

    def _mark_freshness(self) -> None:
        """Dim the data and stamp it `as of` while it is not live; say why panels are empty."""
        if self.latest.summary is None:
            self.body.set_class(True, "-stale")
            return
        live = self.header.live
        self.body.set_class(not live or self.header.stale, "-stale")
        stamp = "" if live else as_of(self.latest.ok_at)
        suffix = f" · {stamp}" if stamp else ""
        no_rows = "no records in the last 60 minutes"
        empty = "no open alerts"
        _border(
            self.sparklines,
            "Last 60 min per status, worst first" + suffix,
            "" if self.sparklines.rows else no_rows,
        )
        _border(
            self.breakdown,
            "Status breakdown (60 min)" + suffix,
            "" if self.breakdown.row_count else no_rows,
        )
        _border(self.alerts_table, "Open alerts" + suffix, "" if self.latest.alerts else empty)
        self.chart.set_stamp(stamp)
        self.table.set_stamp(stamp)
        self.alerts_table.empty_reason = empty
        self.breakdown.empty_reason = no_rows
        self.table.empty_reason = (
            "no transactions match the filter" if self.filter.active else "no transactions yet"
        )

    def _show_chart(self) -> None:
        summary, status = self.latest.summary, self.selected_status
        if summary is None:
            return
        series = self.latest.series.series if self.latest.series else {}
        values = series.get(status or "", ())
        hour = time.gmtime(summary.newest_event_time).tm_hour if summary.newest_event_time else None
        self.chart.show_profile(
            status,
            summary.hourly_profile.get(status or "", ()),
            hour,
            values[-1] if values else None,
        )

    def _tick(self) -> None:
        if self._terminal is not None and not _terminal_alive(self._terminal):
            # The terminal hung up without a SIGHUP reaching us (`make demo` in a closed
            # tmux pane or SSH session: make gets the signal, not its child): leave.
            self.exit(return_code=129)
            return
        if self.header.is_mounted:
            self.header.tick()
            self._mark_freshness()

    # --- notifications ------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A short toast (at most six seconds)."""
        timeout = min(timeout or TOAST_SECONDS, MAX_TOAST_SECONDS)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_notify(self, event: Notify) -> None:
        # runs before Textual adds the notification: trim right after
        self.call_later(self._trim_toasts)

    def _trim_toasts(self) -> None:
        """Only the newest two toasts stay, so they never pile up over the data."""
        older = list(self._notifications)[:-MAX_TOASTS]
        for notification in older:
            self._unnotify(notification, refresh=False)
        if older:
            self._refresh_notifications()

    # --- selection ----------------------------------------------------------------------------

    @on(StatusSelected)
    def _status_selected(self, message: StatusSelected) -> None:
        if not self.screen_stack:  # a table's late message while the app shuts down
            return
        self._show_panel()
        if message.status == self.selected_status:
            return
        self.selected_status = message.status
        if not isinstance(self.focused, SparklinesPanel):
            self.sparklines.select(message.status)
        if not isinstance(self.focused, BreakdownTable):
            self.breakdown.select(message.status)
        self._show_chart()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._show_panel()

    @on(AlertsTable.AlertChosen)
    def _alert_chosen(self, message: AlertsTable.AlertChosen) -> None:
        self._open_detail(message.alert_id)

    @on(TransactionsTable.TransactionChosen)
    def _transaction_chosen(self, message: TransactionsTable.TransactionChosen) -> None:
        self._detail_of_status(message.transaction.status)

    @on(StatusChosen)
    def _status_chosen(self, message: StatusChosen) -> None:
        self._detail_of_status(message.status)

    @on(KeyTable.Empty)
    def _empty_table(self, message: KeyTable.Empty) -> None:
        self.notify(f"Nothing to show: {message.reason}", title="Detail", severity="warning")

    def _detail_of_status(self, status: str) -> None:
        alert = self._alert_for_status(status)
        if alert is None:
            self.notify(
                f"No open alert for {status!r}", title="Detail", severity="warning", markup=False
            )
            return
        self._open_detail(alert.id)

    def _alert_for_status(self, status: str, prefer: str = "firing") -> Alert | None:
        mine = [a for a in self.latest.alerts if a.status == status]
        mine.sort(key=lambda a: (a.state != prefer, -a.id))
        return mine[0] if mine else None

    def _newest(self, state: str) -> Alert | None:
        return max(
            (a for a in self.latest.alerts if a.state == state), key=lambda a: a.id, default=None
        )

    def target_alert(self, prefer: str = "firing") -> tuple[Alert | None, str]:
        """The alert an action applies to, and why (for the message when there is none)."""
        if self.latest.summary is None:
            return None, self._why_unknown()
        focused = self.focused
        if isinstance(focused, AlertsTable) and focused.selected is not None:
            return focused.selected, ""
        if isinstance(focused, TransactionsTable) and focused.selected is not None:
            status = focused.selected.status
            return self._alert_for_status(status, prefer), f"no open alert for {status!r}"
        if isinstance(focused, SparklinesPanel | BreakdownTable) and focused.selected:
            found = self._alert_for_status(focused.selected, prefer)
            if found is not None:
                return found, ""
        newest = self._newest(prefer)
        return newest, f"no {prefer} alert"

    def target_status(self) -> str | None:
        """The status `s` silences: the focused panel's selection, else the chart's."""
        focused = self.focused
        if isinstance(focused, AlertsTable) and focused.selected is not None:
            return focused.selected.status
        if isinstance(focused, TransactionsTable) and focused.selected is not None:
            return focused.selected.status
        if isinstance(focused, SparklinesPanel | BreakdownTable) and focused.selected:
            return focused.selected
        return self.selected_status

    # --- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quietly":
            inner = str(parameters[0]) if parameters else ""
            return self.compact and not (inner in STATE_CHANGING and self.read_only)
        if action in WIDE_FOOTER_ONLY and self.compact:
            return False
        if action in STATE_CHANGING:
            return not self.read_only
        if action in ("pause", "resume"):  # one p, labelled with what it will do
            return self.paused == (action == "resume")
        if action == "refuse":
            return self.read_only
        if action == "clear_filter":
            return self.filter.active and self.screen is self.screen_stack[0]
        return True

    def action_quietly(self, action: str) -> None:
        """Run an action whose footer entry the compact layout leaves out."""
        getattr(self, f"action_{action}")()

    def action_refuse(self, what: str) -> None:
        """Explain that read-only mode refuses state changes."""
        self.notify(
            f"Cannot {what}: read-only mode (start txmon without --read-only)",
            title="Read-only",
            severity="warning",
        )

    def _act(self, call: Awaitable[Any], name: str) -> None:
        self.run_worker(call, group="actions", name=name, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """An action that failed in an unexpected way becomes a toast, not a crash."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"{event.worker.name}: {type(error).__name__}: {error}",
                title="Action failed",
                severity="error",
                markup=False,
            )

    def action_ack(self) -> None:
        """Acknowledge the selected (or newest firing) alert, with an optional note."""
        alert, why = self.target_alert("firing")
        if alert is None:
            self.notify(
                f"Cannot acknowledge: {why}",
                title="Acknowledge",
                severity="warning",
                markup=False,
            )
            return
        self._ack_with_note(alert)

    def _ack_with_note(self, alert: Alert) -> None:
        if alert.state == "acknowledged":
            self.notify(
                f"Alert #{alert.id} ({alert.status}) is already acknowledged by "
                f"{alert.acknowledged_by}; u undoes it",
                title="Acknowledge",
                severity="warning",
                markup=False,
            )
            return

        def submitted(note: str | None) -> None:
            if note is not None:
                self._act(self._ack(alert, note), "ack")

        self.push_screen(AckNoteScreen(alert, self.by), submitted)

    async def _ack(self, alert: Alert, note: str) -> None:
        try:
            done = await self.receivers.ack(alert.id, self.by, note or None)
        except TxmonError as exc:
            self.notify(
                str(exc), title=f"Could not acknowledge #{alert.id}", severity="error", markup=False
            )
            return
        self.notify(
            f"#{done.id} {done.status} {done.kind} acknowledged by "
            f"{done.acknowledged_by or self.by}",
            title="Acknowledged",
            markup=False,
        )
        self.request_refresh()

    def action_ack_all(self) -> None:
        """Acknowledge every firing alert, after confirmation."""
        if self.latest.summary is None:
            self.notify(
                f"Cannot acknowledge: {self._why_unknown()}",
                title="Acknowledge all",
                severity="warning",
                markup=False,
            )
            return
        firing = [a for a in self.latest.alerts if a.state == "firing"]
        if not firing:
            self.notify("No firing alerts", title="Acknowledge all", severity="warning")
            return
        listing = "\n".join(f"#{a.id} {a.status} {a.kind} ({a.severity})" for a in firing[:12])
        if len(firing) > 12:
            listing += f"\n… and {len(firing) - 12} more"

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(self._ack_all(firing), "ack_all")

        self.push_screen(
            ConfirmScreen(f"Acknowledge all {len(firing)} firing alert(s) as {self.by}?", listing),
            answered,
        )

    async def _ack_all(self, firing: list[Alert]) -> None:
        failed: list[str] = []
        for alert in firing:
            try:
                await self.receivers.ack(alert.id, self.by, None)
            except TxmonError as exc:
                failed.append(f"#{alert.id}: {exc}")
        done = len(firing) - len(failed)
        if failed:
            self.notify(
                f"Acknowledged {done} of {len(firing)}.\n" + "\n".join(failed[:5]),
                title="Acknowledge all",
                severity="error",
                markup=False,
            )
        else:
            self.notify(
                f"Acknowledged {done} alert(s) as {self.by}", title="Acknowledge all", markup=False
            )
        self.request_refresh()

    def action_unack(self) -> None:
        """Undo the acknowledgement of the selected (or newest acknowledged) alert."""
        alert, why = self.target_alert("acknowledged")
        if alert is None:
            self.notify(
                f"Cannot unacknowledge: {why}",
                title="Unacknowledge",
                severity="warning",
                markup=False,
            )
            return
        if alert.state != "acknowledged":
            self.notify(
                f"Alert #{alert.id} ({alert.status}) is {alert.state}, not acknowledged",
                title="Unacknowledge",
                severity="warning",
                markup=False,
            )
            return
        self._act(self._unack(alert), "unack")

    async def _unack(self, alert: Alert) -> None:
        try:
            done = await self.receivers.unack(alert.id)
        except TxmonError as exc:
            self.notify(
                str(exc),
                title=f"Could not unacknowledge #{alert.id}",
                severity="error",
                markup=False,
            )
            return
        self.notify(
            f"#{done.id} {done.status} is {done.state} again", title="Unacknowledged", markup=False
        )
        self.request_refresh()

    def action_test_fire(self) -> None:
        """Send a test alert through every configured channel."""
        self.notify("Sending a test alert…", title="Test alert", timeout=2)
        self._act(self._test_fire(), "test_fire")

    async def _test_fire(self) -> None:
        try:
            results = await self.receivers.test_fire()
        except ApiError as exc:
            self.notify(
                exc.message,
                title=f"Test alert failed (HTTP {exc.status})",
                severity="error",
                timeout=10,
                markup=False,
            )
            return
        except TxmonError as exc:
            self.notify(str(exc), title="Test alert failed", severity="error", markup=False)
            return
        if not results:
            self.notify("The receiver reported no channels", title="Test alert", severity="warning")
        for r in results:
            self.notify(
                f"{'✓' if r.ok else '✗'} {r.channel}: {r.result}",
                title="Test alert " + ("sent" if r.ok else "failed"),
                severity="information" if r.ok else "error",
                timeout=10,
                markup=False,
            )

    def action_silence(self) -> None:
        """Silence the selected status for 15 min, 1 h or 4 h."""
        status = self.target_status()
        if status is None:
            why = self._why_unknown() if self.latest.summary is None else "no status selected"
            self.notify(f"Cannot silence: {why}", title="Silence", severity="warning")
            return

        def chosen(minutes: int | None) -> None:
            if minutes:
                self._act(self._silence(status, minutes), "silence")

        self.push_screen(SilenceScreen(status), chosen)

    async def _silence(self, status: str, minutes: int) -> None:
        try:
            done = await self.receivers.silence(
                status, minutes, self.by, "from the txmon dashboard"
            )
        except TxmonError as exc:
            self.notify(
                str(exc), title=f"Could not silence {status}", severity="error", markup=False
            )
            return
        until = f" until {hhmm(done.expires_at)}Z" if done.expires_at else ""
        self.notify(
            f"{status} silenced for {minutes} min{until} (#{done.id})",
            title="Silenced",
            markup=False,
        )
        self.request_refresh(full=True)

    def action_silences(self) -> None:
        """List silences in force; remove them from there."""
        self.push_screen(
            SilencesScreen(self.receivers, read_only=self.read_only, clock=self.clock),
            lambda _: self.request_refresh(full=True),
        )

    def action_resume(self) -> None:
        """Resume polling after a pause."""
        self.action_pause()

    def action_pause(self) -> None:
        """Pause or resume polling (the data stays on screen, marked `as of`)."""
        self.paused = not self.paused
        self.refresh_bindings()
        if self.paused:
            self._set_connection("paused")
            self.notify("p resumes", title="Paused", timeout=3)
        else:
            self.notify("Live updates resumed", title="Live", timeout=2)
            self.request_refresh()

    def action_refresh(self) -> None:
        """Poll right now, and retry at once if reconnecting."""
        self.failures = min(self.failures, 1)
        if self.connection in ("reconnecting", "unauthorized", "unexpected"):
            self.notify("Retrying now", title="Retry", timeout=2)
        else:
            self.notify("Refreshing", timeout=1.5)
        self.header.update_state(retry_at=None)
        self.request_refresh(full=True)

    def action_filter(self) -> None:
        """Filter the transactions table by status and severity."""
        known = set(self.latest.summary.statuses) if self.latest.summary else set()

        def chosen(new: Filter | None) -> None:
            if new is not None:
                self.apply_filter(new)

        self.push_screen(FilterScreen(known, self.filter), chosen)

    def action_clear_filter(self) -> None:
        """Escape on the dashboard: drop the filter."""
        self.apply_filter(Filter())

    def apply_filter(self, new: Filter) -> None:
        """Show only matching rows (fetched from the receiver, up to the row limit)."""
        self.filter = new
        self._filter_generation += 1
        self.latest.last_id = None
        self.table.reset(new.describe() if new.active else "")
        self.header.update_state(filter=new.describe() if new.active else "")
        self.notify(
            f"Showing {new.describe()} (esc clears)" if new.active else "Showing every row",
            title="Filter",
            timeout=3,
            markup=False,
        )
        self.refresh_bindings()
        self.request_refresh()

    def action_detail(self) -> None:
        """Show the detail and timeline of the selected (or newest open) alert."""
        alert, why = self.target_alert("firing")
        if alert is None and self.latest.summary is not None:
            alert = self._newest("acknowledged")
        if alert is None:
            self.notify(
                f"No alert to show: {why}", title="Detail", severity="warning", markup=False
            )
            return
        self._open_detail(alert.id)

    def _open_detail(self, alert_id: int) -> None:
        def closed(what: str | None) -> None:
            alert = next((a for a in self.latest.alerts if a.id == alert_id), None)
            if what == "ack":
                if alert is None:
                    self.notify(
                        f"Alert #{alert_id} is not open", title="Acknowledge", severity="warning"
                    )
                else:
                    self._ack_with_note(alert)
            elif what == "unack":
                if alert is None or alert.state != "acknowledged":
                    self.notify(
                        f"Alert #{alert_id} is not acknowledged",
                        title="Unacknowledge",
                        severity="warning",
                    )
                else:
                    self._act(self._unack(alert), "unack")

        self.push_screen(
            AlertDetailScreen(self.receivers, alert_id, read_only=self.read_only, clock=self.clock),
            closed,
        )

    def action_help(self) -> None:
        """Show the keys that work here, in the focused panel."""
        focused = next((n for n, w in self.panels.items() if w is self.focused), None)
        where = HELP_WHERE.get(focused or "", "the dashboard")
        self.push_screen(HelpScreen(self.key_help(), where))

    def key_help(self) -> list[tuple[str, str]]:
        """(keys, what they do) of every binding active now, the focused panel's first."""
        grouped: dict[tuple[int, str], tuple[list[str], str]] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not active.enabled or binding.system or not binding.description:
                continue
            if binding.action.startswith("panel(") or binding.action in NOT_IN_HELP:
                continue  # 1-5 and tab get one line each below; sideways scrolling none
            shown = binding.key_display or self.get_key_display(binding)
            entry = grouped.setdefault(
                (id(active.node), binding.action), ([], binding.tooltip or binding.description)
            )
            if shown not in entry[0]:
                entry[0].append(shown)
        rows = [(" ".join(keys), what) for keys, what in grouped.values()]
        rows.append(("1-5", "show / focus a panel: alerts, sparklines, breakdown, chart, table"))
        rows.append(("tab shift+tab", "next / previous panel"))
        return rows

    async def action_quit(self) -> None:
        """Leave the dashboard."""
        self.exit()


def _terminal_fd() -> int | None:
    """The terminal's file descriptor, when the dashboard runs in one."""
    stream = sys.__stdin__
    try:
        return stream.fileno() if stream is not None and stream.isatty() else None
    except (AttributeError, ValueError, OSError):
        return None


def _terminal_alive(fd: int) -> bool:
    """False once the terminal has hung up (its attributes then fail with EIO)."""
    try:
        termios.tcgetattr(fd)
    except termios.error:
        return False
    return True


def _border(widget: Widget, title: str | None, subtitle: str) -> None:
    """Set a panel's border texts; only a change repaints (Textual repaints on every set)."""
    if title is not None and widget.border_title != title:
        widget.border_title = title
    if widget.border_subtitle != subtitle:
        widget.border_subtitle = subtitle
