"""The one-line status bar at the top: where, whether live, how fresh, how many alerts."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual.widget import Widget

from txmon_tui.format import hhmm, number

CONNECTION_LOOK = {
    "connecting": ("◌ connecting", "bold"),
    "live": ("● live", "bold green"),
    "paused": ("‖ paused", "bold yellow"),
    "reconnecting": ("◌ reconnecting", "bold yellow"),
    "unauthorized": ("✖ token rejected", "bold red"),
}


@dataclass(frozen=True)
class HeaderState:
    """Everything the status bar shows."""

    url: str = ""
    connection: str = "connecting"
    retry_at: float | None = None  # monotonic time of the next attempt while reconnecting
    problem: str = ""
    newest_event_time: int | None = None
    ingest_rate: float | None = None
    firing: int = 0
    acknowledged: int = 0
    read_only: bool = False
    filter: str = ""


class StatusBar(Widget):
    """Server URL, connection state, newest event time, ingest rate and open alerts."""

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; }
    """

    def __init__(self, url: str, *, read_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = HeaderState(url=url, read_only=read_only)

    def update_state(self, **changes: Any) -> None:
        """Change some fields; repaint only when something visible changed."""
        new = replace(self.state, **changes)
        if new != self.state:
            self.state = new
            self.refresh()

    def tick(self) -> None:
        """Repaint the reconnect countdown."""
        if self.state.connection == "reconnecting":
            self.refresh()

    def connection_text(self) -> str:
        """The connection part as plain text, e.g. `reconnecting in 4s`."""
        label = CONNECTION_LOOK.get(self.state.connection, (self.state.connection, ""))[0]
        if self.state.connection == "reconnecting" and self.state.retry_at is not None:
            wait = max(0, math.ceil(self.state.retry_at - time.monotonic()))
            label += f" in {wait}s" if wait else " now"
        return label

    def render(self) -> Text:
        """Build the line, dropping the least important parts when narrow."""
        s = self.state
        style = CONNECTION_LOOK.get(s.connection, ("", ""))[1]
        alerts_style = "bold red" if s.firing else ("yellow" if s.acknowledged else "green")
        parts: list[tuple[int, Text]] = [
            (0, Text.assemble(("txmon ", "bold"), (s.url, "underline"))),
            (0, Text(self.connection_text(), style=style)),
            (2, Text(f"newest {hhmm(s.newest_event_time)}Z")),
            (3, Text(f"{number(s.ingest_rate)} rec/s" if s.ingest_rate is not None else "- rec/s")),
            (0, Text(f"{s.firing} firing / {s.acknowledged} acked", style=alerts_style)),
        ]
        if s.read_only:
            parts.append((0, Text("READ-ONLY", style="reverse")))
        if s.filter:
            parts.append((3, Text(f"filter {s.filter}", style="italic")))
        if s.problem and s.connection in ("reconnecting", "unauthorized"):
            parts.append((1, Text(s.problem, style="dim")))
        width = self.size.width or 200
        for drop in (4, 3, 2, 1):
            line = Text(" │ ", style="dim").join(t for rank, t in parts if rank < drop)
            if line.cell_len <= width:
                return line
        line.truncate(width, overflow="ellipsis")
        return line
