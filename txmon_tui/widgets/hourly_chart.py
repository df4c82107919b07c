"""The seed dashboard's main chart: average and upper limit per hour of day (plotext)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from textual_plotext import PlotextPlot

from txmon_tui.models import HourProfile


def count_ticks(top: float, most: int = 5) -> list[int]:
    """Whole-number y ticks from 0 to at least `top`: counts have no decimals."""
    top = max(1.0, top)
    step = 1
    while top / step > most:
        for factor in (2, 2.5, 2):  # 1, 2, 5, 10, 20, 50, ...
            step = int(step * factor)
            if top / step <= most:
                break
    return list(range(0, math.ceil(top / step) * step + 1, step))


class HourlyChart(PlotextPlot, can_focus=True):
    """Bars of the typical per-minute count by hour (UTC), the upper limit and the current count."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.theme = "clear"
        self._shown: tuple[Any, ...] | None = None
        self._title = "Hourly profile (no data)"
        self.stamp = ""

    def show_profile(
        self,
        status: str | None,
        profile: Sequence[HourProfile],
        hour: int | None,
        current: int | None,
    ) -> None:
        """Draw the profile of `status`; a no-op when the inputs did not change."""
        key = (status, tuple(profile), hour, current)
        if key == self._shown:
            return
        self._shown = key
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if status is None:
            self._title = "Hourly profile (no data)"
            self._retitle()
            self.refresh()
            return
        by_hour = {p.hour: p for p in profile}
        hours = list(range(24))
        averages = [by_hour[h].average if h in by_hour else 0.0 for h in hours]
        uppers = [by_hour[h].upper if h in by_hour else 0.0 for h in hours]
        # the legend goes in the border title: plotext's own legend would cover the bars
        plt.bar(hours, averages, marker="sd", width=0.6)
        plt.plot(hours, uppers, marker="dot")
        self._title = f"Hourly profile: {status} per minute (UTC)"
        self._retitle()
        legend = "█ average  • upper limit"
        if hour is not None and current is not None:
            plt.scatter([hour], [current], marker="x")
            legend += f"  x now {current}"
        if not any(averages):
            legend = "still learning  " + legend
        plt.xticks([0, 3, 6, 9, 12, 15, 18, 21, 23])
        ticks = count_ticks(max([*averages, *uppers, current or 0]))
        plt.yticks(ticks, [str(t) for t in ticks])
        plt.ylim(0, ticks[-1])
        plt.xlim(-0.5, 23.5)
        self.border_subtitle = legend
        self.refresh()

    def set_stamp(self, stamp: str) -> None:
        """Mark the chart as old (`as of 07:31Z`), or live again with ""."""
        if stamp != self.stamp:
            self.stamp = stamp
            self._retitle()

    def _retitle(self) -> None:
        self.border_title = self._title + (f" · {self.stamp}" if self.stamp else "")
