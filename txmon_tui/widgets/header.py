"""The one-line status bar at the top: how sure the screen is, and the state of the system.

It says, in this order of importance: whether the data is live (or since when it is not, and
why), how many alerts fire, and how fresh the newest record is. What it does not know it
says it does not know (`? firing`), never a healthy-looking zero.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual.widget import Widget

from txmon_tui import severity
from txmon_tui.format import duration, hhmm, number


@dataclass(frozen=True)
class HeaderState:
    """Everything the status bar shows."""

    url: str = ""
    receiver: str = ""  # host:port of the receiver in use, when there are several
    receivers: int = 1
    position: int = 1  # which of them (1 = the first listed)
    connection: str = "connecting"  # connecting, live, paused, reconnecting, unauthorized,
    # unexpected (an answer no receiver gives, such as a 404 for a URL with a path),
    # switching (trying the next receiver after the one in use failed)
    retry_at: float | None = None  # clock time of the next attempt while reconnecting
    problem: str = ""
    have_data: bool = False  # at least one poll succeeded
    last_ok: float | None = None  # clock time of the last successful poll
    newest_event_time: int | None = None
    last_change: float | None = None  # clock time stored records were last seen to grow
    ingest_rate: float | None = None
    firing: int = 0
    acknowledged: int = 0
    read_only: bool = False
    filter: str = ""
    stale_after: float = 300.0  # seconds: the newest record is stale beyond this age
    poll_late_after: float = 2.0  # seconds: a poll answer is late beyond this age


def as_of(epoch: float | None) -> str:
    """`as of 07:31Z` for data last fetched at `epoch`."""
    return f"as of {hhmm(int(epoch))}Z" if epoch is not None else "no data yet"


def join_parts(parts: list[Text]) -> Text:
    """The parts with dim separators (Text.join would make the whole line dim)."""
    line = Text()
    for index, part in enumerate(parts):
        if index:
            line.append(" │ ", style="dim")
        line.append_text(part)
    return line


class StatusBar(Widget):
    """Connection and freshness, open alerts, newest record, ingest rate."""

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; }
    """

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.state = HeaderState(url=url, read_only=read_only)

    def update_state(self, **changes: Any) -> None:
        """Change some fields; repaint only when something visible changed."""
        new = replace(self.state, **changes)
        if new != self.state:
            self.state = new
            self.refresh()

    def tick(self) -> None:
        """Repaint the ages and the countdown (called once a second)."""
        self.refresh()

    # --- what the screen knows ----------------------------------------------------------------

    @property
    def live(self) -> bool:
        """True when the last poll succeeded and its answer is not late."""
        s = self.state
        return s.connection == "live" and s.have_data and not self.poll_late

    @property
    def poll_late(self) -> bool:
        """True when the last successful poll is older than the late threshold."""
        s = self.state
        if s.connection != "live" or s.last_ok is None:
            return False
        return self.clock() - s.last_ok > s.poll_late_after

    @property
    def event_age(self) -> float | None:
        """Seconds from the newest record's event time to now (negative: ahead of the clock)."""
        s = self.state
        return None if s.newest_event_time is None else self.clock() - s.newest_event_time

    @property
    def arrival_age(self) -> float | None:
        """Seconds since this dashboard last saw the number of stored records grow."""
        s = self.state
        return None if s.last_change is None else self.clock() - s.last_change

    @property
    def record_age(self) -> float | None:
        """How old the data is: the newest event's age, unless records are seen arriving.

        Senders that replay history or run ahead of real time (the demo) have event times far
        from now; for them, the time since new records last arrived is what says whether
        data still flows.
        """
        event, arrival = self.event_age, self.arrival_age
        if event is None:
            return None
        if arrival is None:
            return max(0.0, event)
        return min(max(0.0, event), arrival)

    @property
    def stale(self) -> bool:
        """True when the data is older than the stale threshold."""
        age = self.record_age
        return age is not None and age > self.state.stale_after

    def connection_text(self, short: bool = False) -> str:
        """The connection part as plain text, e.g. `✖ disconnected: connection refused`; with
        several receivers it names the one in use (`● live on b:8787`)."""
        s = self.state
        on = f" on {s.receiver}" if s.receiver else ""
        if s.connection == "switching":
            return f"◌ trying {s.receiver}" + ("" if short or not s.problem else f" ({s.problem})")
        if s.connection == "reconnecting":
            if short:  # with several receivers, that none answers is the point
                every = f": {s.problem}" if s.receivers > 1 and s.problem else ""
                return f"✖ disconnected{every} · r: retry"
            label = "✖ disconnected" + (f": {s.problem}" if s.problem else "")
            if s.retry_at is not None:
                wait = max(0, math.ceil(s.retry_at - self.clock()))
                label += f" · retry in {wait}s" if wait else " · retrying"
            return label + " · r: retry now"
        if s.connection == "unauthorized":
            problem = "" if short else f" ({s.problem})" if s.problem else ""
            return f"✖ token rejected{on}{problem}"
        if s.connection == "unexpected":
            problem = "" if short else f": {s.problem}" if s.problem else ""
            return f"✖ unexpected answer{on}{problem} · r: retry"
        if s.connection == "connecting":
            return f"◌ connecting to {s.receiver}" if s.receiver else "◌ connecting"
        if s.connection == "paused":
            return f"‖ paused{on}" + ("" if short else " · p: resume")
        if self.poll_late and s.last_ok is not None:
            late = f"◌ no answer for {duration(self.clock() - s.last_ok)}"
            return f"{late} from {s.receiver}" if s.receiver else late
        return f"● live{on}"

    # --- drawing ----------------------------------------------------------------------------

    def render(self) -> Text:
        """Build the line, shortening then dropping the least important parts when narrow.

        Each part is (rank, long form, short form or None): while the line is too long, one
        part at a time switches to its short form, or goes, the highest rank first.
        """
        s = self.state
        look = severity.look_of(self.app)
        healthy = self.live and s.connection == "live"
        style = look.healthy if healthy else look.warning
        parts: list[tuple[int, Text, Text | None]] = [
            (1, Text(self.connection_text(), style), Text(self.connection_text(True), style)),
            *self._alerts_parts(look),
        ]
        if s.have_data and not self.live:
            parts.append((0, Text(as_of(s.last_ok), style=look.warning), None))
        parts.extend(self._freshness(look))
        if s.read_only:
            parts.append((1, Text("READ-ONLY", style="reverse"), Text("RO", style="reverse")))
        if s.filter:
            parts.append((3, Text(f"filter {s.filter}", style="italic"), None))
        if s.have_data and s.ingest_rate is not None:
            parts.append((4, Text(f"{number(s.ingest_rate)} rec/s"), None))
        where = f" ({s.position}/{s.receivers})" if s.receivers > 1 else ""
        parts.append((3, Text.assemble(("txmon ", "bold"), s.url, where), None))
        width = self.size.width or 200
        shown: list[Text | None] = [long for _rank, long, _short in parts]
        line = join_parts([t for t in shown if t is not None])
        # One part at a time, least important rank first and the later of equal ranks first,
        # so nothing goes that would have fitted.
        order = sorted(range(len(parts)), key=lambda i: (-parts[i][0], -i))
        for i in order:
            if line.cell_len <= width:
                return line
            shown[i] = parts[i][2]
            line = join_parts([t for t in shown if t is not None])
        if line.cell_len > width:
            line.truncate(width, overflow="ellipsis")
        return line

    def _alerts_parts(self, look: severity.Look) -> list[tuple[int, Text, Text | None]]:
        s = self.state
        if not s.have_data:
            why = {
                "unauthorized": "token rejected",
                "reconnecting": "receiver unreachable",
                "unexpected": "unexpected answer",
            }
            if s.receivers > 1:
                why["reconnecting"] = "no receiver answers"
            reason = why.get(s.connection, "waiting for the receiver")
            unknown = Text("? firing", style=look.warning)
            return [(0, unknown, None), (2, Text(f"no data: {reason}", style=look.warning), None)]
        if s.firing:
            firing = Text(f" {s.firing} FIRING ", style=look.high)
        else:
            firing = Text("0 firing", style=look.healthy if self.live else "")
        return [(3, Text.assemble(firing, f" {s.acknowledged} acked"), firing)]

    def _freshness(self, look: severity.Look) -> list[tuple[int, Text]]:
        s = self.state
        if not s.have_data:
            return []
        event, arrival = self.event_age, self.arrival_age
        if event is None:
            return [(0, Text("no records yet", style=look.warning), None)]
        newest = f"newest {hhmm(s.newest_event_time)}Z"
        if self.stale:
            if arrival is None or arrival >= event:
                age = duration(event)
                text = f"STALE · {newest}, {age} ago"
            else:
                age = duration(arrival)
                text = f"STALE · no new record for {age} ({newest})"
            short = Text(f"STALE {age}", style=look.warning)
            return [(2, Text(text, style=look.warning), short)]
        parts: list[tuple[int, Text, Text | None]] = []
        if 0 <= event <= s.stale_after or arrival is None:
            age = duration(max(0.0, event))
            parts.append((2, Text(f"{newest}, {age} ago"), Text(f"{hhmm(s.newest_event_time)}Z")))
        else:
            where = "ahead of this clock" if event < 0 else f"{duration(event)} behind"
            text = f"{newest} ({where}), last new {duration(arrival)} ago"
            parts.append((2, Text(text), Text(f"{newest}, new {duration(arrival)} ago")))
        if s.last_ok is not None and s.connection == "live":
            parts.append((4, Text(f"polled {duration(self.clock() - s.last_ok)} ago"), None))
        return parts
