"""Open alerts, firing first then acknowledged: status, kind, since, peak vs expected, who acked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from txmon_tui.client import Alert
from txmon_tui.format import STATE_GLYPH, duration, hhmm, number
from txmon_tui.messages import AlertChosen, StatusSelected


def alert_style(alert: Alert) -> str:
    """Firing high alerts read red and bold, other firing ones yellow, acknowledged ones dim."""
    if alert.state != "firing":
        return "dim"
    return "bold red" if alert.severity == "high" else "yellow"


class AlertsTable(DataTable):
    """The open alerts; enter shows one alert's detail and timeline."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.alerts: list[Alert] = []
        self._shown: tuple[Any, ...] | None = None

    def on_mount(self) -> None:
        self.add_column("state", key="state")
        self.add_column("status", key="status")
        self.add_column("kind", key="kind")
        self.add_column("since", key="since")
        self.add_column("peak/exp", key="peak")
        self.add_column("acked by", key="by")
        self.show_placeholder()

    def show_placeholder(self) -> None:
        """An empty table says so."""
        self.border_subtitle = "no open alerts" if not self.alerts else ""

    @property
    def selected(self) -> Alert | None:
        """The alert under the cursor."""
        if not self.alerts or not self.row_count:
            return None
        alert_id = int(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value or 0)
        return next((a for a in self.alerts if a.id == alert_id), None)

    def update_alerts(self, alerts: Sequence[Alert], now: int | None) -> None:
        """Show these alerts (in the server's order); keeps the cursor on the same alert."""
        key = (tuple(alerts), now)
        if key == self._shown:
            return
        self._shown = key
        selected = self.selected
        self.alerts = list(alerts)
        self.clear()
        for alert in self.alerts:
            style = alert_style(alert)
            since = hhmm(alert.first_seen)
            if now is not None and alert.first_seen is not None:
                since += f" {duration(now - alert.first_seen + 60)}"
            state = STATE_GLYPH.get(alert.state, alert.state)
            if alert.silenced:
                state += " (muted)"
            peak = f"{number(alert.peak_count)}/{number(alert.expected)}"
            self.add_row(
                Text(state, style=style),
                Text(alert.status, style=style),
                Text(f"{alert.kind} {alert.severity}", style=style),
                Text(since, style=style),
                Text(peak, style=style),
                Text(alert.acknowledged_by or "-", style=style),
                key=str(alert.id),
            )
        if selected is not None:
            try:
                index = self.get_row_index(str(selected.id))
            except RowDoesNotExist:
                index = None
            if index is not None:
                with self.prevent(DataTable.RowHighlighted):
                    self.move_cursor(row=index, animate=False)
        self.show_placeholder()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        alert = self.selected
        if self.has_focus and alert is not None:
            self.post_message(StatusSelected(alert.status))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(AlertChosen(int(event.row_key.value)))
