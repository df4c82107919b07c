"""Reading back: pages, series, summary, health, auth, routing errors, OpenAPI."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Live


def post(live: Live, records: list[dict]) -> list[dict]:
    answer = live.client.post("/api/v1/transactions", json=records)
    assert answer.status_code == 201, answer.text
    return answer.json()["records"]


def minute(m: int) -> str:
    return f"2025-07-12 {10 + m // 60:02d}:{m % 60:02d}:00"


def test_transactions_are_newest_first_and_page_back_with_before_id(live: Live) -> None:
    post(live, [{"timestamp": minute(i), "status": "approved", "count": i} for i in range(25)])
    first = live.client.get("/api/v1/transactions", params={"limit": 10}).json()["transactions"]
    assert [r["id"] for r in first] == list(range(25, 15, -1))
    second = live.client.get(
        "/api/v1/transactions", params={"limit": 10, "before_id": first[-1]["id"]}
    ).json()["transactions"]
    assert [r["id"] for r in second] == list(range(15, 5, -1))


def test_after_id_returns_only_new_rows(live: Live) -> None:
    post(live, [{"timestamp": minute(i), "status": "approved"} for i in range(5)])
    post(live, [{"timestamp": minute(9), "status": "denied"}])
    rows = live.client.get("/api/v1/transactions", params={"after_id": 5}).json()["transactions"]
    assert [(r["id"], r["status"]) for r in rows] == [(6, "denied")]


def test_status_filter_takes_a_list(live: Live) -> None:
    post(live, [{"timestamp": minute(0), "status": s} for s in ("approved", "denied", "failed")])
    rows = live.client.get("/api/v1/transactions", params={"status": "denied,failed"}).json()
    assert sorted(r["status"] for r in rows["transactions"]) == ["denied", "failed"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"before_id": "x"},
        {"after_id": -1},
        {"status": "BAD!"},
        {"status": ",".join(f"s{i}" for i in range(65))},
        {"severity": "bogus"},
        {"severity": "high,HIGH"},
    ],
)
def test_bad_query_parameters_are_400(live: Live, params: dict) -> None:
    answer = live.client.get("/api/v1/transactions", params=params)
    assert answer.status_code == 400
    assert next(iter(params)) in answer.json()["error"]


def test_series_is_zero_filled_and_ends_at_the_newest_event_minute(live: Live) -> None:
    post(
        live,
        [
            {"timestamp": minute(0), "status": "approved", "count": 10},
            {"timestamp": minute(2), "status": "approved", "count": 12},
            {"timestamp": minute(2), "status": "denied", "count": 1},
        ],
    )
    body = live.client.get("/api/v1/series", params={"minutes": 4}).json()
    assert body["end"] == "2025-07-12T10:02:00Z"
    assert body["start"] == "2025-07-12T09:59:00Z"
    assert len(body["minutes"]) == 4
    assert body["series"] == {"approved": [0, 10, 0, 12], "denied": [0, 0, 0, 1]}
    one = live.client.get("/api/v1/series", params={"minutes": 4, "status": "denied"}).json()
    assert one["series"] == {"denied": [0, 0, 0, 1]}


def test_series_of_an_empty_store_is_empty(live: Live) -> None:
    assert live.client.get("/api/v1/series").json()["series"] == {}


def test_summary_has_totals_shares_and_newest_event_time(live: Live) -> None:
    post(
        live,
        [
            {"timestamp": minute(0), "status": "approved", "count": 90},
            {"timestamp": minute(1), "status": "denied", "count": 6},
            {"timestamp": minute(1), "status": "failed", "count": 4},
        ],
    )
    body = live.client.get("/api/v1/summary", params={"minutes": 60}).json()
    assert body["total"] == 100
    assert body["records_stored"] == 3
    assert body["newest_event_time"] == "2025-07-12T10:01:00Z"
    assert body["statuses"]["approved"]["share"] == pytest.approx(0.9)
    denied = body["statuses"]["denied"]
    assert (denied["count"], denied["records"]) == (6, 1)
    assert denied["share"] == pytest.approx(0.06)
    assert set(denied["baseline"]) == {"expected", "upper"}
    assert body["alerts"] == {"firing": 0, "acknowledged": 0}
    assert len(body["hourly_profile"]["approved"]) == 24
    assert body["ingest_rate"] > 0
    narrow = live.client.get("/api/v1/summary", params={"minutes": 1}).json()
    assert narrow["total"] == 10


def test_health_is_ok_with_version(live: Live) -> None:
    body = live.client.get("/healthz").json()
    assert body["status"] == "ok" and body["db"] == "ok"
    assert body["version"] and body["schema_version"] >= 1


def test_health_is_503_when_the_writer_has_stopped(live: Live) -> None:
    live.receiver.writer.close()
    answer = live.client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    posted = live.client.post(
        "/api/v1/transactions", json={"timestamp": minute(0), "status": "approved"}
    )
    assert posted.status_code == 503
    assert posted.headers["Retry-After"]


def test_unknown_path_is_404_json(live: Live) -> None:
    answer = live.client.get("/api/v1/nothing")
    assert answer.status_code == 404
    assert answer.json() == {"error": "no such endpoint: /api/v1/nothing"}


def test_wrong_method_is_405_with_allow(live: Live) -> None:
    answer = live.client.delete("/api/v1/transactions")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, POST"
    assert "DELETE" in answer.json()["error"]


def test_token_is_required_when_configured(make_receiver) -> None:
    live = make_receiver(token="s3cret-token")
    anonymous = httpx.Client(base_url=live.url)
    try:
        answer = anonymous.get("/api/v1/summary")
        assert answer.status_code == 401
        assert "token" in answer.json()["error"]
        assert "s3cret" not in answer.text
        wrong = anonymous.get("/api/v1/summary", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        posted = anonymous.post(
            "/api/v1/transactions", json={"timestamp": minute(0), "status": "approved"}
        )
        assert posted.status_code == 401
        assert anonymous.get("/healthz").status_code == 200  # probes need no token
    finally:
        anonymous.close()
    assert live.client.get("/api/v1/summary").status_code == 200
    assert live.client.get("/api/v1/summary").json()["records_stored"] == 0


def test_openapi_document_lists_every_routed_path(live: Live) -> None:
    doc = live.client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    routed = live.server.router.paths()
    documented = {path: {m.upper() for m in ops} for path, ops in doc["paths"].items()}
    assert documented == routed


def test_docs_api_md_lists_the_same_endpoints_as_openapi() -> None:
    import re

    from server.api import openapi
    from tests.conftest import REPO

    text = (REPO / "docs" / "api.md").read_text()
    table = set(re.findall(r"^\| (GET|POST|DELETE|PUT) \| `([^`]+)` \|", text, re.M))
    documented = {(m.upper(), p) for p, ops in openapi.document()["paths"].items() for m in ops}
    assert table == documented


def test_docs_configuration_md_lists_every_setting() -> None:
    from server.config import SETTINGS
    from tests.conftest import REPO

    text = (REPO / "docs" / "configuration.md").read_text()
    missing = [
        s.name
        for s in SETTINGS
        if f"`{s.section}.{s.name}`" not in text or f"`{s.env}`" not in text
    ]
    assert missing == []


@pytest.mark.parametrize("status", ["approved,denied", "NOPE", "no-such!"])
def test_series_of_a_bad_or_second_status_is_400_not_a_quiet_series(
    live: Live, status: str
) -> None:
    # A misspelt or doubled filter must not come back as zeros, which read as no traffic.
    post(live, [{"timestamp": minute(0), "status": s} for s in ("approved", "denied")])
    answer = live.client.get("/api/v1/series", params={"status": status})
    assert answer.status_code == 400
    assert "status" in answer.json()["error"]


def test_series_and_transactions_filter_on_txmons_own_total(live: Live) -> None:
    post(live, [{"timestamp": minute(0), "status": "approved", "count": 4}])
    assert live.client.get("/api/v1/series", params={"status": "_total"}).status_code == 200
    rows = live.client.get("/api/v1/transactions", params={"status": "_total"})
    assert rows.status_code == 200 and rows.json()["transactions"] == []
