"""POST /api/v1/transactions through a real receiver: formats, validation, atomicity."""

from __future__ import annotations

import json
import math
import socket

import pytest

from tests.conftest import Live


def rec(ts: str = "2025-07-12 13:45:00", status: str = "approved", count: int = 5) -> dict:
    return {"timestamp": ts, "status": status, "count": count}


def stored(live: Live) -> list[dict]:
    return live.client.get("/api/v1/transactions", params={"limit": 1000}).json()["transactions"]


def test_single_record_is_stored_and_echoed_with_id_and_normalised_time(live: Live) -> None:
    answer = live.client.post("/api/v1/transactions", json=rec())
    assert answer.status_code == 201
    body = answer.json()
    assert body["accepted"] == 1
    (record,) = body["records"]
    assert record["id"] == 1
    assert record["timestamp"] == "2025-07-12T13:45:00Z"
    assert (record["status"], record["count"]) == ("approved", 5)
    assert record["severity"] in ("normal", "low", "medium", "high")
    assert body["alerts"] == []
    assert stored(live)[0]["id"] == 1


def test_array_keeps_request_order(live: Live) -> None:
    batch = [rec(f"2025-07-12 13:{m:02d}:00", s, m) for m in range(10) for s in ("a", "b")]
    body = live.client.post("/api/v1/transactions", json=batch).json()
    assert body["accepted"] == 20
    assert [(r["status"], r["count"]) for r in body["records"]] == [
        (r["status"], r["count"]) for r in batch
    ]
    ids = [r["id"] for r in body["records"]]
    assert ids == sorted(ids) and len(set(ids)) == 20


def test_ndjson_body_is_accepted(live: Live) -> None:
    body = "\n".join(json.dumps(rec(status=s)) for s in ("approved", "denied")) + "\n"
    answer = live.client.post(
        "/api/v1/transactions", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert answer.status_code == 201
    assert [r["status"] for r in answer.json()["records"]] == ["approved", "denied"]


def test_csv_body_is_accepted(live: Live) -> None:
    body = "timestamp,status,count\n2025-07-12 13:45:00,denied,3\n2025-07-12T13:46:00Z,failed,0\n"
    answer = live.client.post(
        "/api/v1/transactions", content=body, headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 201
    assert [(r["status"], r["count"]) for r in answer.json()["records"]] == [
        ("denied", 3),
        ("failed", 0),
    ]


def test_seed_path_answers_like_the_v1_path(live: Live) -> None:
    answer = live.client.post("/receive_transaction", json=rec(status="refunded"))
    assert answer.status_code == 201
    assert answer.json()["records"][0]["status"] == "refunded"


def test_curl_form_encoded_json_is_read_as_json(live: Live) -> None:
    answer = live.client.post(
        "/api/v1/transactions",
        content=json.dumps(rec()),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 201


@pytest.mark.parametrize(
    ("timestamp", "normalised"),
    [
        ("2025-07-12 13:45:00", "2025-07-12T13:45:00Z"),
        ("2025-07-12T13:45:00", "2025-07-12T13:45:00Z"),
        ("2025-07-12T13:45:00Z", "2025-07-12T13:45:00Z"),
        ("2025-07-12T10:45:00-03:00", "2025-07-12T13:45:00Z"),
        (1752327900, "2025-07-12T13:45:00Z"),
        ("1752327900", "2025-07-12T13:45:00Z"),
    ],
)
def test_timestamp_forms_normalise_to_utc(live: Live, timestamp: object, normalised: str) -> None:
    answer = live.client.post("/api/v1/transactions", json=rec(ts=timestamp))  # type: ignore[arg-type]
    assert answer.status_code == 201, answer.text
    assert answer.json()["records"][0]["timestamp"] == normalised


def test_count_defaults_to_one(live: Live) -> None:
    answer = live.client.post(
        "/api/v1/transactions", json={"timestamp": "2025-07-12 13:45:00", "status": "approved"}
    )
    assert answer.json()["records"][0]["count"] == 1


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"timestamp": "yesterday", "status": "approved", "count": 1}, "timestamp"),
        ({"timestamp": "2025-07-12", "status": "approved", "count": 1}, "timestamp"),
        ({"timestamp": "2025-13-12 10:00:00", "status": "approved", "count": 1}, "timestamp"),
        ({"timestamp": 1752327900000, "status": "approved", "count": 1}, "timestamp"),
        ({"timestamp": "2099-01-01 00:00:00", "status": "approved", "count": 1}, "timestamp"),
        ({"status": "approved", "count": 1}, "timestamp"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "Approved", "count": 1}, "status"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "a" * 33, "count": 1}, "status"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "", "count": 1}, "status"),
        ({"timestamp": "2025-07-12 13:45:00", "count": 1}, "status"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": -1}, "count"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 1.5}, "count"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": True}, "count"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 10**9 + 1}, "count"),
        ({"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": "many"}, "count"),
    ],
)
def test_invalid_record_is_422_naming_the_field(live: Live, record: dict, field: str) -> None:
    answer = live.client.post("/api/v1/transactions", json=record)
    assert answer.status_code == 422
    body = answer.json()
    assert "nothing was stored" in body["error"]
    assert {"index": 0, "field": field} == {k: body["details"][0][k] for k in ("index", "field")}
    assert body["details"][0]["message"]
    assert stored(live) == []


@pytest.mark.parametrize("status", ["_total", "_anything"])
def test_a_status_named_like_txmons_own_total_is_422_and_leaves_the_total_alone(
    live: Live, status: str
) -> None:
    # `_total` is the whole minute's volume, summed by txmon; a client's record of that name
    # would be counted into it and could hide a real spike.
    good = {"timestamp": "2025-07-12 13:45:00", "status": "approved", "count": 10}
    answer = live.client.post("/api/v1/transactions", json=[good, {**good, "status": status}])
    assert answer.status_code == 422
    detail = answer.json()["details"][0]
    assert (detail["index"], detail["field"]) == (1, "status")
    assert "txmon's own" in detail["message"]
    assert stored(live) == []


def test_one_bad_record_rejects_the_whole_batch(live: Live) -> None:
    batch = [rec(), rec(status="denied"), rec(status="BAD"), rec(count=-3)]
    answer = live.client.post("/api/v1/transactions", json=batch)
    assert answer.status_code == 422
    details = answer.json()["details"]
    assert [(d["index"], d["field"]) for d in details] == [(2, "status"), (3, "count")]
    assert stored(live) == []
    assert live.client.get("/api/v1/summary").json()["total"] == 0


def test_non_object_items_are_422(live: Live) -> None:
    answer = live.client.post("/api/v1/transactions", json=[rec(), 7])
    assert answer.status_code == 422
    assert answer.json()["details"][0]["index"] == 1


def test_empty_array_is_422(live: Live) -> None:
    answer = live.client.post("/api/v1/transactions", json=[])
    assert answer.status_code == 422
    assert "no records" in answer.json()["error"]


@pytest.mark.parametrize(
    ("content", "ctype"),
    [
        (b'{"timestamp": ', "application/json"),
        (b"[1, 2", "application/json"),
        (b'"just a string"', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b'{"ok": 1}\nnot json\n', "application/x-ndjson"),
        (b"when,what\n1,2\n", "text/csv"),
        (b"[" * 100000, "application/json"),
    ],
)
def test_malformed_body_is_400_and_stores_nothing(live: Live, content: bytes, ctype: str) -> None:
    answer = live.client.post(
        "/api/v1/transactions", content=content, headers={"Content-Type": ctype}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert stored(live) == []


def test_unsupported_content_type_is_415(live: Live) -> None:
    answer = live.client.post(
        "/api/v1/transactions", content=b"<xml/>", headers={"Content-Type": "application/xml"}
    )
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]


def test_body_over_the_limit_is_413(make_receiver) -> None:
    live = make_receiver(max_body_bytes=2048)
    big = [rec(count=i) for i in range(100)]
    answer = live.client.post("/api/v1/transactions", json=big)
    assert answer.status_code == 413
    assert "limit" in answer.json()["error"]
    assert stored(live) == []


def test_more_records_than_the_batch_limit_is_413(make_receiver) -> None:
    live = make_receiver(max_batch_records=10)
    answer = live.client.post("/api/v1/transactions", json=[rec(count=i) for i in range(11)])
    assert answer.status_code == 413
    assert stored(live) == []


def raw_request(live: Live, data: bytes) -> tuple[int, dict, bytes]:
    """Send bytes on a fresh socket and parse the answer's status and JSON body."""
    host, port = live.server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(data)
        chunks = b""
        while b"\r\n\r\n" not in chunks:
            chunks += sock.recv(65536)
        head, _, rest = chunks.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        length = int(headers.get("content-length", 0))
        while len(rest) < length:
            rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest


def test_chunked_body_is_411_and_no_length_means_no_body(live: Live) -> None:
    code, _headers, body = raw_request(
        live,
        b"POST /api/v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    assert code == 411
    assert json.loads(body)["error"]
    code, _, body = raw_request(
        live, b"POST /api/v1/transactions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert code == 400  # an empty body (RFC 9112 6.3), which holds no records
    assert json.loads(body)["error"]


def test_garbage_request_line_gets_a_json_400(live: Live) -> None:
    code, headers, body = raw_request(live, b"HELLO\r\n\r\n")
    assert code == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]


def test_unsupported_http_version_is_505(live: Live) -> None:
    code, _, _body = raw_request(live, b"GET /healthz HTTP/2.0\r\n\r\n")
    assert code == 505


def test_keep_alive_serves_many_requests_on_one_connection(live: Live) -> None:
    payload = json.dumps(rec()).encode()
    request = (
        b"POST /api/v1/transactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    host, port = live.server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request * 5)
        data = b""
        while data.count(b"HTTP/1.1 201") < 5:
            chunk = sock.recv(65536)
            assert chunk, "server closed a keep-alive connection"
            data += chunk
    assert len(stored(live)) == 5


def test_counts_for_the_same_minute_and_status_add_up(live: Live) -> None:
    for count in (3, 4, 5):
        live.client.post("/api/v1/transactions", json=rec(ts="2025-07-12 13:45:10", count=count))
    live.client.post("/api/v1/transactions", json=rec(ts="2025-07-12 13:45:59", count=8))
    series = live.client.get("/api/v1/series", params={"minutes": 1}).json()
    assert series["series"]["approved"] == [20]
    assert len(stored(live)) == 4


def test_idle_keep_alive_connections_are_closed(live: Live) -> None:
    live.server.idle_timeout = 0.3
    host, port = live.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        rest = sock.recv(65536)  # blocks until the server closes the idle connection
        assert rest == b""


def test_a_stalled_request_does_not_hold_a_thread_forever(live: Live) -> None:
    live.server.header_timeout = 0.3
    host, port = live.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/transactions HTTP/1.1\r\nContent-Le")  # and nothing more
        assert sock.recv(65536).startswith(b"HTTP/1.1 408 ")
        assert sock.recv(65536) == b""


def test_answer_writes_a_number_that_is_not_finite_as_null() -> None:
    from server.core.receiver import ingest_answer
    from server.detect.engine import Judged
    from server.records import Record

    records = [Record(1752327900, "approved", 5), Record(1752327900, "inf", 2)]
    verdicts = [Judged("high", math.inf, 1.25, math.nan), Judged("normal", 0.5, 2.0, 4.0)]
    body = json.loads(ingest_answer(7, records, verdicts, []))
    first, second = body["records"]
    assert (first["id"], first["score"], first["expected"], first["upper"]) == (7, None, 1.25, None)
    assert (second["id"], second["status"], second["score"], second["upper"]) == (
        8,
        "inf",
        0.5,
        4.0,
    )


def test_stored_verdict_numbers_read_back_rounded_like_the_answer(live: Live) -> None:
    batch = [rec(f"2025-07-12 13:{m:02d}:00", "approved", 100 + 7 * m) for m in range(40)]
    answered = live.client.post("/api/v1/transactions", json=batch).json()["records"]
    by_id = {r["id"]: r for r in stored(live)}
    for record in answered:
        again = by_id[record["id"]]
        for name in ("score", "expected", "upper"):
            assert again[name] == pytest.approx(record[name], abs=0.0011)
            assert again[name] is None or round(again[name], 3) == again[name]
