"""One sparkline per status over the last hour, with current count, expected and upper limit.

The most severe statuses come first, so a short panel still shows the incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from txmon_tui import severity
from txmon_tui.format import number
from txmon_tui.messages import StatusChosen, StatusSelected
from txmon_tui.models import Baseline


class CountSparkline(Sparkline):
    """A sparkline whose bars rise from zero to the hour's peak: Textual's spans the data's
    minimum to its maximum, so a steady 120 a minute drew as flat as a status at zero."""

    def render(self) -> RenderResult:
        _, base = self.background_colors
        low = base + self.get_component_styles("sparkline--min-color").color
        high = base + self.get_component_styles("sparkline--max-color").color
        return ZeroBars(list(self.data or []), self.size.width, low, high)


class ZeroBars:
    """One row of bars, each the peak of its share of `data` over the whole series' peak."""

    BARS = "▁▂▃▄▅▆▇█"

    def __init__(self, data: Sequence[float], width: int, low: Color, high: Color) -> None:
        self.data, self.width, self.low, self.high = data, width, low, high

    def columns(self, width: int) -> list[float]:
        """The value each of `width` columns shows (the peak of the minutes it covers)."""
        n = len(self.data)
        if n == 0 or width <= 0:
            return []
        if n <= width:
            return [self.data[i * n // width] for i in range(width)]
        return [max(self.data[i * n // width : (i + 1) * n // width]) for i in range(width)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = self.width or options.max_width
        values = self.columns(width)
        if not values:
            yield Segment("▁" * width, Style(color=self.low.rich_color))
            return
        peak = max(values)
        top = len(self.BARS) - 1
        for value in values:
            ratio = value / peak if peak > 0 else 0.0
            bar = self.BARS[max(1, round(ratio * top)) if value > 0 else 0]
            yield Segment(bar, Style(color=self.low.blend(self.high, ratio).rich_color))


class SparkRow(Horizontal):
    """Name, sparkline and figures of one status."""

    def __init__(self, status: str) -> None:
        super().__init__(classes="spark-row -normal")
        self.status = status
        self._shown: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Label(self.status, classes="spark-name")
        yield CountSparkline([], classes="spark-line")
        yield Static("", classes="spark-stats")

    def show(
        self, values: Sequence[int], baseline: Baseline | None, level: str, name_width: int
    ) -> None:
        """Update the row; does nothing when nothing changed."""
        look = severity.look_of(self.app)
        key = (tuple(values), baseline, level, name_width, look.name)
        if key == self._shown:
            return
        self._shown = key
        self.query_one(Sparkline).data = list(values) or [0]
        for name in ("-high", "-medium", "-low", "-normal"):
            self.set_class(name == f"-{level}", name)
        label = self.query_one(".spark-name", Label)
        label.styles.width = name_width + 1
        label.update(Text(self.status, style=look.severity(level) or "bold"))
        now = values[-1] if values else None
        stats = Text.assemble(
            (f"{number(now):>5}", "bold"),
            (" exp ", "dim"),
            f"{number(baseline.expected if baseline else None):>5}",
            (" up ", "dim"),
            f"{number(baseline.upper if baseline else None):>5} ",
            look.text(f"{severity.GLYPH.get(level, level):<7}", level),
        )
        self.query_one(".spark-stats", Static).update(stats)


class SparklinesPanel(VerticalScroll, can_focus=True):
    """Sparklines of every status; up/down moves the selected status."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Detail", key_display="⏎", id="spark.detail"),
        Binding("up,k", "move(-1)", "Up", show=False, id="spark.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="spark.down"),
        Binding("g,home", "move_to(0)", "First row", show=False, id="spark.first"),
        Binding("G,end", "move_to(-1)", "Last row", show=False, id="spark.last"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="spark.page_up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="spark.page_down"),
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
        """Show these series, most severe first; new statuses get a new row."""
        rank = severity.RANK
        names = sorted(
            set(series) | set(baselines), key=lambda n: (-rank.get(severities.get(n, ""), 0), n)
        )
        width = max((len(n) for n in names), default=8)
        if names != list(self.rows):
            selected = self.selected
            for row in self.rows.values():
                row.remove()
            self.rows = {name: SparkRow(name) for name in names}
            self.mount_all(self.rows.values())
            self.cursor = names.index(selected) if selected in names else 0
            self._paint_cursor()
        for name, row in self.rows.items():
            args = (series.get(name, ()), baselines.get(name), severities.get(name, "normal"))
            if row.is_mounted:
                row.show(*args, width)
            else:
                self.call_after_refresh(row.show, *args, width)

    def select(self, status: str) -> None:
        """Move the cursor to `status` without announcing it."""
        if status in self.rows:
            self.cursor = list(self.rows).index(status)
            self._paint_cursor()

    def action_move(self, step: int) -> None:
        """Move the cursor and announce the selected status."""
        if self.rows:
            self.action_move_to((self.cursor + step) % len(self.rows))

    def action_move_to(self, index: int) -> None:
        """Move the cursor to row `index` (-1: the last) and announce the status."""
        if not self.rows:
            return
        self.cursor = index % len(self.rows)
        self._paint_cursor()
        if self.selected:
            self.post_message(StatusSelected(self.selected))

    def action_page(self, pages: int) -> None:
        """Move the cursor a screenful up or down (stopping at the ends)."""
        if self.rows:
            step = max(1, self.scrollable_content_region.height) * pages
            self.action_move_to(min(len(self.rows) - 1, max(0, self.cursor + step)))

    def action_choose(self) -> None:
        """Enter: the detail of the selected status's open alert."""
        if self.selected:
            self.post_message(StatusChosen(self.selected))
        else:
            self.notify("No statuses yet: nothing to show", title="Detail", severity="warning")

    def _paint_cursor(self) -> None:
        for index, row in enumerate(self.rows.values()):
            row.set_class(index == self.cursor, "-cursor")
            if index == self.cursor and row.is_mounted:
                self.scroll_to_widget(row, animate=False)
