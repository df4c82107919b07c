"""bench/nab.py: its NAB scorer reproduces the published per-file scores of ARTime and HTM."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys

import pytest

from tests.conftest import REPO, SHARED

NAB = SHARED / "datasets" / "nab"
needs_nab = pytest.mark.skipif(
    not (NAB / "results").exists(), reason=f"NAB corpus not found at {NAB}"
)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_nab", REPO / "bench" / "nab.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_nab"] = module
    spec.loader.exec_module(module)
    return module


nab = _bench()


def published(detector: str, profile: str) -> dict[str, float]:
    path = NAB / "results" / detector / f"{detector}_{profile}_scores.csv"
    with open(path, newline="") as handle:
        return {r["File"]: float(r["Score"]) for r in csv.DictReader(handle)}


def detections(detector: str, name: str, threshold: float) -> tuple[int, list[int]]:
    folder, file = name.split("/")
    path = NAB / "results" / detector / folder / f"{detector}_{file}"
    with open(path, newline="") as handle:
        scores = [float(r["anomaly_score"]) for r in csv.DictReader(handle)]
    return len(scores), [i for i, a in enumerate(scores) if a >= threshold]


@needs_nab
@pytest.mark.parametrize("detector", ["ARTime", "numenta"])
@pytest.mark.parametrize("profile", list(nab.PROFILES))
def test_scorer_reproduces_published_per_file_scores(detector: str, profile: str) -> None:
    thresholds = json.loads((NAB / "config" / "thresholds.json").read_text())
    threshold = thresholds[detector][profile]["threshold"]
    expected = published(detector, profile)
    assert sorted(expected) == sorted(nab.DEV_FILES)
    for name, want in expected.items():
        data = nab.load(name, NAB)
        n, rows = detections(detector, name, threshold)
        assert n == len(data.values)
        got = nab.score_file(n, rows, data.windows, profile).raw
        assert got == pytest.approx(want, abs=1e-9), name


def test_scorer_gives_full_credit_at_the_left_edge_and_charges_every_false_row() -> None:
    windows = [(1000, 1099)]
    left = nab.score_file(2000, [1000], windows, "standard")
    assert left.raw == pytest.approx(1.0) and left.hit == 1
    late = nab.score_file(2000, [1099], windows, "standard")
    assert 0 < late.raw < 0.1
    early_false = nab.score_file(2000, [900, 901, 1000], windows, "standard")
    assert early_false.raw == pytest.approx(1.0 - 2 * 0.11) and early_false.false_onsets == 2
    missed = nab.score_file(2000, [], windows, "reward_low_FN_rate")
    assert missed.raw == -2.0
    assert nab.score_file(2000, [10], windows, "standard").raw == -1.0  # probation row ignored


def test_normalisation_maps_null_to_zero_and_perfect_to_hundred() -> None:
    assert nab.normalised([-3.0], 3, "standard") == pytest.approx(0.0)
    assert nab.normalised([3.0], 3, "standard") == pytest.approx(100.0)
    assert nab.normalised([-6.0], 3, "reward_low_FN_rate") == pytest.approx(0.0)


def test_a_byte_counter_row_splits_into_minutes_that_keep_its_total() -> None:
    # AWS byte counters reach 1e9 a row; a draw per count took hours for one file.
    import random

    parts = nab._large_split(random.Random(7), 1_000_000_000, 5)
    assert sum(parts) == 1_000_000_000 and len(parts) == 5
    assert all(abs(p - 200_000_000) < 100_000 for p in parts)  # sd about 18,000
    small = nab._large_split(random.Random(7), 10_001, 30)
    assert sum(small) == 10_001 and min(small) > 200
