"""Command-line options declared once for every command that takes them: durations, bounded
whole numbers, and the options that shape the generator's traffic.

`txmon-server generate` parses the traffic options into numbers; `txmon demo` declares the same
ones (with its own incident default), checks them the same way and hands their text on to the
generator it starts. Standard library only and cheap to import: `txmon --help` loads it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

DAY = 86_400


def parse_duration(text: str) -> int:
    """'90s', '5m', '2h', '2d' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 5m, 2h or 2d")
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": DAY}[match[2]]
    return int(float(match[1]) * factor)


def whole_number(low: int, high: int | None = None, unit: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number of at least `low` (and at most `high`), refused with
    a message that says which bound it broke; `unit` names what it counts ("minutes")."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            what = f"whole number of {unit}" if unit else "whole number"
            raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:,}-{high:,}, got {value}")
        if value < low:
            bound = "must not be negative" if low == 0 else f"must be at least {low:,}"
            raise argparse.ArgumentTypeError(f"{bound}, got {value}")
        return value

    return parse


@dataclass(frozen=True, slots=True)
class Option:
    """One option as argparse is told it. A default is given as text, the way a user would
    type it, so argparse parses it like a typed value and `%(default)s` shows it as typed."""

    flag: str
    help: str
    parse: Callable[[str], Any] | None = None
    default: str | None = None
    metavar: str | None = None


TRAFFIC: tuple[Option, ...] = (
    Option(
        "--speed",
        "simulated minutes per wall-clock minute (default %(default)s: one minute"
        " of traffic per second; 1 = real time)",
        float,
        "60",
    ),
    Option(
        "--backfill",
        "history to post first, e.g. %(default)s (default), 12h, 0",
        parse_duration,
        "2d",
    ),
    Option("--seed", "random seed (default %(default)s)", int, "1"),
    Option(
        "--anomaly-every",
        "wall time between injected incidents (default %(default)s; 0: none)",
        parse_duration,
        "5m",
    ),
)


def add_options(
    parser: argparse.ArgumentParser,
    options: Iterable[Option],
    *,
    defaults: dict[str, str] | None = None,
    as_text: bool = False,
) -> None:
    """Declare `options` on `parser`. `defaults` replaces some defaults (by flag); `as_text`
    checks each value with its parser but keeps the text, for a command that passes it on."""
    for option in options:
        parse = option.parse
        if as_text and parse is not None:
            parse = _keeping_text(parse)
        default = (defaults or {}).get(option.flag, option.default)
        parser.add_argument(
            option.flag, type=parse, default=default, metavar=option.metavar, help=option.help
        )


def add_traffic_options(
    parser: argparse.ArgumentParser, *, anomaly_every: str = "5m", as_text: bool = False
) -> None:
    """The generator's traffic options (--speed, --backfill, --seed, --anomaly-every), for
    `txmon-server generate` and for `txmon demo`, which starts it."""
    add_options(parser, TRAFFIC, defaults={"--anomaly-every": anomaly_every}, as_text=as_text)


def _keeping_text(parse: Callable[[str], Any]) -> Callable[[str], str]:
    def check(text: str) -> str:
        parse(text)
        return text

    # argparse names the parser in its error ("invalid float value: 'x'"): keep that name.
    check.__name__ = getattr(parse, "__name__", "value")
    return check
