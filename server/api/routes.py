"""The API's endpoints: each decodes its query or body, calls `Receiver`, and returns
(status code, JSON document). Domain errors raised below become HTTP answers through the one
table in `routing.ERROR_CODES`; framing, auth and encoding live in `exchange`."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from server.api import openapi
from server.api.bodies import Rejected, decode_json_object, parse_body
from server.api.exchange import RequestHandler
from server.api.routing import ApiError, JsonBytes, Router
from server.detect.config import SEVERITIES
from server.detect.lifecycle import ACKNOWLEDGED, FIRING, RESOLVED
from server.records import STATUS_NAME_RE

log = logging.getLogger("txmon.http")

MAX_KEY_LENGTH = 255
MAX_NAME_LENGTH = 64
MAX_TEXT_LENGTH = 1000
ALERT_STATES = {
    FIRING: (FIRING,),
    ACKNOWLEDGED: (ACKNOWLEDGED,),
    RESOLVED: (RESOLVED,),
    "open": (FIRING, ACKNOWLEDGED),
    "all": (FIRING, ACKNOWLEDGED, RESOLVED),
}

INTEGER_RE = re.compile(r"[+-]?[0-9]+")

Query = dict[str, list[str]]
Params = tuple[str, ...]


def query_int(
    query: dict[str, list[str]], name: str, default: int | None, low: int, high: int
) -> int | None:
    """An integer query parameter within [low, high], or a 400 that says what is wrong."""
    values = query.get(name)
    if not values:
        return default
    text = values[-1].strip()
    # ASCII digits only: int() also reads "1_000" and digits of every script.
    if not INTEGER_RE.fullmatch(text):
        raise ApiError(400, f"query parameter {name!r} must be an integer")
    value = int(text) if len(text) <= 20 else None  # longer: out of range, whatever it says
    if value is None or not low <= value <= high:
        raise ApiError(400, f"query parameter {name!r} must be between {low} and {high}")
    return value


def query_list(query: dict[str, list[str]], name: str) -> list[str]:
    """Repeated or comma-separated values: `?status=a,b` or `?status=a&status=b`."""
    return [v for raw in query.get(name, []) for v in raw.split(",") if v]


MAX_FILTER_VALUES = 64  # values one filter parameter may list


def query_statuses(query: dict[str, list[str]], most: int = MAX_FILTER_VALUES) -> list[str]:
    """`?status=` values, each a status name (txmon's own `_total` included), at most `most`:
    a misspelt filter is a 400, not an empty answer that looks like no traffic."""
    values = query_list(query, "status")
    for value in values:
        if not STATUS_NAME_RE.fullmatch(value):
            raise ApiError(400, f"query parameter 'status': {value[:40]!r} is not a status name")
    if len(values) > most:
        raise ApiError(400, f"query parameter 'status' takes at most {most} value(s)")
    return values


def query_severities(query: dict[str, list[str]]) -> list[str]:
    """`?severity=` values, each one of the four severities."""
    values = query_list(query, "severity")
    for value in values:
        if value not in SEVERITIES:
            raise ApiError(400, f"query parameter 'severity' must be among {', '.join(SEVERITIES)}")
    return values


def json_object(h: RequestHandler) -> dict[str, Any]:
    """An optional JSON object body (none or blank = {}); a 400 that says why otherwise.

    No Content-Length means no body (RFC 9112 6.3), so `curl -X POST URL` works."""
    return decode_json_object(h.read_body())


def text_field(doc: dict[str, Any], name: str, default: str | None, limit: int) -> str | None:
    """An optional string field of a JSON body, bounded in length."""
    value = doc.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name!r} must be a string")
    if len(value) > limit:
        raise ApiError(400, f"{name!r} must be at most {limit} characters")
    return value


def path_id(params: Params, what: str) -> int:
    try:
        value = int(params[0])
    except ValueError:
        raise ApiError(404, f"no {what} with id {params[0]!r}") from None
    if not 0 < value < 2**62:
        raise ApiError(404, f"no {what} with id {value}")
    return value


# --- transactions -----------------------------------------------------------------------------


def post_transactions(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    started = time.perf_counter()
    config = h.server.config
    body = h.read_body()
    key = h.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ApiError(400, f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
    now = int(time.time())
    parsed = parse_body(
        body,
        h.headers.get("content-type"),
        max_records=config.max_batch_records,
        not_after=h.server.receiver.horizon(now),
        now=now,
    )
    if isinstance(parsed, Rejected):
        raise ApiError(
            422,
            f"{parsed.total} problem(s) in the records; nothing was stored",
            details=[d.as_dict() for d in parsed.details],
        )
    result = h.server.receiver.ingest(parsed, idempotency_key=key, body=body)
    h.server.receiver.metrics.ingest_latency.observe(time.perf_counter() - started)
    answer = JsonBytes(result.body)
    if result.replayed:  # the answer of the first request with this key, stored then
        answer.headers = {"Idempotent-Replayed": "true"}
    return result.code, answer


def get_transactions(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    limit = query_int(query, "limit", 100, 1, 1000)
    before = query_int(query, "before_id", None, 0, 2**62)
    after = query_int(query, "after_id", None, 0, 2**62)
    assert limit is not None
    return 200, h.server.receiver.transactions(
        limit=limit,
        before_id=before,
        after_id=after,
        statuses=query_statuses(query),
        severities=query_severities(query),
    )


def get_series(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    minutes = query_int(query, "minutes", 60, 1, 1440)
    status = query_statuses(query, most=1)
    assert minutes is not None
    return 200, h.server.receiver.series(minutes, status[0] if status else None)


def get_summary(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    minutes = query_int(query, "minutes", 60, 1, 10080)
    assert minutes is not None
    return 200, h.server.receiver.summary(minutes)


def get_health(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    healthy, document = h.server.receiver.health()
    return (200 if healthy else 503), document


def get_openapi(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    return 200, openapi.document(not_after=h.server.receiver.horizon())


# --- alerts and silences ------------------------------------------------------------------


def get_alerts(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    state = (query.get("state") or ["open"])[-1]
    if state not in ALERT_STATES:
        raise ApiError(400, f"state must be one of {', '.join(ALERT_STATES)}")
    limit = query_int(query, "limit", 100, 1, 1000)
    assert limit is not None
    return 200, h.server.receiver.alerts(ALERT_STATES[state], limit)


def get_alert(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    alert_id = path_id(params, "alert")
    found = h.server.receiver.alert(alert_id)
    if found is None:
        raise ApiError(404, f"no alert with id {alert_id}")
    return 200, found


def post_ack(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    alert_id = path_id(params, "alert")
    doc = json_object(h)
    by = text_field(doc, "by", "api", MAX_NAME_LENGTH) or "api"
    note = text_field(doc, "note", None, MAX_TEXT_LENGTH)
    return 200, h.server.receiver.ack(alert_id, by, note)


def post_unack(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    alert_id = path_id(params, "alert")
    h.read_body()
    return 200, h.server.receiver.unack(alert_id)


def post_silence(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    doc = json_object(h)
    status = doc.get("status")
    if status is not None and (not isinstance(status, str) or not STATUS_NAME_RE.fullmatch(status)):
        raise ApiError(400, "'status' must match [a-z0-9_]{1,32}, or be null to silence all")
    minutes = doc.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 43_200:
        raise ApiError(400, "'minutes' must be a whole number from 1 to 43200 (30 days)")
    by = text_field(doc, "by", "api", MAX_NAME_LENGTH) or "api"
    reason = text_field(doc, "reason", "", MAX_TEXT_LENGTH) or ""
    return 201, h.server.receiver.add_silence(status, minutes, by, reason)


def get_silences(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    return 200, h.server.receiver.silences()


def delete_silence(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    silence_id = path_id(params, "silence")
    h.server.receiver.remove_silence(silence_id)
    return 200, {"removed": silence_id}


# --- notifications ---------------------------------------------------------------------------


def get_notifications(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    limit = query_int(query, "limit", 100, 1, 1000)
    assert limit is not None
    return 200, h.server.receiver.notifications(limit)


def post_test_alert(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    doc = json_object(h)
    channel = text_field(doc, "channel", None, 200)
    return 200, {"results": h.server.receiver.test_fire(channel)}


def get_metrics(h: RequestHandler, query: Query, params: Params) -> tuple[int, Any]:
    return 200, h.server.receiver.metrics.render()


def build_router() -> Router:
    router = Router()
    router.add("POST", "/api/v1/transactions", post_transactions)
    router.add("POST", "/receive_transaction", post_transactions)
    router.add("GET", "/api/v1/transactions", get_transactions)
    router.add("GET", "/api/v1/series", get_series)
    router.add("GET", "/api/v1/summary", get_summary)
    router.add("GET", "/api/v1/openapi.json", get_openapi)
    router.add("GET", "/api/v1/alerts", get_alerts)
    router.add("GET", "/api/v1/alerts/{id}", get_alert)
    router.add("POST", "/api/v1/alerts/{id}/ack", post_ack)
    router.add("POST", "/api/v1/alerts/{id}/unack", post_unack)
    router.add("POST", "/api/v1/silences", post_silence)
    router.add("GET", "/api/v1/silences", get_silences)
    router.add("DELETE", "/api/v1/silences/{id}", delete_silence)
    router.add("GET", "/api/v1/notifications", get_notifications)
    router.add("POST", "/api/v1/alerts/test", post_test_alert)
    router.add("GET", "/metrics", get_metrics)
    router.add("GET", "/healthz", get_health)
    return router
