"""Prometheus text exposition (format 0.0.4) for `GET /metrics`, stdlib only.

Counters and histograms live in memory (they restart from zero with the process, as
Prometheus expects); gauges about stored state are read when scraped.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from server import store
from server.detect.lifecycle import ACKNOWLEDGED, FIRING

LabelValues = tuple[str, ...]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DETECT_BUCKETS = (0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.005, 0.01, 0.05)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: LabelValues, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Counter:
    """A monotonically increasing count, optionally split by labels.

    `single_writer=True` drops the lock for counters only one thread ever increments (the
    writer thread's): a scrape copies the values in one C-level step, so it stays safe.
    """

    def __init__(
        self, name: str, help: str, labels: tuple[str, ...] = (), *, single_writer: bool = False
    ) -> None:
        self.name, self.help, self.label_names = name, help, labels
        self._values: dict[LabelValues, float] = {}
        self._lock: threading.Lock | contextlib.nullcontext[None] = (
            contextlib.nullcontext() if single_writer else threading.Lock()
        )

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        items = sorted(list(self._values.items()))
        for labels, value in items:
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class Histogram:
    """Observations counted into cumulative buckets, with their sum and count."""

    def __init__(
        self, name: str, help: str, buckets: tuple[float, ...], *, single_writer: bool = False
    ) -> None:
        self.name, self.help, self.buckets = name, help, buckets
        self._counts = [0] * (len(buckets) + 1)
        self._sum = 0.0
        self._lock: threading.Lock | contextlib.nullcontext[None] = (
            contextlib.nullcontext() if single_writer else threading.Lock()
        )

    def observe(self, value: float) -> None:
        index = len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                index = i
                break
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        with self._lock:
            counts, total = list(self._counts), self._sum
        running = 0
        for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
            running += count
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {running}'
        yield f"{self.name}_sum {_number(total)}"
        yield f"{self.name}_count {running}"


class Gauge:
    """A value read at scrape time from `collect`, as (label values, value) pairs."""

    def __init__(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...],
        collect: Callable[[], Iterable[tuple[LabelValues, float]]],
    ) -> None:
        self.name, self.help, self.label_names, self._collect = name, help, labels, collect

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in self._collect():
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class Metrics:
    """Everything the receiver exposes; the service and HTTP layer feed it."""

    def __init__(self) -> None:
        # Records, transactions and detector time are counted by the writer thread alone.
        self.records = Counter(
            "txmon_records_ingested_total",
            "Records stored, by status.",
            ("status",),
            single_writer=True,
        )
        self.transactions = Counter(
            "txmon_transactions_ingested_total",
            "Sum of the counts of stored records, by status.",
            ("status",),
            single_writer=True,
        )
        self.requests = Counter(
            "txmon_http_requests_total",
            "HTTP requests answered, by method and code.",
            ("method", "code"),
        )
        self.ingest_latency = Histogram(
            "txmon_ingest_duration_seconds",
            "Time from reading a POST of records to answering it (includes the commit).",
            LATENCY_BUCKETS,
        )
        self.detect_time = Histogram(
            "txmon_detector_seconds_per_record",
            "Detector evaluation time per record, averaged over each write job.",
            DETECT_BUCKETS,
            single_writer=True,
        )
        self.gauges: list[Gauge] = []

    def add_gauge(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...],
        collect: Callable[[], Iterable[tuple[LabelValues, float]]],
    ) -> None:
        self.gauges.append(Gauge(name, help, labels, collect))

    def render(self) -> str:
        lines: list[str] = []
        for metric in (
            self.records,
            self.transactions,
            self.requests,
            self.ingest_latency,
            self.detect_time,
        ):
            lines.extend(metric.render())
        for gauge in self.gauges:
            lines.extend(gauge.render())
        return "\n".join(lines) + "\n"


class RateMeter:
    """Records ingested per second over the last minute of wall-clock time."""

    def __init__(self, window: int = 60) -> None:
        self._window = window
        self._buckets: collections.deque[list[int]] = collections.deque()
        self._lock = threading.Lock()

    def add(self, n: int, now: float | None = None) -> None:
        second = int(now if now is not None else time.time())
        with self._lock:
            if self._buckets and self._buckets[-1][0] == second:
                self._buckets[-1][1] += n
            else:
                self._buckets.append([second, n])
            self._trim(second)

    def rate(self, now: float | None = None) -> float:
        second = int(now if now is not None else time.time())
        with self._lock:
            self._trim(second)
            return sum(n for _, n in self._buckets) / self._window

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self._window:
            self._buckets.popleft()


def register_gauges(
    metrics: Metrics, read: Callable[..., Any], rate: RateMeter, horizon: Callable[[], int]
) -> None:
    """Gauges read at scrape time: stored state through `read` (a pooled read), the rate."""
    m = metrics

    def last_event() -> list[tuple[tuple[str, ...], float]]:
        newest = read(store.newest_minute, horizon())
        return [] if newest is None else [((), float(newest))]

    def alerts() -> list[tuple[tuple[str, ...], float]]:
        counts = {FIRING: 0, ACKNOWLEDGED: 0}
        counts.update(read(store.open_alert_counts))
        return [((state,), float(n)) for state, n in sorted(counts.items())]

    def notifications() -> list[tuple[tuple[str, ...], float]]:
        return [((c, s), float(n)) for c, s, n in read(store.notification_counts)]

    m.add_gauge(
        "txmon_last_event_timestamp_seconds",
        "Event time (epoch s) of the newest stored minute.",
        (),
        last_event,
    )
    m.add_gauge(
        "txmon_records_stored",
        "Records in the database.",
        (),
        lambda: [((), float(read(store.records_stored)))],
    )
    m.add_gauge("txmon_alerts_open", "Open alerts by state.", ("state",), alerts)
    m.add_gauge(
        "txmon_notifications",
        "Outbox rows by channel and state.",
        ("channel", "state"),
        notifications,
    )
    m.add_gauge(
        "txmon_ingest_rate_records_per_second",
        "Records stored per second over the last minute.",
        (),
        lambda: [((), rate.rate())],
    )
