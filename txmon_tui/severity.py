"""What is alarming, and how loud each level is drawn: the one place that decides "red".

Every widget asks this module two questions: how bad is this (a severity: `high`, `medium`,
`low` or `normal`), and which style does that severity get in the terminal at hand (a `Look`).
Three looks cover the terminals people have at 3 a.m.:

- `color` (256 colours and more): the alarm is bold white on a red band, medium is plain
  amber text, healthy states are green text;
- `ansi16` (`TERM=xterm`, `screen`, 16 colours): the same with the terminal's own red,
  yellow and green, so nothing is approximated into magenta or grey;
- `mono` (`NO_COLOR`): the alarm is bold reverse video, medium bold, the rest plain.

In each the alarm is the loudest thing on screen, medium is quieter than high, and the
contrast of the alarm is at least 4.5:1 (tests/test_tui_severity.py measures it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rich.text import Text

SEVERITIES = ("high", "medium", "low", "normal")  # worst first: the order, defined once here
RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
# Severity is always written as well as styled, so it reads in any colour mode.
GLYPH = {"high": "▲▲ HIGH", "medium": "▲ med", "low": "· low", "normal": "  ok"}
STATE_GLYPH = {"firing": "● FIRING", "acknowledged": "◐ acked", "resolved": "○ resolved"}


class _AlertLike(Protocol):
    state: str
    severity: str


def worst(severities: Iterable[str]) -> str:
    """The most severe of `severities` (normal when empty)."""
    return max(severities, key=lambda s: RANK.get(s, 0), default="normal")


def status_severity(now: int | None, upper: float | None, alerts: Sequence[_AlertLike]) -> str:
    """A status's severity: its worst firing alert's, or high when this minute is over the limit.

    Acknowledged alerts do not count: someone is on them, so they no longer shout.
    """
    severity = worst(a.severity for a in alerts if a.state == "firing")
    if now is not None and upper and now > upper:
        severity = "high"
    return severity


def alert_severity(alert: _AlertLike) -> str:
    """How loud an open alert is drawn: firing ones by their severity, the others quietly."""
    return alert.severity if alert.state == "firing" else "quiet"


def is_alarming(severity: str) -> bool:
    """True for what must be seen first: high severity."""
    return severity == "high"


def over_limit(per_minute: float, upper: float | None) -> bool:
    """True when a per-minute rate is above the upper limit."""
    return upper is not None and upper > 0 and per_minute > upper


@dataclass(frozen=True)
class Look:
    """Rich styles for one colour mode."""

    name: str
    high: str
    medium: str
    low: str
    quiet: str  # acknowledged alerts, learning baselines
    healthy: str  # "● live", "0 firing"
    warning: str  # what the screen does not know: unknown, stale, disconnected

    def severity(self, severity: str) -> str:
        """The style of a row, cell or count of this severity."""
        return {
            "high": self.high,
            "medium": self.medium,
            "low": self.low,
            "quiet": self.quiet,
        }.get(severity, "")

    def text(self, text: str, severity: str) -> Text:
        """`text` in the style of `severity`."""
        return Text(text, style=self.severity(severity))

    def glyph(self, severity: str) -> Text:
        """The severity written out (`▲▲ HIGH`), styled."""
        return self.text(GLYPH.get(severity, severity), severity)


COLOR = Look(
    name="color",
    high="bold #ffffff on #af0000",
    medium="#d7af5f",
    low="",
    quiet="dim",
    healthy="bold #5fd75f",
    warning="bold #000000 on #ffd75f",
)
ANSI16 = Look(
    name="ansi16",
    high="bold bright_white on red",
    medium="yellow",
    low="",
    quiet="dim",
    healthy="bold green",
    warning="bold black on yellow",
)
MONO = Look(
    name="mono",
    high="bold reverse",
    medium="bold",
    low="",
    quiet="dim",
    healthy="bold",
    warning="bold underline",
)
LOOKS = {look.name: look for look in (COLOR, ANSI16, MONO)}


def look_of(app: object) -> Look:
    """The look the running app chose (full colour outside the app, e.g. in unit tests)."""
    look = getattr(app, "look", None)
    return look if isinstance(look, Look) else COLOR


def choose_look(no_color: bool, color_system: str | None) -> Look:
    """The look for a terminal: NO_COLOR wins, then 16-colour terminals, else full colour."""
    if no_color:
        return MONO
    if color_system in ("standard", "windows"):
        return ANSI16
    return COLOR
