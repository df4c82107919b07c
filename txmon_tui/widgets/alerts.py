"""Open alerts, firing first then acknowledged: status, kind, since, peak vs expected, who acked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets.data_table import RowDoesNotExist

from txmon_tui import severity
from txmon_tui.format import duration, hhmm, number
from txmon_tui.messages import StatusSelected
from txmon_tui.models import Alert
from txmon_tui.widgets.table import KeyTable

WIDE_FROM = 110  # table width from which the acknowledgement note gets a column
NARROW_BELOW = 72  # table width below which "acked by" and the muted mark go


class AlertsTable(KeyTable):
    """The open alerts; enter shows one alert's detail and timeline."""

    empty_reason = "no open alerts"

    class AlertChosen(Message):
        """Enter on an alert: show its detail."""

        def __init__(self, alert_id: int) -> None:
            super().__init__()
            self.alert_id = alert_id

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alerts: list[Alert] = []
        self.wide = False
        self.narrow = False
        self._shown: tuple[Any, ...] | None = None
        self._now: int | None = None

    def on_mount(self) -> None:
        self._set_columns()

    def on_resize(self, event: events.Resize) -> None:
        wide, narrow = event.size.width >= WIDE_FROM, event.size.width < NARROW_BELOW
        if (wide, narrow) != (self.wide, self.narrow):
            self.wide, self.narrow = wide, narrow
            self._set_columns()

    def _set_columns(self) -> None:
        self.clear(columns=True)
        columns = [
            ("state", "state"),
            ("status", "status"),
            ("kind", "kind"),
            ("since", "since"),
            ("peak/exp", "peak"),
        ]
        if not self.narrow:
            columns.append(("acked by", "by"))
        for label, key in columns:
            self.add_column(label, key=key)
        if self.wide:
            self.add_column("note", key="note")
        self._shown = None
        self.update_alerts(self.alerts, self._now)

    @property
    def selected(self) -> Alert | None:
        """The alert under the cursor."""
        if not self.alerts or not self.row_count:
            return None
        alert_id = int(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value or 0)
        return next((a for a in self.alerts if a.id == alert_id), None)

    def update_alerts(self, alerts: Sequence[Alert], now: int | None) -> None:
        """Show these alerts (in the server's order); keeps the cursor on the same alert."""
        key = (tuple(alerts), now, severity.look_of(self.app).name)
        if key == self._shown or not self.columns:
            return
        self._shown = key
        self._now = now
        selected = self.selected
        self.alerts = list(alerts)
        self.clear()
        look = severity.look_of(self.app)
        for alert in self.alerts:
            style = look.severity(severity.alert_severity(alert))
            since = hhmm(alert.first_seen)
            if now is not None and alert.first_seen is not None:
                since += f" {duration(now - alert.first_seen + 60)}"
            state = severity.STATE_GLYPH.get(alert.state, alert.state)
            if alert.silenced and not self.narrow:
                state += " (muted)"
            peak = f"{number(alert.peak_count)}/{number(alert.expected)}"
            cells = [state, alert.status, f"{alert.kind} {alert.severity}", since, peak]
            if not self.narrow:
                cells.append(alert.acknowledged_by or "-")
            if self.wide:
                cells.append(alert.ack_note or "")
            self.add_row(*(Text(c, style=style) for c in cells), key=str(alert.id))
        if selected is not None:
            try:
                index = self.get_row_index(str(selected.id))
            except RowDoesNotExist:
                index = None
            if index is not None:
                with self.prevent(KeyTable.RowHighlighted):
                    self.move_cursor(row=index, animate=False)

    def on_data_table_row_highlighted(self, event: KeyTable.RowHighlighted) -> None:
        event.stop()
        alert = self.selected
        if self.has_focus and alert is not None:
            self.post_message(StatusSelected(alert.status))

    def on_data_table_row_selected(self, event: KeyTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.AlertChosen(int(event.row_key.value)))
