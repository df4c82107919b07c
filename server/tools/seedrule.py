"""The seed's rule replayed for comparison: mean + 3 sample sigma over 7 same-hour points.

As the seed receiver does for each record: take up to 7 earlier counts of the same status with
the same date and clock hour (fewer than 3: the latest 7 of that clock hour on any day); alert
when sigma > 0 and count > mean + 3 sigma. Statuses other than four are rejected, as in the seed.
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator

from server.records import Record

SEED_STATUSES = frozenset({"approved", "failed", "denied", "reversed"})


def replay(records: Iterable[Record]) -> Iterator[Record]:
    """Yield the records on which the seed rule raises an alert (records in event-time order)."""
    same_day: dict[tuple[str, int, int], deque[int]] = defaultdict(lambda: deque(maxlen=7))
    any_day: dict[tuple[str, int], deque[int]] = defaultdict(lambda: deque(maxlen=7))
    for rec in records:
        if rec.status not in SEED_STATUSES:
            continue
        day, hour = rec.ts // 86400, (rec.ts // 3600) % 24
        hist = list(same_day[(rec.status, day, hour)])
        if len(hist) < 3:
            hist = list(any_day[(rec.status, hour)])
        if len(hist) >= 3:
            mean, sd = statistics.fmean(hist), statistics.stdev(hist)
            if sd > 0 and rec.count > mean + 3 * sd:
                yield rec
        same_day[(rec.status, day, hour)].append(rec.count)
        any_day[(rec.status, hour)].append(rec.count)
