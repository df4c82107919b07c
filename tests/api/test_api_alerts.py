"""The alert lifecycle through the real HTTP API: open, update, ack, unack, resolve,
silence, and the 404/409 answers."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Live

START = 1_752_300_000 - 1_752_300_000 % 3600  # an hour boundary in July 2025


def minute_records(m: int, approved: int = 120, denied: int = 7) -> list[dict]:
    ts = START + m * 60
    return [
        {"timestamp": ts, "status": "approved", "count": approved},
        {"timestamp": ts, "status": "denied", "count": denied},
    ]


def post_minutes(client: httpx.Client, minutes: range, **counts: int) -> dict:
    body = [r for m in minutes for r in minute_records(m, **counts)]
    answer = client.post("/api/v1/transactions", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def history(client: httpx.Client, minutes: int = 90) -> None:
    # steady traffic with a little wobble, so baselines have something to learn
    for m in range(minutes):
        post_minutes(client, range(m, m + 1), approved=115 + m % 11, denied=5 + m % 4)


def open_denied_spike(live: Live) -> dict:
    history(live.client)
    answer = post_minutes(live.client, range(90, 93), denied=70)
    post_minutes(live.client, range(93, 94), denied=75)
    alerts = live.client.get("/api/v1/alerts").json()["alerts"]
    assert [(a["status"], a["state"]) for a in alerts] == [("denied", "firing")], alerts
    assert answer["alerts"] or alerts
    return alerts[0]


def test_a_denied_spike_opens_one_alert_and_marks_records_high(live: Live) -> None:
    alert = open_denied_spike(live)
    assert alert["kind"] == "spike"
    assert alert["severity"] == "high"
    assert alert["peak_count"] >= 70
    assert alert["expected"] < 20
    assert alert["first_seen"] == "2025-07-12T07:30:00Z"
    rows = live.client.get("/api/v1/transactions", params={"severity": "high"}).json()
    assert {r["status"] for r in rows["transactions"]} == {"denied"}
    assert all(r["count"] > r["upper"] for r in rows["transactions"])


def test_an_ongoing_incident_keeps_one_alert_row(live: Live) -> None:
    first = open_denied_spike(live)
    post_minutes(live.client, range(94, 100), denied=80)
    alerts = live.client.get("/api/v1/alerts", params={"state": "all"}).json()["alerts"]
    assert [a["id"] for a in alerts] == [first["id"]]
    assert alerts[0]["last_seen"] > first["last_seen"]


def test_ack_then_unack_round_trip(live: Live) -> None:
    alert = open_denied_spike(live)
    url = f"/api/v1/alerts/{alert['id']}"
    acked = live.client.post(url + "/ack", json={"by": "ana", "note": "looking"})
    assert acked.status_code == 200
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", "ana")
    assert live.client.get("/api/v1/alerts", params={"state": "acknowledged"}).json()["alerts"]
    again = live.client.post(url + "/ack", json={"by": "bob"})
    assert again.status_code == 409
    undone = live.client.post(url + "/unack")
    assert undone.status_code == 200
    assert undone.json()["state"] == "firing"
    assert undone.json()["acknowledged_by"] is None
    timeline = [e["type"] for e in live.client.get(url).json()["timeline"]]
    assert timeline[0] == "opened"
    assert timeline[-2:] == ["acknowledged", "unacknowledged"]


def test_alert_resolves_after_normal_minutes_and_ack_is_then_409(live: Live) -> None:
    alert = open_denied_spike(live)
    post_minutes(live.client, range(94, 120), approved=118, denied=6)
    resolved = live.client.get(f"/api/v1/alerts/{alert['id']}").json()
    assert resolved["state"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert live.client.get("/api/v1/alerts").json()["alerts"] == []
    answer = live.client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ana"})
    assert answer.status_code == 409
    assert "resolved" in answer.json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/alerts/999", "/api/v1/alerts/abc"])
def test_unknown_alert_is_404(live: Live, path: str) -> None:
    assert live.client.get(path).status_code == 404
    assert live.client.post(path + "/ack", json={}).status_code == 404
    assert live.client.post(path + "/unack").status_code == 404


def test_bad_alert_state_filter_is_400(live: Live) -> None:
    answer = live.client.get("/api/v1/alerts", params={"state": "burning"})
    assert answer.status_code == 400
    assert "state" in answer.json()["error"]


def test_silence_flags_open_alerts_and_can_be_removed(live: Live) -> None:
    alert = open_denied_spike(live)
    created = live.client.post(
        "/api/v1/silences",
        json={"status": "denied", "minutes": 15, "by": "ana", "reason": "known issue"},
    )
    assert created.status_code == 201
    silence = created.json()
    assert silence["status"] == "denied" and silence["created_by"] == "ana"
    assert live.client.get(f"/api/v1/alerts/{alert['id']}").json()["silenced"] is True
    listed = live.client.get("/api/v1/silences").json()["silences"]
    assert [s["id"] for s in listed] == [silence["id"]]
    assert live.client.delete(f"/api/v1/silences/{silence['id']}").status_code == 200
    assert live.client.get("/api/v1/silences").json()["silences"] == []
    assert live.client.get(f"/api/v1/alerts/{alert['id']}").json()["silenced"] is False
    assert live.client.delete(f"/api/v1/silences/{silence['id']}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"status": "denied"},
        {"status": "denied", "minutes": 0},
        {"status": "denied", "minutes": "60"},
        {"status": "Denied!", "minutes": 60},
        {"status": "denied", "minutes": 60, "by": 5},
    ],
)
def test_bad_silence_is_400(live: Live, body: dict) -> None:
    answer = live.client.post("/api/v1/silences", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_silence_of_everything_has_null_status(live: Live) -> None:
    answer = live.client.post("/api/v1/silences", json={"minutes": 60})
    assert answer.status_code == 201
    assert answer.json()["status"] is None


def test_open_alerts_and_silences_survive_a_restart(spawn) -> None:
    server = spawn()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        history(client)
        post_minutes(client, range(90, 94), denied=70)
        alert = client.get("/api/v1/alerts").json()["alerts"][0]
        client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "ana"})
        client.post("/api/v1/silences", json={"status": "failed", "minutes": 30})
    assert server.stop()[0] == 0
    again = spawn(db=server.db)
    with httpx.Client(base_url=again.url, timeout=30) as client:
        alerts = client.get("/api/v1/alerts").json()["alerts"]
        assert [(a["id"], a["state"]) for a in alerts] == [(alert["id"], "acknowledged")]
        assert [s["status"] for s in client.get("/api/v1/silences").json()["silences"]] == [
            "failed"
        ]
        # the incident goes on after the restart: still the same alert, no duplicate
        post_minutes(client, range(94, 97), denied=80)
        alerts = client.get("/api/v1/alerts", params={"state": "all"}).json()["alerts"]
        assert [a["id"] for a in alerts] == [alert["id"]]
        # a new silence gets a fresh id
        fresh = client.post("/api/v1/silences", json={"status": "denied", "minutes": 5})
        assert fresh.status_code == 201
