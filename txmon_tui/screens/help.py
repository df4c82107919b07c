"""The keys that work where you are, what they do, and how the screen is laid out."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

LAYOUT = """\
Header: connection (live / no answer for Ns / disconnected, retry in Ns / token rejected /
paused), open alerts (FIRING / acked; "?" while nothing is known), the newest record's
time (UTC) and age (STALE past --stale-after), the last poll's age, ingest rate, the URL.
While the data is not live every panel says "as of HH:MMZ" and is dimmed.
Panels: 1 alerts, 2 sparklines (last 60 min per status, worst first), 3 status breakdown,
4 hourly chart of the selected status, 5 transactions (o sorts by time, severity, score;
new rows wait as "N new" while you are scrolled down: g shows them). Small terminals keep
the sparklines and show one of panels 1, 3, 4 above the table; press its number.
Severity is written out (HIGH, med, low) as well as coloured."""


class HelpScreen(ModalScreen[None]):
    """The key reference; any of escape, q, ? or F1 closes it."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close", id="help.close")]

    def __init__(self, keys: Sequence[tuple[str, str]], where: str = "the dashboard") -> None:
        super().__init__(classes="dialog-screen")
        self.keys = keys
        self.where = where

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, description in self.keys:
            table.add_row(key, description)
        with VerticalScroll(classes="dialog wide", id="help-body"):
            yield Static(Text(f"Keys in {self.where}", style="bold"))
            yield Static(table)
            yield Static(Text(LAYOUT), classes="help-layout")
            yield Static(Text("esc / q / ? / F1: close", style="dim"))

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
