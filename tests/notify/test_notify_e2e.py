"""Notifications end to end: a real receiver, the outbox, and local peers (fake Telegram
Bot API, a webhook receiver) on free loopback ports."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable

import httpx
import pytest

from server.config import NotifyConfig
from tests.api.test_api_alerts import history, post_minutes
from tests.conftest import Live, wait_until
from tests.notify.fake_telegram import FAKE_TOKEN, FakeTelegram, fake_telegram_fixture  # noqa: F401


def notify_config(fake: FakeTelegram, **extra: str) -> NotifyConfig:
    env = {
        **fake.env("42"),
        "TXMON_GROUP_WAIT": "0",
        "TXMON_BACKOFF_BASE": "0.2",
        "TXMON_BACKOFF_MAX": "1",
        **extra,
    }
    return NotifyConfig.load({}, env)


def spike(client: httpx.Client, first: int = 90, minutes: int = 4) -> None:
    history(client)
    post_minutes(client, range(first, first + minutes), denied=70)


def outbox(live: Live) -> list[dict]:
    return live.client.get("/api/v1/notifications").json()["notifications"]


def test_anomaly_reaches_telegram_within_seconds(
    make_receiver: Callable[..., Live], fake_telegram: FakeTelegram
) -> None:
    live = make_receiver(notify=notify_config(fake_telegram))
    started = time.monotonic()
    spike(live.client)
    (message,) = fake_telegram.wait_for(1, timeout=10)
    assert time.monotonic() - started < 10
    assert message["chat_id"] in (42, "42")
    assert message["parse_mode"] == "HTML"
    assert "denied" in message["text"] and "HIGH" in message["text"].upper()
    wait_until(lambda: outbox(live)[0]["state"] == "sent")
    assert [(r["event"], r["channel"], r["state"], r["attempts"]) for r in outbox(live)] == [
        ("opened", "telegram:42", "sent", 1)
    ]


def test_ack_stops_reminders(make_receiver, fake_telegram: FakeTelegram) -> None:
    live = make_receiver(notify=notify_config(fake_telegram, TXMON_REPEAT_INTERVAL="1"))
    live.receiver.tick_seconds = 0.2
    spike(live.client)
    fake_telegram.wait_for(2, timeout=10)  # the opening, then at least one reminder
    assert "reminder" in {r["event"] for r in outbox(live)}
    alert = live.client.get("/api/v1/alerts").json()["alerts"][0]
    assert live.client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ana"}).is_success
    time.sleep(0.5)  # let a reminder already in flight land
    settled = len(fake_telegram.messages)
    time.sleep(3)  # three repeat intervals: no reminder may follow an ack
    assert len(fake_telegram.messages) == settled


def test_undoing_an_ack_pages_again(make_receiver, fake_telegram: FakeTelegram) -> None:
    """An ack undone by mistake must not leave an open incident unannounced."""
    live = make_receiver(notify=notify_config(fake_telegram))
    spike(live.client)
    fake_telegram.wait_for(1, timeout=10)
    alert = live.client.get("/api/v1/alerts").json()["alerts"][0]
    url = f"/api/v1/alerts/{alert['id']}"
    assert live.client.post(url + "/ack", json={"by": "ana"}).is_success
    assert live.client.post(url + "/unack").is_success
    again = fake_telegram.wait_for(2, timeout=10)[1]
    assert "unacknowledged: denied spike" in again["text"], again
    wait_until(lambda: sorted(r["event"] for r in outbox(live)) == ["opened", "unacknowledged"])


def test_429_waits_retry_after_then_delivers_once(make_receiver, fake_telegram) -> None:
    fake_telegram.script(["429:1", "200"])
    live = make_receiver(notify=notify_config(fake_telegram))
    spike(live.client)
    fake_telegram.wait_for(1, timeout=15)
    sends = fake_telegram.sends
    assert [s.status for s in sends] == [429, 200]
    assert sends[1].at - sends[0].at >= 0.95  # retry_after honoured
    wait_until(lambda: outbox(live)[0]["state"] == "sent")
    assert outbox(live)[0]["attempts"] == 2
    time.sleep(1)
    assert len(fake_telegram.messages) == 1


def test_5xx_is_retried_with_backoff_and_each_retry_logs_its_rows(
    make_receiver, fake_telegram, caplog
) -> None:
    fake_telegram.script(["500", "502", "200"])
    live = make_receiver(notify=notify_config(fake_telegram))
    with caplog.at_level("WARNING", logger="txmon.notify"):
        spike(live.client)
        fake_telegram.wait_for(1, timeout=15)
        assert [s.status for s in fake_telegram.sends] == [500, 502, 200]
        row = wait_until(lambda: next((r for r in outbox(live) if r["state"] == "sent"), None))
    lines = [
        json.loads(r.getMessage()) for r in caplog.records if '"notification"' in r.getMessage()
    ]
    assert [(x["state"], x["attempts"], x["ids"]) for x in lines] == [
        ("pending", 1, [row["id"]]),
        ("pending", 2, [row["id"]]),
    ]
    assert lines[0]["error"] == "Internal Server Error" and lines[0]["retry_in"] > 0
    assert FAKE_TOKEN not in caplog.text


def test_403_is_a_permanent_failure_with_telegrams_reason(make_receiver, fake_telegram) -> None:
    fake_telegram.script(["403"])
    live = make_receiver(notify=notify_config(fake_telegram))
    spike(live.client)
    row = wait_until(lambda: next((r for r in outbox(live) if r["state"] == "failed"), None))
    assert "bot was blocked" in row["last_error"]
    assert row["attempts"] == 1
    time.sleep(1.5)
    assert len(fake_telegram.sends) == 1  # never retried


def test_a_dead_channel_does_not_hold_up_the_others(make_receiver, fake_telegram) -> None:
    # The webhook points at a closed port: it keeps retrying while Telegram delivers at once.
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}/hook"
    live = make_receiver(notify=notify_config(fake_telegram, TXMON_WEBHOOK_URL=dead))
    spike(live.client)
    fake_telegram.wait_for(1, timeout=10)
    wait_until(lambda: {r["channel"]: r["state"] for r in outbox(live)}["telegram:42"] == "sent")
    states = {r["channel"]: r for r in outbox(live)}
    assert states["webhook"]["state"] in ("pending", "sending")
    ingest = live.client.post(
        "/api/v1/transactions", json={"timestamp": 1752400000, "status": "approved"}
    )
    assert ingest.status_code == 201


def test_test_fire_reports_each_channel(make_receiver, fake_telegram) -> None:
    fake_telegram.script(["200", "403"])
    live = make_receiver(notify=NotifyConfig.load({}, fake_telegram.env("42,43")))
    answer = live.client.post("/api/v1/alerts/test", json={})
    assert answer.status_code == 200
    results = {r["channel"]: r for r in answer.json()["results"]}
    assert set(results) == {"telegram:42", "telegram:43"}
    assert sorted(r["ok"] for r in results.values()) == [False, True]
    failed = next(r for r in results.values() if not r["ok"])
    assert "blocked" in failed["result"]
    assert all("TEST" in m["text"].upper() for m in fake_telegram.messages)
    assert {r["event"] for r in outbox(live)} == {"test"}
    one = live.client.post("/api/v1/alerts/test", json={"channel": "telegram:42"})
    assert [r["channel"] for r in one.json()["results"]] == ["telegram:42"]
    unknown = live.client.post("/api/v1/alerts/test", json={"channel": "pager"})
    assert unknown.status_code == 404


def test_test_fire_without_channels_says_so(live: Live) -> None:
    answer = live.client.post("/api/v1/alerts/test", json={})
    assert answer.status_code == 409
    assert "no notification channel is configured" in answer.json()["error"]


def test_silenced_alert_is_recorded_but_not_sent(make_receiver, fake_telegram) -> None:
    live = make_receiver(notify=notify_config(fake_telegram))
    live.client.post("/api/v1/silences", json={"status": "denied", "minutes": 60})
    spike(live.client)
    assert live.client.get("/api/v1/alerts").json()["alerts"][0]["silenced"] is True
    time.sleep(1.5)
    assert fake_telegram.sends == []
    assert outbox(live) == []


def test_several_alerts_opening_together_are_one_message(make_receiver, fake_telegram) -> None:
    live = make_receiver(notify=notify_config(fake_telegram, TXMON_GROUP_WAIT="1"))
    start = 1752300000 - 1752300000 % 3600
    quiet = [
        {"timestamp": start + m * 60, "status": status, "count": count}
        for m in range(90)
        for status, count in (("approved", 115 + m % 11), ("denied", 5 + m % 4), ("failed", 0))
    ]
    assert live.client.post("/api/v1/transactions", json=quiet).status_code == 201
    body = [
        {"timestamp": start + m * 60, "status": status, "count": count}
        for m in range(90, 94)
        for status, count in (("approved", 118), ("denied", 70), ("failed", 30))
    ]
    assert live.client.post("/api/v1/transactions", json=body).status_code == 201
    wait_until(lambda: len(live.client.get("/api/v1/alerts").json()["alerts"]) >= 2)
    fake_telegram.wait_for(1, timeout=10)
    time.sleep(1.5)
    assert len(fake_telegram.messages) == 1
    text = fake_telegram.messages[0]["text"]
    assert "denied" in text and "failed" in text


def minutes_from(start: int, minutes: range, denied: int | None = None) -> list[dict]:
    """Approved and denied records of these minutes after `start` (denied wobbling near 6)."""
    return [
        {"timestamp": start + m * 60, "status": status, "count": count}
        for m in minutes
        for status, count in (
            ("approved", 115 + m % 11),
            ("denied", 5 + m % 4 if denied is None else denied),
        )
    ]


@pytest.mark.parametrize(("age", "paged"), [(2 * 86_400, False), (0, True)])
def test_history_older_than_history_age_is_recorded_not_sent(
    make_receiver, fake_telegram, age: int, paged: bool
) -> None:
    """The same incident, imported from two days ago (history) or backfilled up to now."""
    live = make_receiver(notify=notify_config(fake_telegram, TXMON_HISTORY_AGE="3600"))
    now = int(time.time())
    start = now - now % 60 - 95 * 60 - age
    body = minutes_from(start, range(90)) + minutes_from(start, range(90, 94), denied=70)
    assert live.client.post("/api/v1/transactions", json=body).status_code == 201
    (alert,) = live.client.get("/api/v1/alerts", params={"state": "all"}).json()["alerts"]
    assert (alert["status"], alert["kind"]) == ("denied", "spike")
    if paged:
        (message,) = fake_telegram.wait_for(1, timeout=10)
        assert "denied spike" in message["text"]
    else:  # the outbox row would be in the same transaction as the alert: none is coming
        assert outbox(live) == []
        more = minutes_from(start, range(94, 120))  # ...nor for its resolution
        assert live.client.post("/api/v1/transactions", json=more).status_code == 201
        states = live.client.get("/api/v1/alerts", params={"state": "all"}).json()["alerts"]
        assert [a["state"] for a in states] == ["resolved"]
        assert outbox(live) == [] and fake_telegram.sends == []


def test_a_resolution_within_group_wait_follows_its_opening(make_receiver, fake_telegram) -> None:
    live = make_receiver(notify=notify_config(fake_telegram, TXMON_GROUP_WAIT="1"))
    start = 1752300000 - 1752300000 % 3600
    body = (
        minutes_from(start, range(90))
        + minutes_from(start, range(90, 94), denied=70)
        + minutes_from(start, range(94, 120))
    )
    assert live.client.post("/api/v1/transactions", json=body).status_code == 201
    (alert,) = live.client.get("/api/v1/alerts", params={"state": "all"}).json()["alerts"]
    assert alert["state"] == "resolved"
    first, second = fake_telegram.wait_for(2, timeout=10)[:2]
    assert "denied spike:" in first["text"] and "RESOLVED" not in first["text"], first
    assert "RESOLVED" in second["text"], second


@pytest.mark.parametrize("crash", ["pending", "in_flight"])
def test_kill_9_never_loses_nor_repeats_a_notification(spawn, fake_telegram, crash) -> None:
    wait = "3" if crash == "pending" else "0"
    if crash == "in_flight":
        fake_telegram.hang_seconds = 30
        fake_telegram.script(["hang"])
    env = {**fake_telegram.env("42"), "TXMON_GROUP_WAIT": wait, "TXMON_TELEGRAM_TIMEOUT": "20"}
    server = spawn(env=env)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        spike(client)
    if crash == "in_flight":
        fake_telegram.wait_for_requests(1, timeout=10)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    rows = sqlite3.connect(server.db).execute("SELECT state FROM outbox").fetchall()
    assert rows == [("pending",)] if crash == "pending" else [("sending",)]
    again = spawn(db=server.db, env={**env, "TXMON_GROUP_WAIT": "0"})
    if crash == "pending":
        fake_telegram.wait_for(1, timeout=15)
        time.sleep(1.5)
        assert len(fake_telegram.messages) == 1
        expected = "sent"
    else:
        expected = "ambiguous"
    with httpx.Client(base_url=again.url) as client:
        row = wait_until(lambda: client.get("/api/v1/notifications").json()["notifications"][0])
        wait_until(
            lambda: (
                client.get("/api/v1/notifications").json()["notifications"][0]["state"] == expected
            )
        )
        if crash == "in_flight":
            assert (
                "delivery unknown"
                in client.get("/api/v1/notifications").json()["notifications"][0]["last_error"]
            )
    assert row["channel"] == "telegram:42"
    assert len([s for s in fake_telegram.sends if s.status == 200]) == (crash == "pending")
