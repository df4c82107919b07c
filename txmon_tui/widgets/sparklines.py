"""One sparkline per status over the last hour, with current count, expected and upper limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from txmon_tui.client import Baseline
from txmon_tui.format import SEVERITY_GLYPH, SEVERITY_STYLE, number
from txmon_tui.messages import StatusSelected


class SparkRow(Horizontal):
    """Name, sparkline and figures of one status."""

    def __init__(self, status: str) -> None:
        super().__init__(classes="spark-row -normal")
        self.status = status
        self._shown: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Label(self.status, classes="spark-name")
        yield Sparkline([], classes="spark-line")
        yield Static("", classes="spark-stats")

    def show(self, values: Sequence[int], baseline: Baseline | None, severity: str) -> None:
        """Update the row; does nothing when nothing changed."""
        key = (tuple(values), baseline, severity)
        if key == self._shown:
            return
        self._shown = key
        self.query_one(Sparkline).data = list(values) or [0]
        for name in ("-high", "-medium", "-low", "-normal"):
            self.set_class(name == f"-{severity}", name)
        now = values[-1] if values else None
        stats = Text.assemble(
            (f"{number(now):>5}", "bold"),
            (" exp ", "dim"),
            f"{number(baseline.expected if baseline else None):>5}",
            (" up ", "dim"),
            f"{number(baseline.upper if baseline else None):>5} ",
            (f"{SEVERITY_GLYPH.get(severity, severity):<7}", SEVERITY_STYLE.get(severity, "")),
        )
        self.query_one(".spark-stats", Static).update(stats)


class SparklinesPanel(VerticalScroll, can_focus=True):
    """Sparklines of every status; up/down moves the selected status."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Previous status", show=False, id="spark.up"),
        Binding("down,j", "move(1)", "Next status", show=False, id="spark.down"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: dict[str, SparkRow] = {}
        self.cursor = 0

    @property
    def selected(self) -> str | None:
        """The status under the cursor."""
        names = list(self.rows)
        return names[self.cursor] if names else None

    def update_data(
        self,
        series: Mapping[str, Sequence[int]],
        baselines: Mapping[str, Baseline | None],
        severities: Mapping[str, str],
    ) -> None:
        """Show these series (statuses in name order); new statuses get a new row."""
        names = sorted(set(series) | set(baselines))
        if names != list(self.rows):
            selected = self.selected
            for row in self.rows.values():
                row.remove()
            self.rows = {name: SparkRow(name) for name in names}
            self.mount_all(self.rows.values())
            self.cursor = names.index(selected) if selected in names else 0
            self._paint_cursor()
        for name, row in self.rows.items():
            if row.is_mounted:
                row.show(series.get(name, ()), baselines.get(name), severities.get(name, "normal"))
            else:
                self.call_after_refresh(
                    row.show,
                    series.get(name, ()),
                    baselines.get(name),
                    severities.get(name, "normal"),
                )

    def select(self, status: str) -> None:
        """Move the cursor to `status` without announcing it."""
        if status in self.rows:
            self.cursor = list(self.rows).index(status)
            self._paint_cursor()

    def action_move(self, step: int) -> None:
        """Move the cursor and announce the selected status."""
        if not self.rows:
            return
        self.cursor = (self.cursor + step) % len(self.rows)
        self._paint_cursor()
        if self.selected:
            self.post_message(StatusSelected(self.selected))

    def _paint_cursor(self) -> None:
        for index, row in enumerate(self.rows.values()):
            row.set_class(index == self.cursor, "-cursor")
            if index == self.cursor and row.is_mounted:
                self.scroll_to_widget(row, animate=False)
