"""GET /metrics parsed by prometheus_client's own exposition parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_api_alerts import history, post_minutes
from tests.conftest import Live


def samples(live: Live) -> dict[tuple[str, tuple], float]:
    answer = live.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_match_what_was_posted(live: Live) -> None:
    history(live.client, minutes=30)
    post_minutes(live.client, range(30, 32), approved=100, denied=3)  # one request
    live.client.get("/api/v1/nothing")
    found = samples(live)
    assert found[("txmon_records_ingested_total", (("status", "approved"),))] == 32
    assert found[("txmon_records_ingested_total", (("status", "denied"),))] == 32
    approved = sum(115 + m % 11 for m in range(30)) + 200
    assert found[("txmon_transactions_ingested_total", (("status", "approved"),))] == approved
    assert found[("txmon_http_requests_total", (("code", "201"), ("method", "POST")))] == 31
    assert found[("txmon_http_requests_total", (("code", "404"), ("method", "GET")))] == 1
    assert found[("txmon_ingest_duration_seconds_count", ())] == 31
    assert found[("txmon_detector_seconds_per_record_count", ())] == 31
    assert found[("txmon_records_stored", ())] == 64
    newest = live.client.get("/api/v1/summary").json()["newest_event_time"]
    from datetime import datetime

    epoch = datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp()
    assert found[("txmon_last_event_timestamp_seconds", ())] == epoch
    assert found[("txmon_alerts_open", (("state", "firing"),))] == 0


def test_metrics_count_open_alerts(live: Live) -> None:
    history(live.client)
    post_minutes(live.client, range(90, 94), denied=70)
    found = samples(live)
    assert found[("txmon_alerts_open", (("state", "firing"),))] == 1
    assert found[("txmon_alerts_open", (("state", "acknowledged"),))] == 0


def test_a_post_refused_for_its_headers_is_counted_as_a_post(live: Live) -> None:
    from tests.api.test_api_ingest import raw_request

    code, _headers, _body = raw_request(
        live,
        b"POST /api/v1/transactions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
    )
    assert code == 411
    found = samples(live)
    assert found[("txmon_http_requests_total", (("code", "411"), ("method", "POST")))] == 1
    assert ("txmon_http_requests_total", (("code", "411"), ("method", "OTHER"))) not in found
