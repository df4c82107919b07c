"""The dashboard app: polls the receiver's API and drives the panels and actions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from txmon_tui.client import (
    Alert,
    ApiError,
    Series,
    Summary,
    Transaction,
    TxmonClient,
    TxmonError,
    Unauthorized,
    Unreachable,
)
from txmon_tui.config import Settings
from txmon_tui.format import SEVERITY_RANK, Filter, hhmm
from txmon_tui.messages import AlertChosen, StatusSelected, TransactionChosen
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
from txmon_tui.widgets.header import StatusBar
from txmon_tui.widgets.hourly_chart import HourlyChart
from txmon_tui.widgets.sparklines import SparklinesPanel
from txmon_tui.widgets.transactions import ROW_LIMIT, TransactionsTable

WINDOW_MINUTES = 60
ALERTS_EVERY = 10.0  # seconds: re-read alerts even when nothing else changed (others may act)
MAX_BACKOFF = 30.0
COMPACT_WIDTH, COMPACT_HEIGHT = 110, 32
PANELS = ("alerts", "sparklines", "breakdown", "chart", "transactions")
PANEL_TITLES = {
    "alerts": "Alerts",
    "sparklines": "Sparklines",
    "breakdown": "Breakdown",
    "chart": "Hourly",
    "transactions": "Table",
}
STATE_CHANGING = {"ack", "ack_all", "unack", "test_fire", "silence"}
WIDE_FOOTER_ONLY = {"ack_all", "silences", "refresh"}


@dataclass
class Latest:
    """The last data the receiver gave us (kept on screen while it is unreachable)."""

    summary: Summary | None = None
    series: Series | None = None
    alerts: list[Alert] = field(default_factory=list)
    last_id: int | None = None
    alerts_at: float = 0.0


def backoff(failures: int, interval: float) -> float:
    """Seconds to wait after `failures` failed polls in a row: doubling, capped."""
    return min(MAX_BACKOFF, max(interval, 0.5) * 2 ** min(failures - 1, 8))


def status_severity(now: int | None, upper: float | None, alerts: Sequence[Alert]) -> str:
    """A status's severity: its firing alert's, or high when this minute is over the limit."""
    severity = "normal"
    for alert in alerts:
        if alert.state == "firing" and SEVERITY_RANK.get(alert.severity, 0) > SEVERITY_RANK.get(
            severity, 0
        ):
            severity = alert.severity
    if now is not None and upper and now > upper:
        severity = "high"
    return severity


class PanelBar(Static):
    """Which panel is shown in the compact layout, and the number keys that switch."""

    def show(self, current: str, firing: int) -> None:
        """Repaint with `current` highlighted."""
        parts = []
        for number, name in enumerate(PANELS, 1):
            label = PANEL_TITLES[name]
            if name == "alerts" and firing:
                label += f" ({firing}!)"
            marker = "▸" if name == current else " "
            parts.append(f"{marker}{number} {label}")
        self.update("  ".join(parts))


class TxmonApp(App[None]):
    """Full-screen dashboard of one txmon receiver."""

    CSS_PATH = "app.tcss"
    TITLE = "txmon"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("a", "ack", "Ack", id="ack", tooltip="Acknowledge the selected alert"),
        Binding("A", "ack_all", "Ack all", id="ack_all", tooltip="Acknowledge every firing alert"),
        Binding("u", "unack", "Unack", id="unack", tooltip="Undo an acknowledgement"),
        Binding("t", "test_fire", "Test", id="test_fire", tooltip="Test-fire every channel"),
        Binding("s", "silence", "Silence", id="silence", tooltip="Silence the selected status"),
        Binding("S", "silences", "Silences", id="silences", tooltip="List and remove silences"),
        Binding("p", "pause", "Pause", id="pause", tooltip="Pause or resume live updates"),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="Refresh now"),
        Binding("f", "filter", "Filter", id="filter", tooltip="Filter the transactions table"),
        Binding("enter", "detail", "Detail", id="detail", tooltip="Alert detail and timeline"),
        Binding("q", "quit", "Quit", id="quit"),
        *(
            Binding(str(n), f"panel('{name}')", PANEL_TITLES[name], show=False, id=f"panel.{name}")
            for n, name in enumerate(PANELS, 1)
        ),
        # Twins of A, S and r kept out of the footer in the compact layout (the help lists them).
        Binding("A", "quietly('ack_all')", "Ack all", show=False, id="quiet.ack_all"),
        Binding("S", "quietly('silences')", "Silences", show=False, id="quiet.silences"),
        Binding("r", "quietly('refresh')", "Refresh", show=False, id="quiet.refresh"),
        # In read-only mode the actions above are hidden; these say why a key does nothing.
        *(
            Binding(key, f"refuse('{what}')", "Refused: read-only", show=False, id=f"refuse.{key}")
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
        client: TxmonClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.read_only = settings.read_only
        self.by = settings.user
        self.interval = settings.interval
        self.clock = clock
        self.client = client or TxmonClient(
            settings.url, settings.token, timeout=max(5.0, settings.interval * 3)
        )
        self.latest = Latest()
        self.filter = Filter()
        self.paused = False
        self.connection = "connecting"
        self.failures = 0
        self.polls = 0  # successful polls so far (tests wait on it)
        self.selected_status: str | None = None
        self.compact = False
        self.panel = "alerts"
        self._wake = asyncio.Event()
        self._refresh_requested = True
        self._full = True
        self._filter_generation = 0

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Keep references: App.query_one only searches the active screen, which is a dialog
        # whenever one is open, while polling goes on updating these.
        self.header = StatusBar(self.settings.url, read_only=self.read_only, id="status-bar")
        self.panel_bar = PanelBar(id="panel-bar")
        self.sparklines = SparklinesPanel(id="sparklines", classes="panel")
        self.breakdown = BreakdownTable(id="breakdown", classes="panel")
        self.chart = HourlyChart(id="chart", classes="panel")
        self.alerts_table = AlertsTable(id="alerts", classes="panel")
        self.table = TransactionsTable(id="transactions", classes="panel")
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
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sparklines.border_title = "Last 60 min per status"
        self.breakdown.border_title = "Status breakdown (60 min)"
        self.alerts_table.border_title = "Open alerts"
        self._layout_for(self.size.width, self.size.height)
        self.alerts_table.focus()
        self.set_interval(1.0, self._tick)
        self.run_worker(self._poll_forever(), name="poll", group="poll", exit_on_error=False)

    async def on_unmount(self) -> None:
        await self.client.aclose()

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
        self._show_panel()

    def _show_panel(self) -> None:
        for name in PANELS[:4]:
            self.panels[name].set_class(name == self.panel, "-shown")
        for row in self.body.query(".panel-row"):
            row.set_class(any(p.id == self.panel for p in row.children), "-shown")
        self.panel_bar.show(self.panel, self.latest.summary.firing if self.latest.summary else 0)

    def action_panel(self, name: str) -> None:
        """Show (compact layout) and focus a panel."""
        if name != "transactions":
            self.panel = name
            self._show_panel()
        self.panels[name].focus()

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
        """One poll; returns how long to wait before the next one."""
        try:
            await self.poll_once()
        except Unauthorized as exc:
            self.failures += 1
            delay = backoff(self.failures, self.interval)
            if self.connection != "unauthorized":
                self.notify(str(exc), title="Token rejected", severity="error", timeout=10)
            self._set_connection("unauthorized", problem="HTTP 401: check --token / TXMON_TOKEN")
            return delay
        except (Unreachable, ApiError) as exc:
            if isinstance(exc, ApiError) and not exc.transient:
                # the receiver answered, but not as documented: say so, keep polling
                self._set_connection("live")
                self.notify(str(exc), title="Unexpected answer", severity="error", markup=False)
                return max(self.interval, 5.0)
            self.failures += 1
            delay = backoff(self.failures, self.interval)
            if self.connection not in ("reconnecting", "unauthorized"):
                self.notify(
                    f"{exc}\nShowing the last data; retrying.",
                    title="Receiver unreachable",
                    severity="warning",
                    markup=False,
                )
            problem = exc.reason if isinstance(exc, Unreachable) else exc.message
            self._set_connection("reconnecting", problem=problem, retry_at=time.monotonic() + delay)
            return delay
        except Exception as exc:  # a bug must not stop polling: say so and carry on
            self.log.error("poll failed", exc)
            self.notify(
                f"{type(exc).__name__}: {exc}",
                title="Dashboard error",
                severity="error",
                markup=False,
            )
            return max(self.interval, 5.0)
        if self.failures and self.connection != "connecting":
            self.notify("Connected to the receiver again", title="Reconnected", timeout=4)
        self.failures = 0
        self._set_connection("paused" if self.paused else "live")
        return self.interval

    def _set_connection(
        self, state: str, *, problem: str = "", retry_at: float | None = None
    ) -> None:
        self.connection = state
        self.header.update_state(connection=state, problem=problem, retry_at=retry_at)

    async def poll_once(self) -> None:
        """Fetch what changed since the last poll and show it."""
        client, latest, full = self.client, self.latest, self._full
        self._full = False
        generation = self._filter_generation
        summary, rows = await asyncio.gather(
            client.summary(WINDOW_MINUTES),
            client.transactions(
                after_id=latest.last_id,
                limit=ROW_LIMIT,
                statuses=self.filter.statuses,
                severities=self.filter.severities,
            ),
        )
        before = latest.summary
        data_changed = (
            full
            or before is None
            or latest.series is None
            or (summary.records_stored, summary.newest_event_time, summary.total)
            != (before.records_stored, before.newest_event_time, before.total)
        )
        alerts_changed = (
            data_changed
            or (summary.firing, summary.acknowledged) != (before.firing, before.acknowledged)
            or time.monotonic() - latest.alerts_at > ALERTS_EVERY
        )
        series, alerts = await asyncio.gather(
            client.series(WINDOW_MINUTES) if data_changed else _none(),
            client.alerts("open") if alerts_changed else _none(),
        )
        latest.summary = summary
        if series is not None:
            latest.series = series
        if alerts is not None:
            latest.alerts = alerts
            latest.alerts_at = time.monotonic()
        if generation == self._filter_generation:
            if rows:
                latest.last_id = max(latest.last_id or 0, max(r.id for r in rows))
            self._show_rows(rows)
        self.polls += 1
        self._show(data_changed or alerts is not None)

    def _show_rows(self, rows: list[Transaction]) -> None:
        if rows:
            self.table.add_batch(rows)

    def _show(self, panels: bool) -> None:
        summary = self.latest.summary
        if summary is None:
            return
        self.header.update_state(
            newest_event_time=summary.newest_event_time,
            ingest_rate=summary.ingest_rate,
            firing=summary.firing,
            acknowledged=summary.acknowledged,
        )
        if not panels:
            return
        series = self.latest.series.series if self.latest.series else {}
        names = set(summary.statuses) | set(series)
        baselines = {n: s.baseline for n, s in summary.statuses.items()}
        severities = {}
        for name in names:
            values = series.get(name, ())
            base = baselines.get(name)
            severities[name] = status_severity(
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
        if self.header.is_mounted:
            self.header.tick()

    # --- selection ----------------------------------------------------------------------------

    @on(StatusSelected)
    def _status_selected(self, message: StatusSelected) -> None:
        if message.status == self.selected_status:
            return
        self.selected_status = message.status
        if not isinstance(self.focused, SparklinesPanel):
            self.sparklines.select(message.status)
        if not isinstance(self.focused, BreakdownTable):
            self.breakdown.select(message.status)
        self._show_chart()

    @on(AlertChosen)
    def _alert_chosen(self, message: AlertChosen) -> None:
        self._open_detail(message.alert_id)

    @on(TransactionChosen)
    def _transaction_chosen(self, message: TransactionChosen) -> None:
        alert = self._alert_for_status(message.transaction.status)
        if alert is None:
            self.notify(
                f"No open alert for {message.transaction.status!r}",
                title="Detail",
                severity="warning",
                markup=False,
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
        if action == "refuse":
            return self.read_only
        return True

    def action_quietly(self, action: str) -> None:
        """Run an action whose footer entry the compact layout leaves out."""
        getattr(self, f"action_{action}")()

    def action_refuse(self, what: str) -> None:
        """Explain that read-only mode refuses state changes."""
        self.notify(
            f"Read-only mode: cannot {what}. Start txmon without --read-only to act.",
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
                f"Nothing to acknowledge: {why}",
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
            done = await self.client.ack(alert.id, self.by, note or None)
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
                await self.client.ack(alert.id, self.by, None)
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
                f"Nothing to unacknowledge: {why}",
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
            done = await self.client.unack(alert.id)
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
            results = await self.client.test_fire()
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
            self.notify("No status selected", title="Silence", severity="warning")
            return

        def chosen(minutes: int | None) -> None:
            if minutes:
                self._act(self._silence(status, minutes), "silence")

        self.push_screen(SilenceScreen(status), chosen)

    async def _silence(self, status: str, minutes: int) -> None:
        try:
            done = await self.client.silence(status, minutes, self.by, "from the txmon dashboard")
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
            SilencesScreen(self.client, read_only=self.read_only, clock=self.clock),
            lambda _: self.request_refresh(full=True),
        )

    def action_pause(self) -> None:
        """Pause or resume polling (the data stays on screen)."""
        self.paused = not self.paused
        if self.paused:
            self._set_connection("paused")
            self.notify("Live updates paused; p resumes", title="Paused", timeout=3)
        else:
            self.notify("Live updates resumed", title="Live", timeout=2)
            self.request_refresh()

    def action_refresh(self) -> None:
        """Poll right now and retry at once if reconnecting."""
        self.failures = min(self.failures, 1)
        self.notify("Refreshing", timeout=1.5)
        self.request_refresh(full=True)

    def action_filter(self) -> None:
        """Filter the transactions table by status and severity."""
        known = set(self.latest.summary.statuses) if self.latest.summary else set()

        def chosen(new: Filter | None) -> None:
            if new is not None:
                self.apply_filter(new)

        self.push_screen(FilterScreen(known, self.filter), chosen)

    def apply_filter(self, new: Filter) -> None:
        """Show only matching rows (fetched from the receiver, up to the row limit)."""
        self.filter = new
        self._filter_generation += 1
        self.latest.last_id = None
        self.table.reset(new.describe() if new.active else "")
        self.header.update_state(filter=new.describe() if new.active else "")
        self.notify(
            f"Showing {new.describe()}" if new.active else "Showing every transaction",
            title="Filter",
            timeout=3,
            markup=False,
        )
        self.request_refresh()

    def action_detail(self) -> None:
        """Show the detail and timeline of the selected (or newest open) alert."""
        alert, why = self.target_alert("firing")
        if alert is None:
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
            AlertDetailScreen(self.client, alert_id, read_only=self.read_only, clock=self.clock),
            closed,
        )

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(HelpScreen(self.key_help()))

    def key_help(self) -> list[tuple[str, str, str]]:
        """(key, description, note) for the help screen."""
        rows: list[tuple[str, str, str]] = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith(("refuse", "quietly")) or not binding.show:
                continue
            note = ""
            if binding.action in STATE_CHANGING and self.read_only:
                note = "disabled: read-only"
            key = binding.key_display or binding.key
            rows.append((key, binding.tooltip or binding.description, note))
        rows.extend(
            [
                ("1-5", "show/focus a panel: alerts, sparklines, breakdown, chart, table", ""),
                ("tab", "next panel", ""),
                ("↑ ↓ j k", "move the selection in a panel", ""),
                ("g", "transactions: jump to the newest row and show new rows", ""),
                ("esc", "close a dialog", ""),
            ]
        )
        return rows

    async def action_quit(self) -> None:
        """Leave the dashboard."""
        self.exit()


async def _none() -> None:
    return None
