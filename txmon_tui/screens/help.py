"""Every key, what it does, and how the screen is laid out."""

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
Header: receiver URL, connection (live / reconnecting in Ns / paused), newest event time
(UTC), ingest rate (records/s) and open alerts (firing / acknowledged).
Panels: 1 alerts, 2 sparklines (last 60 min per status), 3 status breakdown, 4 hourly chart
of the selected status, 5 transactions (newest first; rows wait as "N new" while you are
scrolled down: g or moving to the top shows them). Small terminals show one of panels 1-4
at a time above the table; press its number. Severity is written out (HIGH, med, low)
as well as coloured."""


class HelpScreen(ModalScreen[None]):
    """The key reference; any of escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, keys: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_column(style="dim")
        for key, description, note in self.keys:
            table.add_row(key, description, note)
        with VerticalScroll(classes="dialog wide", id="help-body"):
            yield Static(Text("txmon dashboard keys", style="bold"))
            yield Static(table)
            yield Static(Text(LAYOUT), classes="help-layout")
            yield Static(Text("esc / q / ?: close", style="dim"))

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
