"""Formatting shared by the widgets: times, durations, counts and bars (styles: severity.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Filter:
    """What the transactions table shows: empty tuples mean everything."""

    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """True when anything is filtered out."""
        return bool(self.statuses or self.severities)

    def describe(self) -> str:
        """A short description for the header and panel title."""
        parts = []
        if self.statuses:
            parts.append("status=" + ",".join(self.statuses))
        if self.severities:
            parts.append("severity=" + ",".join(self.severities))
        return " ".join(parts) or "none"


def hhmm(epoch: int | None) -> str:
    """`HH:MM` in UTC, or a dash."""
    return time.strftime("%H:%M", time.gmtime(epoch)) if epoch is not None else "-"


def day_hhmm(epoch: int | None) -> str:
    """`MM-DD HH:MM` in UTC, or a dash."""
    return time.strftime("%m-%d %H:%M", time.gmtime(epoch)) if epoch is not None else "-"


def full_time(epoch: int | None) -> str:
    """`YYYY-MM-DD HH:MM:SSZ`, or a dash."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch)) if epoch is not None else "-"


def duration(seconds: float) -> str:
    """A compact duration: 45s, 12m, 3h05m, 2d4h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def number(value: float | None, digits: int = 1) -> str:
    """A count or rate: whole numbers plainly, others with `digits` decimals, k/M above 10k."""
    if value is None:
        return "-"
    if round(value, digits) == 0:
        return "0" if float(value).is_integer() else f"{0:.{digits}f}"
    if abs(value) >= 10_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f}k"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{round(value)}"
    return f"{value:.{digits}f}"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `width` cells filled to `fraction` (eighth-block resolution)."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rest] if rest else ""
    return ("█" * full + partial).ljust(width)
