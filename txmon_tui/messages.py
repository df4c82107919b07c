"""Messages that several widgets post to the app (a widget's own messages are nested in it)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class StatusSelected(Message):
    """The user moved onto a status (the chart follows it; `s` silences it)."""

    status: str


@dataclass
class StatusChosen(Message):
    """The user pressed enter on a status: show the detail of its open alert."""

    status: str
