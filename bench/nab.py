"""NAB replayed as transaction counts and scored with NAB's rules (standard library only).

Run as `.venv/bin/python bench/nab.py [--files dev|all|PATTERN...] [--json]` from the
repository root. `../shared/datasets/nab/SOURCE.md` is the specification followed here:

- each NAB row (value rounded to a whole count, at least 0) is split over the minutes it covers
  by a multinomial draw seeded from the file name (rows above 10,000, the AWS byte counters,
  by a chain of normal-approximated binomials: one draw per count took hours); gaps stay
  missing data;
- Track A posts the series as the only status, `events`; every alert counts;
- Track B posts it as `failed` beside a Poisson `approved` series whose hour-of-day mean makes
  the probation's failure share about 5 %; only `failed` alerts count. Falls are judged in a
  second replay of the series alone as `approved` (its `approved` and `_total` alerts count);
- a fresh engine per file and replay, default configuration, driven by `server.backtest.replay`
  (the code `txmon-server backtest` runs); an alert's onset minute marks the NAB row covering it.

The scorer implements NAB's scaled-sigmoid window scoring and the three cost profiles;
`tests/tools/test_nab_bench.py` checks it against the published per-file scores of ARTime and
Numenta HTM. The seed rule (`server.tools.seedrule`) is scored beside txmon: in Track A on the
series posted as `failed` alone (it refuses other names), in Track B on the `failed` alerts of
the same replay (it never judges falls); each of its notifications is an onset.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import itertools
import json
import math
import random
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.detect.config import DetectConfig  # noqa: E402
from server.records import Record  # noqa: E402
from server.tools.backtest import replay  # noqa: E402
from server.tools.seedrule import replay as seed_replay  # noqa: E402

NAB = ROOT.parent / "shared" / "datasets" / "nab"
DEV_FILES = (
    "realTweets/Twitter_volume_CRM.csv",
    "realTweets/Twitter_volume_CVS.csv",
    "realTweets/Twitter_volume_IBM.csv",
    "artificialWithAnomaly/art_daily_flatmiddle.csv",
    "artificialWithAnomaly/art_load_balancer_spikes.csv",
    "artificialNoAnomaly/art_daily_no_noise.csv",
    "artificialNoAnomaly/art_flatline.csv",
    "artificialNoAnomaly/art_daily_perfect_square_wave.csv",
)
PROFILES = {  # (A_TP, A_FP, A_FN), as config/profiles.json
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}


# ---------------------------------------------------------------------- scoring


def sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 2 / (1 + e^(5y)) - 1, and -1 beyond y = 3."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass(slots=True)
class FileScore:
    """One file scored with one profile: the raw score and what made it."""

    raw: float
    windows: int
    hit: int
    false_onsets: int


def window_rows(
    timestamps: Sequence[str], windows: Sequence[Sequence[str]]
) -> list[tuple[int, int]]:
    """Window edges as row indices, joined on the first 19 characters of the timestamps."""
    index = {t[:19]: i for i, t in enumerate(timestamps)}
    return [(index[a[:19]], index[b[:19]]) for a, b in windows]


def score_file(
    n_rows: int, detections: Sequence[int], windows: Sequence[tuple[int, int]], profile: str
) -> FileScore:
    """NAB raw score of detection rows (sorted or not) in a file of n_rows rows."""
    a_tp, a_fp, a_fn = PROFILES[profile]
    probation = min(math.floor(0.15 * n_rows), 750)
    norm = sigmoid(-1.0)
    best: dict[int, float] = {}
    raw = 0.0
    false = 0
    for i in sorted(set(detections)):
        if i < probation:
            continue
        inside = next((k for k, (lo, hi) in enumerate(windows) if lo <= i <= hi), None)
        if inside is not None:
            lo, hi = windows[inside]
            width = hi - lo + 1
            sigma = a_tp * sigmoid(-(hi - i + 1) / width) / norm
            if inside not in best or sigma > best[inside]:
                best[inside] = sigma
            continue
        before = [(lo, hi) for lo, hi in windows if hi < i]
        if not before:
            raw -= a_fp
        else:
            lo, hi = max(before, key=lambda w: w[1])
            raw += a_fp * sigmoid((i - hi) / (hi - lo + 1 - 1))
        false += 1
    raw += sum(best.values())
    raw -= a_fn * (len(windows) - len(best))
    return FileScore(raw, len(windows), len(best), false)


def normalised(raws: Sequence[float], windows: int, profile: str) -> float:
    """100 x (raw - null) / (perfect - null) for files with `windows` windows in total."""
    a_tp, _a_fp, a_fn = PROFILES[profile]
    if windows == 0:
        return 0.0
    null, perfect = -a_fn * windows, a_tp * windows
    return 100.0 * (sum(raws) - null) / (perfect - null)


# ---------------------------------------------------------------------- data


@dataclass(slots=True)
class NabFile:
    """One NAB series: row timestamps (text and epoch), values, step and label windows."""

    name: str
    stamps: list[str]
    epochs: list[int]
    values: list[float]
    step: int
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def probation(self) -> int:
        return min(math.floor(0.15 * len(self.values)), 750)


def load(name: str, root: Path = NAB) -> NabFile:
    """Read data/<name> and its windows from labels/combined_windows.json."""
    with open(root / "data" / name, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    stamps = [r["timestamp"] for r in rows]
    epochs = [
        int(datetime.strptime(s[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())
        for s in stamps
    ]
    diffs = Counter(b - a for a, b in itertools.pairwise(epochs))
    step = diffs.most_common(1)[0][0]
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    values = [float(r["value"]) for r in rows]
    return NabFile(name, stamps, epochs, values, step, window_rows(stamps, labels[name]))


def minute_counts(nab: NabFile) -> list[tuple[int, int, int]]:
    """(minute epoch, count, row index) for every minute the rows cover, multinomial split."""
    rng = random.Random(zlib.crc32(nab.name.encode()))
    out: list[tuple[int, int, int]] = []
    n = len(nab.epochs)
    for r, (t, v) in enumerate(zip(nab.epochs, nab.values, strict=True)):
        t -= t % 60
        end = t + nab.step
        if r + 1 < n:
            end = min(end, nab.epochs[r + 1] - nab.epochs[r + 1] % 60)
        k = max(1, (end - t) // 60)
        total = max(0, round(v))
        if total <= _UNIT_DRAWS:
            split = [0] * k
            for _ in range(total):
                split[rng.randrange(k)] += 1
        else:
            split = _large_split(rng, total, k)
        out.extend((t + j * 60, split[j], r) for j in range(k))
    return out


# Up to this total a row is split one count at a time (the multinomial draw itself); beyond it
# (byte counters in the AWS files reach 1e9 a row, which took hours) by `_large_split`.
_UNIT_DRAWS = 10_000


def _large_split(rng: random.Random, total: int, k: int) -> list[int]:
    """A multinomial split of a large total over k equal cells as a chain of binomials, each
    drawn from its normal approximation (every cell holds more than 10,000 / 30 counts)."""
    split, left = [], total
    for j in range(k - 1):
        p = 1.0 / (k - j)
        mean = left * p
        draw = round(rng.gauss(mean, math.sqrt(mean * (1.0 - p))))
        draw = min(left, max(0, draw))
        split.append(draw)
        left -= draw
    split.append(left)
    return split


def approved_series(nab: NabFile, minutes: list[tuple[int, int, int]]) -> list[int]:
    """Track B's clean approvals: Poisson, 19 x the probation's mean failed count by hour."""
    prob_end = nab.epochs[nab.probation] if nab.probation < len(nab.epochs) else nab.epochs[-1]
    sums, ns = [0.0] * 24, [0] * 24
    for m, c, _r in minutes:
        if m < prob_end:
            h = (m // 3600) % 24
            sums[h] += c
            ns[h] += 1
    overall = sum(sums) / max(1, sum(ns))
    floor = max(overall, 0.2) / 2.0
    rate = [max(19.0 * (sums[h] / ns[h] if ns[h] else overall), floor) for h in range(24)]
    rng = random.Random(zlib.crc32(("approved:" + nab.name).encode()))
    return [_poisson(rng, rate[(m // 3600) % 24]) for m, _c, _r in minutes]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


# ---------------------------------------------------------------------- replays


Detector = Callable[[list[Record]], list[tuple[str, int]]]  # records -> (status, onset minute)


def txmon(records: list[Record]) -> list[tuple[str, int]]:
    """Alert onsets of a fresh engine with the default configuration."""
    return [(a.status, a.start) for a in replay(records, DetectConfig())]


def seed(records: list[Record]) -> list[tuple[str, int]]:
    """Every notification of the seed rule, as an onset."""
    return [(r.status, r.ts) for r in seed_replay(records)]


def rows_of(onsets: list[int], minutes: list[tuple[int, int, int]], nab: NabFile) -> list[int]:
    """The NAB row covering each onset minute (the latest row starting before it, in a gap)."""
    covering = {m: r for m, _c, r in minutes}
    out = []
    for m in onsets:
        r = covering.get(m)
        if r is None:
            r = max(0, bisect.bisect_right(nab.epochs, m) - 1)
        out.append(r)
    return out


def track_a(nab: NabFile, detector: Detector, status: str = "events") -> list[int]:
    minutes = minute_counts(nab)
    records = [Record(m, status, c) for m, c, _r in minutes]
    return rows_of([t for _s, t in detector(records)], minutes, nab)


def track_b(nab: NabFile, detector: Detector, falls: bool = True) -> list[int]:
    minutes = minute_counts(nab)
    approved = approved_series(nab, minutes)
    records: list[Record] = []
    for (m, c, _r), a in zip(minutes, approved, strict=True):
        records.append(Record(m, "approved", a))
        records.append(Record(m, "failed", c))
    onsets = [t for s, t in detector(records) if s == "failed"]
    if falls:
        alone = [Record(m, "approved", c) for m, c, _r in minutes]
        onsets += [t for s, t in detector(alone) if s in ("approved", "_total")]
    return rows_of(onsets, minutes, nab)


# ---------------------------------------------------------------------- report


@dataclass(slots=True)
class Result:
    """Detections of one detector on one file in one track, scored with every profile."""

    file: str
    rows: int
    days: float
    windows: int
    detections: list[int]
    scores: dict[str, FileScore]

    @property
    def hit(self) -> int:
        return self.scores["standard"].hit

    @property
    def false_onsets(self) -> int:
        return self.scores["standard"].false_onsets


def evaluate(nab: NabFile, detections: list[int]) -> Result:
    scored = [i for i in detections if i >= nab.probation]
    days = (nab.epochs[-1] - nab.epochs[nab.probation]) / 86400 if nab.epochs else 0.0
    scores = {p: score_file(len(nab.values), detections, nab.windows, p) for p in PROFILES}
    return Result(nab.name, len(nab.values), days, len(nab.windows), sorted(scored), scores)


def totals(results: list[Result]) -> dict[str, float]:
    windows = sum(r.windows for r in results)
    out: dict[str, float] = {
        p: normalised([r.scores[p].raw for r in results], windows, p) for p in PROFILES
    }
    out["windows"] = windows
    out["hit"] = sum(r.hit for r in results)
    out["false_onsets"] = sum(r.false_onsets for r in results)
    days = sum(r.days for r in results)
    out["false_per_day"] = out["false_onsets"] / days if days else 0.0
    out["control_onsets"] = sum(len(r.detections) for r in results if r.windows == 0)
    return out


def run(
    files: Sequence[str], root: Path = NAB, with_seed: bool = True
) -> dict[str, dict[str, list[Result]]]:
    """{track: {detector: [Result per file]}} for tracks A and B, txmon (and the seed rule)."""
    rules = ("txmon", "seed") if with_seed else ("txmon",)
    out: dict[str, dict[str, list[Result]]] = {
        "A": {r: [] for r in rules},
        "B": {r: [] for r in rules},
    }
    for name in files:
        nab = load(name, root)
        out["A"]["txmon"].append(evaluate(nab, track_a(nab, txmon)))
        out["B"]["txmon"].append(evaluate(nab, track_b(nab, txmon)))
        if with_seed:
            out["A"]["seed"].append(evaluate(nab, track_a(nab, seed, status="failed")))
            out["B"]["seed"].append(evaluate(nab, track_b(nab, seed, falls=False)))
    return out


def _print(results: dict[str, dict[str, list[Result]]]) -> None:
    head = "{:<6} {:<6} {:<48} {:>8} {:>7} {:>7} {:>6} {:>7} {:>9}"
    print(
        head.format(
            "track", "rule", "file", "Standard", "low FP", "low FN", "hit", "false", "false/day"
        )
    )
    for track, per in results.items():
        for rule, rs in per.items():
            for r in rs:
                std = r.scores["standard"]
                print(
                    f"{track:<6} {rule:<6} {r.file:<48} {std.raw:>8.3f}"
                    f" {r.scores['reward_low_FP_rate'].raw:>7.3f}"
                    f" {r.scores['reward_low_FN_rate'].raw:>7.3f}"
                    f" {r.hit:>3}/{r.windows:<2} {r.false_onsets:>7}"
                    f" {r.false_onsets / r.days if r.days else 0:>9.2f}"
                )
            t = totals(rs)
            print(
                f"{track:<6} {rule:<6} {'TOTAL (normalised)':<48} {t['standard']:>8.1f}"
                f" {t['reward_low_FP_rate']:>7.1f} {t['reward_low_FN_rate']:>7.1f}"
                f" {t['hit']:>3}/{t['windows']:<2} {t['false_onsets']:>7}"
                f" {t['false_per_day']:>9.2f}   onsets on controls: {t['control_onsets']}"
            )
    print("(per-file columns are NAB raw scores; totals are normalised with their own windows)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--files",
        nargs="*",
        default=["dev"],
        help="'dev' (the eight development files, default), 'all', or file names/substrings",
    )
    parser.add_argument("--json", action="store_true", help="print totals as JSON")
    parser.add_argument("--no-seed", action="store_true", help="leave out the seed rule")
    parser.add_argument("--nab", type=Path, default=NAB, help="NAB corpus folder")
    args = parser.parse_args(argv)
    if args.files == ["dev"]:
        files: list[str] = list(DEV_FILES)
    else:
        every = sorted(json.loads((args.nab / "labels" / "combined_windows.json").read_text()))
        wanted = args.files
        files = every if wanted == ["all"] else [f for f in every if any(p in f for p in wanted)]
    results = run(files, args.nab, with_seed=not args.no_seed)
    if args.json:
        summary = {t: {d: totals(rs) for d, rs in per.items()} for t, per in results.items()}
        print(json.dumps(summary, indent=2))
    else:
        _print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
