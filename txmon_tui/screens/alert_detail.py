"""One alert in full, with its timeline; a and u act on it."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from txmon_tui.client import TxmonApi, TxmonError
from txmon_tui.format import duration, full_time, number
from txmon_tui.models import Alert
from txmon_tui.severity import STATE_GLYPH

# Timeline events stamped with the receiver's clock, not with an event time (see docs/api.md).
CLOCK_EVENTS = frozenset({"acknowledged", "unacknowledged", "refired"})


class AlertDetailScreen(ModalScreen[str | None]):
    """Returns "ack" or "unack" when the user asks for it here, else None."""

    BINDINGS = [
        Binding("a", "choose('ack')", "Acknowledge", id="detail.ack"),
        Binding("u", "choose('unack')", "Unacknowledge", id="detail.unack"),
        Binding("r", "reload", "Reload", id="detail.reload"),
        Binding("escape,q,enter", "choose('')", "Close", id="detail.close"),
    ]

    def __init__(
        self,
        client: TxmonApi,
        alert_id: int,
        *,
        read_only: bool,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.client = client
        self.alert_id = alert_id
        self.read_only = read_only
        self.clock = clock
        self.alert: Alert | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="detail-box"):
            yield Label(f"Alert #{self.alert_id}", classes="dialog-title", id="detail-title")
            with VerticalScroll(id="detail-scroll"):
                yield Static("loading…", id="detail-fields")
                yield DataTable(cursor_type="row", id="detail-timeline")
            keys = (
                "esc: close    r: reload" if self.read_only else "a: ack    u: unack    esc: close"
            )
            yield Label(keys, classes="dialog-keys")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("event time (UTC)", "event", "detail", "recorded (UTC)")
        table.border_title = "timeline"
        self.action_reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        wants_change = action == "choose" and bool(parameters) and bool(parameters[0])
        return not (wants_change and self.read_only)

    @work(exclusive=True, group="detail")
    async def action_reload(self) -> None:
        """Fetch the alert and its timeline."""
        try:
            self.alert = await self.client.alert(self.alert_id)
        except TxmonError as exc:
            self.query_one("#detail-fields", Static).update(Text(str(exc), style="bold red"))
            self.notify(str(exc), title=f"Alert #{self.alert_id}", severity="error", markup=False)
            return
        self._show(self.alert)

    def _show(self, a: Alert) -> None:
        fields = Table(box=None, show_header=False, padding=(0, 1))
        fields.add_column(style="dim", no_wrap=True)
        fields.add_column()
        state = STATE_GLYPH.get(a.state, a.state) + (" (silenced)" if a.silenced else "")
        lasting = duration(a.last_seen - a.first_seen + 60) if a.first_seen and a.last_seen else "-"
        rows = [
            ("status", Text(a.status, style="bold")),
            ("kind", f"{a.kind}, severity {a.severity}"),
            ("state", state),
            ("first seen", f"{full_time(a.first_seen)} (event time, {lasting})"),
            ("last seen", full_time(a.last_seen)),
            (
                "peak",
                f"{number(a.peak_count)} vs {number(a.expected)} expected"
                f" (score {number(a.peak_score)})",
            ),
        ]
        if a.acknowledged_by:
            rows.append(
                ("acknowledged", f"by {a.acknowledged_by} at {full_time(a.acknowledged_at)}")
            )
        if a.ack_note:
            rows.append(("note", a.ack_note))
        if a.resolved_at:
            rows.append(("resolved", full_time(a.resolved_at)))
        for name, value in rows:
            fields.add_row(name, value)
        self.query_one("#detail-title", Label).update(
            f"Alert #{a.id}: {a.status} {a.kind} ({a.state})"
        )
        self.query_one("#detail-fields", Static).update(fields)
        table = self.query_one(DataTable)
        table.clear()
        for event in a.timeline:
            # People's actions and the ack timeout happen on the receiver's clock: they have
            # no event time, and the recorded column already says when.
            on_clock = event.type in CLOCK_EVENTS or event.detail == "silence ended"
            table.add_row(
                "—" if on_clock else full_time(event.at),
                event.type,
                event.detail,
                full_time(event.recorded_at),
            )

    def action_choose(self, what: str) -> None:
        """Close, asking the dashboard to ack or unack this alert (or nothing)."""
        self.dismiss(what or None)
