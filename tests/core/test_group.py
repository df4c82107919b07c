"""Two receivers on one PostgreSQL, in this process: one leader, records through either
raise one alert, an ack on either reaches the leader, and a graceful stop hands over."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Live, wait_until
from tests.store.test_stores import minute, post

FAST = {"lease_ttl_seconds": 2.0, "lease_renew_seconds": 0.5, "detect_interval": 0.2}


@pytest.fixture
def pair(make_receiver, pg_url: str) -> tuple[Live, Live]:
    first = make_receiver(store=pg_url, **FAST)
    second = make_receiver(store=pg_url, **FAST)
    return first, second


def _roles(*lives: Live) -> list[tuple[str, int]]:
    docs = [live.client.get("/healthz").json() for live in lives]
    return [(d["role"], d["term"]) for d in docs]


def _leader_first(a: Live, b: Live) -> tuple[Live, Live]:
    wait_until(lambda: sorted(r for r, _ in _roles(a, b)) == ["follower", "leader"])
    return (a, b) if _roles(a)[0][0] == "leader" else (b, a)


def _history_then_spike(a: Live, b: Live) -> list[dict]:
    """90 calm minutes and 4 of denied at 75, each minute's records split over both."""
    answers = []
    for m in range(94):
        approved, denied = minute(m, 115 + m % 11, 75 if m >= 90 else 5 + m % 4)
        answers.append(post(a.client, [approved]))
        answers.append(post(b.client, [denied]))
    assert {r.status_code for r in answers} == {201}
    return [r.json() for r in answers]


def test_two_receivers_elect_one_leader_and_healthz_says_which(pair) -> None:
    leader, follower = _leader_first(*pair)
    (role_l, term_l), (role_f, term_f) = _roles(leader, follower)
    assert (role_l, role_f) == ("leader", "follower") and term_l == term_f >= 1
    metrics = leader.client.get("/metrics").text
    assert "txmon_leader 1" in metrics and f"txmon_lease_term {term_l}" in metrics
    assert 'txmon_store_info{store="postgresql"} 1' in metrics
    assert "txmon_leader 0" in follower.client.get("/metrics").text


def test_records_split_over_both_receivers_raise_one_alert(pair) -> None:
    leader, follower = _leader_first(*pair)
    answers = _history_then_spike(leader, follower)
    # The follower judged its denied records on the shared baselines.
    last_denied = answers[-1]["records"][0]
    assert last_denied["status"] == "denied" and last_denied["severity"] == "high"
    for live in (leader, follower):
        alerts = wait_until(lambda live=live: live.client.get("/api/v1/alerts").json()["alerts"])
        assert [(a["status"], a["state"]) for a in alerts] == [("denied", "firing")]
        timeline = live.client.get(f"/api/v1/alerts/{alerts[0]['id']}").json()["timeline"]
        assert [e["type"] for e in timeline] == ["opened"]


def test_an_ack_on_the_follower_reaches_the_leaders_engine(pair) -> None:
    leader, follower = _leader_first(*pair)
    _history_then_spike(leader, follower)
    alert = wait_until(lambda: leader.client.get("/api/v1/alerts").json()["alerts"])[0]
    acked = follower.client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ana"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    engine = leader.receiver.engine
    wait_until(lambda: [a.state for a in engine.open_alerts()] == ["acknowledged"])
    post(leader.client, minute(94, 120, 75))  # the incident goes on: still acknowledged
    time.sleep(0.5)
    (stored,) = leader.client.get("/api/v1/alerts").json()["alerts"]
    assert stored["state"] == "acknowledged" and stored["acknowledged_by"] == "ana"
    again = follower.client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "bo"})
    assert again.status_code == 409


def test_a_graceful_stop_of_the_leader_hands_over_within_a_renewal(pair) -> None:
    leader, follower = _leader_first(*pair)
    (_, term), _ = _roles(leader, follower)
    started = time.monotonic()
    leader.receiver.close()
    leader.receiver.close = lambda: None
    wait_until(lambda: _roles(follower)[0] == ("leader", term + 1), timeout=5)
    assert time.monotonic() - started < FAST["lease_renew_seconds"] + 1.0


def test_a_silence_made_on_the_follower_silences_the_leaders_alert(pair) -> None:
    leader, follower = _leader_first(*pair)
    made = follower.client.post(
        "/api/v1/silences", json={"status": "denied", "minutes": 60, "by": "ana", "reason": "x"}
    )
    assert made.status_code == 201, made.text
    other = leader.client.post(
        "/api/v1/silences", json={"status": "approved", "minutes": 5, "by": "bo", "reason": "y"}
    )
    assert other.status_code == 201 and other.json()["id"] != made.json()["id"]
    _history_then_spike(leader, follower)
    alert = wait_until(lambda: leader.client.get("/api/v1/alerts").json()["alerts"])[0]
    assert alert["silenced"] is True
    assert {s["id"] for s in leader.client.get("/api/v1/silences").json()["silences"]} == {
        made.json()["id"],
        other.json()["id"],
    }
    removed = leader.client.delete(f"/api/v1/silences/{made.json()['id']}")
    assert removed.status_code == 200
