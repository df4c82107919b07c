"""Messages the widgets post to the app: small dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from txmon_tui.client import Transaction


@dataclass
class StatusSelected(Message):
    """The user moved onto a status (the chart follows it; `s` silences it)."""

    status: str


@dataclass
class AlertChosen(Message):
    """The user pressed enter on an alert: show its detail."""

    alert_id: int


@dataclass
class TransactionChosen(Message):
    """The user pressed enter on a transaction: show the detail of its status's alert."""

    transaction: Transaction
