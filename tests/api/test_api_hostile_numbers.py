"""Numbers Python cannot or should not turn into a count or a time: each is a clean 4xx.

Every case is posted to a real receiver on a loopback port; the answer must be a JSON error
with a message, and the receiver's log must hold no traceback (a 500 would log one).
"""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import Live

HUGE = "1" * 4301  # one digit over Python's int-from-text limit: json.loads raises ValueError
JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}
MINUTE = "2025-07-12 13:45:00"


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def assert_clean_refusal(answer, log: pytest.LogCaptureFixture, code: int) -> dict:
    assert answer.status_code == code, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "internal error" not in body["error"]
    tracebacks = [r for r in log.records if r.exc_info or "Traceback" in r.getMessage()]
    assert tracebacks == []
    return body


def record(**fields: object) -> str:
    return json.dumps({"timestamp": MINUTE, "status": "approved", **fields})


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/api/v1/transactions", f'{{"timestamp": {HUGE}, "status": "approved"}}', JSON),
        ("/api/v1/transactions", f'[{{"timestamp": "{MINUTE}", "count": {HUGE}}}]', JSON),
        ("/receive_transaction", f'{{"count": {HUGE}}}', JSON),
        ("/api/v1/transactions", record() + f'\n{{"count": {HUGE}}}\n', NDJSON),
        ("/api/v1/alerts/1/ack", f'{{"by": {HUGE}}}', JSON),
        ("/api/v1/silences", f'{{"minutes": {HUGE}}}', JSON),
        ("/api/v1/alerts/test", f'{{"channel": {HUGE}}}', JSON),
    ],
    ids=["ingest", "ingest-array", "seed-path", "ndjson", "ack", "silences", "test-fire"],
)
def test_an_integer_of_4301_digits_is_a_400(
    live: Live, log_records: pytest.LogCaptureFixture, path: str, body: str, headers: dict
) -> None:
    answer = live.client.post(path, content=body, headers=headers)
    error = assert_clean_refusal(answer, log_records, 400)["error"]
    assert "4,300 digits" in error
    if "ndjson" in headers["Content-Type"]:
        assert "line 2" in error


@pytest.mark.parametrize(
    "timestamp", ["1e400", "+Infinity", "-Infinity", "-nan", "+nan", "NaN", "1" * 5000]
)
def test_a_timestamp_that_is_not_a_finite_number_is_refused(
    live: Live, log_records: pytest.LogCaptureFixture, timestamp: str
) -> None:
    answer = live.client.post("/api/v1/transactions", content=record(timestamp=timestamp))
    body = assert_clean_refusal(answer, log_records, 422)
    assert body["details"][0]["field"] == "timestamp"
    assert live.client.get("/api/v1/summary").json()["records_stored"] == 0


def test_timestamp_1e400_in_csv_is_refused(
    live: Live, log_records: pytest.LogCaptureFixture
) -> None:
    csv = "timestamp,status,count\n1e400,approved,1\n"
    answer = live.client.post("/api/v1/transactions", content=csv, headers=CSV)
    body = assert_clean_refusal(answer, log_records, 422)
    assert body["details"] == [
        {
            "index": 0,
            "field": "timestamp",
            "message": "must fall between 2000-01-01 and 2100-01-01 (UTC)",
        }
    ]


@pytest.mark.parametrize("count", ["1e999", "1" * 5000])
def test_a_csv_count_too_large_for_a_number_is_refused(
    live: Live, log_records: pytest.LogCaptureFixture, count: str
) -> None:
    csv = f"timestamp,status,count\n{MINUTE},approved,{count}\n"
    answer = live.client.post("/api/v1/transactions", content=csv, headers=CSV)
    body = assert_clean_refusal(answer, log_records, 422)
    assert body["details"][0]["field"] == "count"


@pytest.mark.parametrize("count", ["²", "٣", "\uff11\uff12", "12³"])
def test_a_count_with_a_non_ascii_digit_is_refused(
    live: Live, log_records: pytest.LogCaptureFixture, count: str
) -> None:
    answer = live.client.post("/api/v1/transactions", content=record(count=count), headers=JSON)
    body = assert_clean_refusal(answer, log_records, 422)
    assert body["details"] == [
        {
            "index": 0,
            "field": "count",
            "message": "must be a whole number (ASCII digits when sent as text)",
        }
    ]
    assert live.client.get("/api/v1/summary").json()["records_stored"] == 0


def test_a_timestamp_in_arabic_indic_digits_is_refused(
    live: Live, log_records: pytest.LogCaptureFixture
) -> None:
    answer = live.client.post("/api/v1/transactions", content=record(timestamp="١٧٥٢٣٢٧٩٠٠"))
    assert assert_clean_refusal(answer, log_records, 422)["details"][0]["field"] == "timestamp"


def test_numbers_as_text_in_ascii_are_still_accepted(live: Live) -> None:
    body = [
        {"timestamp": "1752327900", "status": "approved", "count": " 12 "},
        {"timestamp": "1.7523279e9", "status": "denied", "count": "007"},
    ]
    answer = live.client.post("/api/v1/transactions", json=body)
    assert answer.status_code == 201, answer.text
    records = answer.json()["records"]
    assert [(r["timestamp"], r["count"]) for r in records] == [
        ("2025-07-12T13:45:00Z", 12),
        ("2025-07-12T13:45:00Z", 7),
    ]


NOT_AN_INTEGER = "query parameter 'limit' must be an integer"
OUT_OF_RANGE = "query parameter 'limit' must be between 1 and 1000"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("\u0661\u0660", NOT_AN_INTEGER),
        ("1_0", NOT_AN_INTEGER),
        ("1e3", NOT_AN_INTEGER),
        ("+", NOT_AN_INTEGER),
        ("9" * 5000, OUT_OF_RANGE),  # ASCII digits, too many to read: out of range
        ("-" + "9" * 30, OUT_OF_RANGE),
        ("99999999999999999999999", OUT_OF_RANGE),
    ],
)
def test_a_query_integer_not_in_ascii_digits_or_too_long_is_a_clear_400(
    live: Live, log_records: pytest.LogCaptureFixture, value: str, error: str
) -> None:
    answer = live.client.get("/api/v1/transactions", params={"limit": value})
    body = assert_clean_refusal(answer, log_records, 400)
    assert body["error"] == error


def test_a_query_integer_in_ascii_digits_is_read(live: Live) -> None:
    assert live.client.get("/api/v1/summary", params={"minutes": " 30 "}).json()["minutes"] == 30
