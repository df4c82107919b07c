"""Shown instead of the dashboard while the terminal is too small for it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

MIN_WIDTH = 60
MIN_HEIGHT = 15


class TooSmallScreen(ModalScreen[None]):
    """Says how big the terminal is and how big it needs to be."""

    BINDINGS = [Binding("q", "app.quit", "Quit", id="too_small.quit")]

    def compose(self) -> ComposeResult:
        yield Static(id="too-small-text")

    def on_mount(self) -> None:
        self.show_size(self.app.size.width, self.app.size.height)

    def show_size(self, width: int, height: int) -> None:
        """Repaint the message for the current size."""
        self.query_one("#too-small-text", Static).update(
            f"Terminal too small: {width}x{height}\n"
            f"txmon needs {MIN_WIDTH}x{MIN_HEIGHT}\n"
            "(80x24 or more is best)\n"
            "Enlarge it, or press q to quit"
        )
