"""Statistics of the detector: known inputs give known scores, limits and fits."""

from __future__ import annotations

import math
import re

import pytest

from server.detect.config import DetectConfig
from server.detect.profiles import HourProfile
from server.detect.stats import (
    Window,
    dispersion,
    fit_baseline,
    limit,
    long_dispersion,
    median,
    score,
    severity_of,
)

POISSON = 1e12  # an NB size this large is a Poisson


def poisson_deviance_root(x: float, mu: float) -> float:
    """Independent reference: signed root of the Poisson deviance."""
    dev = 2 * (x * math.log(x / mu) - (x - mu)) if x > 0 else 2 * mu
    return math.copysign(math.sqrt(dev), x - mu)


def test_score_is_zero_at_the_expected_count() -> None:
    assert score(6, 6, 50) == pytest.approx(0.0, abs=1e-9)


def test_score_matches_the_poisson_deviance_for_large_size() -> None:
    for x, mu in [(16, 6), (0, 3), (2, 9.5), (130, 120), (50, 80)]:
        assert score(x, mu, POISSON) == pytest.approx(poisson_deviance_root(x, mu), rel=1e-4)


def test_score_is_signed_by_direction() -> None:
    assert score(20, 6, 40) > 0
    assert score(1, 6, 40) < 0


def test_zero_baseline_status_scores_high_at_ten() -> None:
    # An hour of zeros (Jeffreys rate 0.5/60 per minute, estimate size 0.5): 10 is far beyond.
    assert score(10, 0.5 / 60, 0.5) > DetectConfig().high
    assert score(1, 0.5 / 60, 0.5) < DetectConfig().medium


def test_overdispersion_lowers_the_score_of_the_same_count() -> None:
    assert score(30, 10, 5) < score(30, 10, 500) < score(30, 10, POISSON)


@pytest.mark.parametrize(
    ("mu", "size", "z"),
    [(6, POISSON, 5), (6, 100, 3), (120, 50, -4), (0.01, 0.5, 5), (1000, 20, 4), (30, 7, -3)],
)
def test_limit_inverts_score(mu: float, size: float, z: float) -> None:
    x = limit(mu, size, z)
    assert score(x, mu, size) == pytest.approx(z, abs=1e-3)


def test_poisson_upper_limit_for_mean_six_at_five_is_known() -> None:
    # Solved independently by bisection on the Poisson deviance.
    lo, hi = 6.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if poisson_deviance_root(mid, 6) < 5 else (lo, mid)
    assert limit(6, POISSON, 5) == pytest.approx(lo, abs=1e-3)
    assert 21 < lo < 23


def test_lower_limit_is_zero_when_zero_is_not_extreme() -> None:
    assert limit(1.0, 50, -3) == 0.0
    lo, hi = 0.0, 120.0  # independent bisection on the Poisson deviance
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if poisson_deviance_root(mid, 120) < -3 else (lo, mid)
    assert limit(120, POISSON, -3) == pytest.approx(lo, abs=1e-3)
    assert 85 < lo < 92


def test_median_of_known_lists() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_dispersion_is_floored_for_poisson_like_data() -> None:
    assert dispersion(resid2=10.0, sum_mu=10.0, sum_mu2=10.0, floor=0.002) == 0.002
    assert dispersion(resid2=30.0, sum_mu=10.0, sum_mu2=100.0, floor=0.002) == pytest.approx(0.2)


def test_window_fit_of_known_values() -> None:
    w = Window(3)
    for x in (2.0, 4.0, 6.0, 100.0):  # the first value falls out of the ring
        w.push(x, 1.0)
    c, phi, total = w.fit(0.002)
    assert total == pytest.approx(110.0)
    assert c == pytest.approx(110.5 / 3)
    assert phi > 0.5  # 4, 6, 100 are far more spread than Poisson


def test_fit_baseline_uncertainty_shrinks_with_history() -> None:
    short, long = Window(5), Window(500)
    for _ in range(5):
        short.push(10.0, 1.0)
    for _ in range(500):
        long.push(10.0, 1.0)
    assert fit_baseline(short, 0.002).size() < fit_baseline(long, 0.002).size()


def test_severity_thresholds() -> None:
    cfg = DetectConfig()
    assert [severity_of(z, cfg) for z in (0.0, 3.0, 4.2, 5.0)] == [0, 1, 2, 3]


def test_hour_profile_uses_the_median_day_so_one_bad_day_does_not_move_it() -> None:
    prof = HourProfile(days=14, min_days=3)
    day0 = 1751846400
    for day, value in enumerate([10.0, 11.0, 500.0, 9.0]):
        for minute in range(60):
            prof.add(day0 + day * 86400 + 9 * 3600 + minute * 60, value)
    prof.add(day0 + 5 * 86400, 0.0)  # closes the last hour
    assert prof.hour_value(9) == pytest.approx(10.5)


def test_hour_profile_shape_is_flat_without_a_full_day_and_follows_the_cycle_after() -> None:
    prof = HourProfile(days=14, min_days=3)
    day0 = 1751846400
    assert prof.shape(day0 + 12 * 3600) == 1.0
    for minute in range(1441):
        hour = (minute // 60) % 24
        prof.add(day0 + minute * 60, 100.0 if 10 <= hour < 16 else 10.0)
    assert prof.shape(day0 + 86400 + 13 * 3600) > 2.0
    assert prof.shape(day0 + 86400 + 3 * 3600) < 0.5


def test_a_first_weekend_judges_rises_on_the_pooled_profile_only_once_it_holds_three_days() -> None:
    """Drops keep the day type's own level; rises take the pooled one once its medians rest
    on `weekday_min_days` days, so a first Saturday's opening hour is expected."""
    day0 = 1751846400  # a Monday
    saturday_9 = day0 + 5 * 86400 + 9 * 3600

    def weekdays(n: int) -> HourProfile:
        prof = HourProfile(days=14, min_days=3)
        for minute in range(n * 1440 + 1):
            hour = (minute // 60) % 24
            prof.add(day0 + minute * 60, 100.0 if 9 <= hour < 17 else 0.0)
        return prof

    _shape, _lower, _upper, daily, rise = weekdays(2).shapes(saturday_9)
    assert daily == 0.0 and rise == 0.0  # two weekdays say nothing of a Saturday
    _shape, _lower, _upper, daily, rise = weekdays(4).shapes(saturday_9)
    assert daily == 0.0  # no drop is judged against weekday traffic
    assert rise == pytest.approx(100.0 / 3.0)  # the pooled daily mean


def test_long_dispersion_stays_within_floor_and_cap() -> None:
    sums = [0.0, 0.0, 0.0, 0.0]
    phi = 0.0
    for i in range(1000):  # bursts: 0 most minutes, 40 every tenth, against an expected 4
        phi = long_dispersion(
            sums, 40.0 if i % 10 == 0 else 0.0, 4.0, 0.999, 360.0, 1.0, 0.002, 0.05
        )
    assert phi == 0.05
    calm = [0.0, 0.0, 0.0, 0.0]
    for _ in range(1000):
        phi = long_dispersion(calm, 4.0, 4.0, 0.999, 360.0, 1.0, 0.002, 0.05)
    assert phi == 0.002
    # Before `weight` buckets the fallback is used, also within the bounds.
    assert long_dispersion([0.0] * 4, 4.0, 4.0, 0.999, 360.0, 9.0, 0.002, 0.05) == 0.05


def test_config_from_mapping_accepts_known_keys() -> None:
    cfg = DetectConfig.from_mapping({"high": 6, "drop_statuses": ["approved"], "late_minutes": 5})
    assert cfg.high == 6.0 and isinstance(cfg.high, float)
    assert cfg.drop_statuses == ("approved",)
    assert cfg.late_minutes == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hihg": 5.0}, "unknown [detect] key(s): hihg"),
        ({"late_minutes": "10"}, "late_minutes must be a whole number"),
        ({"late_minutes": True}, "late_minutes must be a whole number"),
        ({"high": "x"}, "high must be a number"),
        ({"drop_statuses": "approved"}, "drop_statuses must be a list"),
        ({"low": 6.0}, "low <= medium <= high"),
        ({"open_medium_k": 9}, "open_medium_k must not exceed"),
        ({"resolve_minutes": 0}, "resolve_minutes must be at least 1"),
        ({"unseasoned_drop_minutes": 0}, "unseasoned_drop_minutes must be at least 1"),
        ({"rearm_minutes": -1}, "rearm_minutes must not be negative"),
        ({"incident_weight": -0.5}, "incident_weight must not be negative"),
        ({"habit_alerts": -1}, "habit_alerts must not be negative"),
        ({"habit_days": -2.0}, "habit_days must not be negative"),
        ({"drop_statuses": ["Approved!"]}, "drop_statuses: 'Approved!' is not a status name"),
        ({"spike_exempt": [""]}, "spike_exempt: '' is not a status name"),
    ],
)
def test_config_from_mapping_rejects_bad_input_with_a_clear_message(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DetectConfig.from_mapping(data)
