"""Hour-of-day profiles: what a status usually does at this hour, weekdays apart from
weekends once there is enough history of each."""

from __future__ import annotations

from collections import deque
from math import floor

from server.detect.stats import median

_SHAPES_KEPT = 1024  # memoised HourProfile.shape values per profile


class HourProfile:
    """Hour-of-day profile: median over past days of each hour's mean count (robust to a bad day).

    Keeps one series pooled over all days and one per day type (weekday, weekend); the typed
    one is used once it has `weekday_min_days` days, so weekly patterns appear with history.
    """

    __slots__ = (
        "_cache",
        "_cur_key",
        "_cur_n",
        "_cur_sum",
        "_day_types",
        "_medians",
        "_min_days",
        "_own",
        "_prior",
        "_rise_own",
        "_shapes",
        "epoch",
        "pooled",
        "typed",
    )

    def __init__(self, days: int, min_days: int, prior: float = 0.0) -> None:
        self._prior = prior
        self.pooled: list[deque[float]] = [deque(maxlen=days) for _ in range(24)]
        self.typed: list[list[deque[float]]] = [
            [deque(maxlen=days) for _ in range(24)] for _ in range(2)
        ]
        self._min_days = min_days
        self._cur_key = -1
        self._cur_sum = 0.0
        self._cur_n = 0
        self._cache: dict[int, tuple[list[float], float] | None] = {}
        # Each series' median (pooled hour h: key h; typed: 24 + 24 * weekend + h): a pushed
        # hour changes two series, not the other 46 a profile is formed from.
        self._medians: dict[int, float] = {}
        # shape() by minute: the engine asks for the same few minutes again and again.
        self._shapes: dict[int, tuple[float, float, float, float, float]] = {}
        # What shapes needs of each day type, formed once per pushed hour (see _day_type).
        self._day_types: list[_DayType | None] = [None, None]
        # Changes when a day type's profile appears or turns typed: shapes learned before
        # are then on another scale (the engine re-weighs its level windows).
        self.epoch = 0
        self._own = [True, True]  # _own_level by day type, updated when an hour is pushed
        self._rise_own = [True, True]  # _rise_level by day type, likewise

    def add(self, minute: int, value: float) -> None:
        """Account one settled minute (epoch seconds of its start)."""
        key = minute // 3600
        if key != self._cur_key:
            self._push()
            self._cur_key, self._cur_sum, self._cur_n = key, 0.0, 0
        self._cur_sum += value
        self._cur_n += 1

    def _push(self) -> None:
        if self._cur_key < 0 or self._cur_n < 30:
            return
        hour = self._cur_key % 24
        mean = self._cur_sum / self._cur_n
        before = self._kind()
        weekend = _weekend(self._cur_key * 3600)
        self.pooled[hour].append(mean)
        self.typed[weekend][hour].append(mean)
        self._medians.pop(hour, None)
        self._medians.pop(24 + 24 * weekend + hour, None)
        self._cache.clear()
        self._shapes.clear()
        self._day_types = [None, None]
        self._own = [self._own_level(0), self._own_level(1)]
        deep = all(len(d) >= self._min_days for d in self.pooled)
        self._rise_own = [self._own[0] or deep, self._own[1] or deep]
        if self._kind() != before:
            self.epoch += 1

    def _kind(self) -> tuple[bool, bool, bool]:
        """(pooled profile complete, weekday profile typed, weekend profile typed)."""
        need = self._min_days
        return (
            all(self.pooled),
            all(len(d) >= need for d in self.typed[0]),
            all(len(d) >= need for d in self.typed[1]),
        )

    def hour_value(self, hour: int, weekend: int | None = None) -> float | None:
        """Typical mean count per minute in this hour of day, or None without history."""
        if weekend is not None:
            typed = self.typed[weekend][hour]
            if len(typed) >= self._min_days:
                return self._median(24 + 24 * weekend + hour, typed)
        series = self.pooled[hour]
        return self._median(hour, series) if series else None

    def _median(self, key: int, series: deque[float]) -> float:
        """median(series), kept under `key` until the series is pushed to."""
        value = self._medians.get(key)
        if value is None:
            value = self._medians[key] = median(list(series))
        return value

    def _own_level(self, weekend: int) -> bool:
        """Whether the profile's level is this day type's own: it has its typed profile, or
        no day of the other type was seen (a weekday-made level is no weekend's level)."""
        need = self._min_days
        if all(len(d) >= need for d in self.typed[weekend]):
            return True
        return not any(self.typed[1 - weekend])

    def _profile(self, weekend: int) -> tuple[list[float], float] | None:
        if weekend not in self._cache:
            values = [self.hour_value(h, weekend) for h in range(24)]
            if any(v is None for v in values):
                self._cache[weekend] = None
            else:
                mean = sum(values) / 24.0  # type: ignore[arg-type]
                self._cache[weekend] = (values, mean) if mean > 0 else None  # type: ignore[assignment]
        return self._cache[weekend]

    def shape(self, minute: int) -> float:
        """Relative level of this time of day (1.0 = daily average; 1.0 without a full day)."""
        return self.shapes(minute)[0]

    def shapes(self, minute: int) -> tuple[float, float, float, float, float]:
        """(shape, lower, upper, daily mean, rise mean): the interpolated shape, the lower and
        higher of it and the shape of this hour alone, the mean count per minute of the day
        type (0.0 without a full day of it), and the mean that rises are judged against.
        A traffic step at an hour boundary (a shop opening) is then not half-expected in the
        half hour before it: rises are judged against the upper shape, drops against the lower
        one. The rise mean is the daily mean, or the pooled one once every hour has
        `weekday_min_days` days (a median over that many resists a bad day): a first Saturday
        may be quieter than the weekdays, which excuses no drop, but its shop still opens."""
        shapes = self._shapes
        value = shapes.get(minute)
        if value is not None:
            return value
        if len(shapes) >= _SHAPES_KEPT:
            shapes.clear()
        # Formed here rather than in a method of its own: this runs for every status and minute.
        weekend = 1 if (minute // 86400 + 3) % 7 >= 5 else 0  # _weekend(minute), written out
        kind = self._day_types[weekend] or self._day_type(weekend)
        if kind is _FLAT:
            value = 1.0, 1.0, 1.0, 0.0, 0.0
        else:
            wrapped, prior, mean, steps, daily, rise = kind
            day = minute % 86400
            pos = day / 3600.0 - 0.5
            h0 = floor(pos)  # -1 .. 23
            w = pos - h0
            # values[h0 % 24] and values[(h0 + 1) % 24], from the list wrapped at both ends
            v = (1.0 - w) * wrapped[h0 + 1] + w * wrapped[h0 + 2]
            shape = (v + prior) / mean
            if shape < 0.02:
                shape = 0.02
            step = steps[day // 3600]
            if step < shape:
                value = shape, step, shape, daily, rise
            else:
                value = shape, shape, step, daily, rise
        shapes[minute] = value
        return value

    def has_shape(self, minute: int) -> bool:
        """Whether this minute's day type has hour shapes (its own or pooled), not flat ones."""
        weekend = _weekend(minute)
        return (self._day_types[weekend] or self._day_type(weekend)) is not _FLAT

    def daily_mean(self, minute: int) -> float | None:
        """Mean count per minute over the day type of this minute, None without a full day."""
        mean = self.shapes(minute)[3]
        return mean if mean > 0.0 else None

    def _day_type(self, weekend: int) -> _DayType:
        """(hour values wrapped: hour 23, hours 0-23, hour 0; prior, mean + prior, each hour's
        own shape, daily mean, rise mean) of a day type, or _FLAT without a full day: the parts
        of `shapes` that change only when an hour is pushed, formed once instead of for every
        minute."""
        prof = self._profile(weekend)
        if prof is None:
            kind: _DayType = _FLAT
        else:
            values, mean = prof
            prior = self._prior  # shrinks the shapes of a sparse status towards flat
            daily = mean if self._own[weekend] else 0.0
            rise = mean if self._rise_own[weekend] else 0.0
            mean += prior
            steps = [(value + prior) / mean for value in values]
            steps = [step if step >= 0.02 else 0.02 for step in steps]
            kind = ([values[23], *values, values[0]], prior, mean, steps, daily, rise)
        self._day_types[weekend] = kind
        return kind


_DayType = tuple[list[float], float, float, list[float], float, float]
_FLAT: _DayType = ([], 0.0, 1.0, [], 0.0, 0.0)  # no full day of this type: flat shapes


def _weekend(epoch: int) -> int:
    return 1 if (epoch // 86400 + 3) % 7 >= 5 else 0  # 1970-01-01 was a Thursday
