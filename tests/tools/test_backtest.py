"""Backtest figures: the acceptance numbers on CloudWalk 2025 and the synthetic week."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import pytest

from server.detect.config import DetectConfig
from server.tools import backtest
from server.tools.backtest import Incident, evaluate, load_labels, quiet_hits, replay, seed_alerts
from server.tools.csvfiles import load_sorted
from server.tools.traffic import labelled_week

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cloudwalk"
needs_data = pytest.mark.skipif(
    not (DATA / "transactions.csv").exists(),
    reason=f"CloudWalk datasets not found at {DATA} (../shared is absent in this checkout)",
)


@pytest.fixture(scope="module")
def cloudwalk_2025() -> dict[str, object]:
    records, _bad = load_sorted(str(DATA / "transactions.csv"))
    labels = load_labels(str(DATA / "incidents_transactions.csv"))
    raised = replay(records, DetectConfig())
    return {"records": records, "labels": labels, "raised": raised}


@needs_data
def test_cloudwalk_2025_catches_all_14_incidents_fast_with_at_most_3_false_alerts(
    cloudwalk_2025: dict[str, object],
) -> None:
    report = evaluate(
        cloudwalk_2025["raised"], cloudwalk_2025["labels"], cloudwalk_2025["records"], 15
    )
    assert report["incidents"] == 14
    assert report["caught"] == 14
    assert report["median_latency_min"] <= 2
    assert report["false_alerts"] <= 3


@needs_data
def test_seed_rule_replay_reproduces_the_issue_figures(cloudwalk_2025: dict[str, object]) -> None:
    raised = seed_alerts(cloudwalk_2025["records"])
    windows = cloudwalk_2025["labels"]
    outside = [a for a in raised if not any(w.start <= a.start <= w.end for w in windows)]
    assert (len(raised), len(outside)) == (367, 313)


@needs_data
def test_2022_day_file_alerts_cover_the_incidents_described_in_source() -> None:
    records, _bad = load_sorted(str(DATA / "transactions_2.csv"), date(2022, 7, 1))
    raised = replay(records, DetectConfig())

    def at(hhmm: str) -> int:
        h, m = hhmm.split(":")
        return 1656633600 + int(h) * 3600 + int(m) * 60

    def covered(status: str, start: str, end: str) -> bool:
        return any(a.status == status and a.start <= at(end) and a.end >= at(start) for a in raised)

    assert covered("backend_reversed", "10:51", "10:55")
    assert covered("failed", "16:14", "18:49")
    for start, end in (("16:23", "16:31"), ("16:44", "16:53"), ("17:16", "17:25")):
        assert covered("denied", start, end)
    assert len(raised) <= 12


@needs_data
def test_short_history_still_gives_verdicts_all_day() -> None:
    from server.detect.engine import Engine

    records, _bad = load_sorted(str(DATA / "transactions_1.csv"), date(2022, 7, 1))
    engine = Engine(DetectConfig())
    judged = [(r, engine.ingest(r)) for r in records]
    later = [j for r, j in judged if r.ts >= records[0].ts + 15 * 60]
    assert sum(1 for j in later if j.expected > 0) / len(later) > 0.99


@pytest.fixture(scope="module")
def synthetic() -> dict[str, object]:
    week = labelled_week(seed=7)
    incidents = [Incident(x.id, x.start, x.end, x.statuses) for x in week.incidents]
    quiet = [Incident(x.id, x.start, x.end, x.statuses) for x in week.quiet]
    raised = replay(week.records, DetectConfig())
    return {
        "report": evaluate(raised, incidents, week.records, 15),
        "quiet": quiet_hits(raised, quiet),
        "raised": raised,
    }


def test_synthetic_week_catches_every_injected_incident(synthetic: dict[str, object]) -> None:
    report = synthetic["report"]
    missed = [p["id"] for p in report["per_incident"] if not p["caught"]]
    assert missed == []
    assert report["incidents"] == 8


def test_synthetic_week_approval_drop_and_slow_ramp_get_their_own_alert_kinds(
    synthetic: dict[str, object],
) -> None:
    raised = synthetic["raised"]
    assert any(a.status == "approved" and a.kind == "drop" for a in raised)
    assert any(a.status == "reversed" for a in raised)
    assert any(a.status == "denied" and a.kind == "no_data" for a in raised)


def test_proportional_surge_raises_no_alert(synthetic: dict[str, object]) -> None:
    assert [q["alerts"] for q in synthetic["quiet"]] == [[], []]


def test_synthetic_week_has_at_most_one_false_alert_per_day_after_the_first(
    synthetic: dict[str, object],
) -> None:
    assert synthetic["report"]["false_per_day_after_first_day"] <= 1.0


def test_backtest_command_prints_json_for_the_synthetic_week(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    backtest.add_arguments(parser)
    assert backtest.run(parser.parse_args(["--synthetic", "--json", "--rule", "seed"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rule"] == "seed"
    assert out["evaluation"]["incidents"] == 8


def test_backtest_config_file_overrides_defaults_and_rejects_unknown_keys(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[detect]\nhigh = 6.5\n")
    assert backtest.load_config(str(good)).high == 6.5
    bad = tmp_path / "bad.toml"
    bad.write_text("[detect]\nhgih = 6.5\n")
    with pytest.raises(ValueError, match="hgih"):
        backtest.load_config(str(bad))
    # a misspelt table would otherwise leave every setting at its default, unnoticed
    typo = tmp_path / "typo.toml"
    typo.write_text("[detecc]\nhigh = 6.5\n")
    with pytest.raises(ValueError, match=r"unknown section \[detecc\] in .*typo.toml"):
        backtest.load_config(str(typo))
    broken = tmp_path / "broken.toml"
    broken.write_text("[detect\n")
    with pytest.raises(ValueError, match=r"broken\.toml is not valid TOML"):
        backtest.load_config(str(broken))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--synthetic", "--grace", "-5"], "--grace: must not be negative"),
        (["--synthetic", "--grace", "soon"], "--grace: not a whole number"),
        (["--synthetic", "data.csv"], "give it no DATA.csv"),
    ],
)
def test_backtest_refuses_arguments_that_mean_nothing(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    parser = argparse.ArgumentParser()
    backtest.add_arguments(parser)
    try:
        code = backtest.run(parser.parse_args(args))
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("drop_statuses", [[], ["_total"], ["refunded"]])
def test_a_status_judged_for_neither_rises_nor_drops_only_loses_its_own_alerts(
    drop_statuses: list[str],
) -> None:
    # approved is exempt from rises; without it in drop_statuses nothing judges it. The
    # engine must say nothing of it (no drop, no crash) and judge the failure statuses'
    # rises as before.
    records = labelled_week(seed=1).records
    config = DetectConfig.from_mapping({"drop_statuses": drop_statuses})
    raised = replay(records, config)
    assert not [a for a in raised if a.status == "approved" and a.kind != "no_data"]

    def rises(alerts: list) -> set[tuple[str, str, int]]:
        return {(a.status, a.kind, a.start) for a in alerts if a.kind in ("spike", "shift")}

    default = rises(replay(records, DetectConfig()))
    assert len(default) >= 5
    assert rises(raised) == default
    if "_total" not in drop_statuses:
        assert not [a for a in raised if a.status == "_total" and a.kind == "drop"]


def test_backtest_loop_without_verdicts_gives_the_alert_events_ingest_gives() -> None:
    # replay feeds records without verdicts (Engine.feed); every event, with its alert's
    # state at that moment, must be what the verdict-giving loop of the receiver produces.
    from server.detect.engine import Engine

    records = labelled_week(seed=2).records
    snapshots: dict[str, list[tuple]] = {"feed": [], "ingest": []}

    def keeper(key: str):
        def keep(events: list) -> None:
            snapshots[key].extend((e.type, e.at, e.alert_id, repr(e.alert)) for e in events)

        return keep

    backtest.drive(Engine(DetectConfig()), records, keeper("feed"), None)
    with_verdicts = keeper("ingest")
    backtest.drive(
        Engine(DetectConfig()), records, with_verdicts, lambda _rec, j: with_verdicts(j.events)
    )
    assert len(snapshots["feed"]) >= 16  # 8 incidents: opened and resolved
    assert snapshots["feed"] == snapshots["ingest"]
