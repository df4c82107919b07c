"""The OpenAPI 3 description served at `GET /api/v1/openapi.json`.

docs/api.md describes the same endpoints for people; a test keeps the two in step, and a
Schemathesis run against a live receiver checks that every status code, content type and
body the receiver answers is one this document declares.
"""

from __future__ import annotations

import time
from typing import Any

from server import __version__
from server.detect.lifecycle import KINDS, STATES
from server.detect.stats import SEVERITIES
from server.records import MAX_COUNT, MAX_EPOCH, MIN_EPOCH

# --- timestamps ----------------------------------------------------------------------------
# What records.parse_timestamp accepts as text, written so that every string matching it is a
# valid time: real calendar dates (leap days included), and whole years from 2001 up to the
# year before the latest time accepted, so that neither a zone offset nor the receiver's
# future limit can make a matching time invalid. [0-9] and not \d: a generator may take \d
# for digits of any script, which the receiver refuses.
FIRST_YEAR = 2001
LAST_YEAR = 2098
_D = "[0-9]"
_MONTH_DAY = (
    f"(?:0[1-9]|1[0-2])-(?:0[1-9]|1{_D}|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31"
)
_TIME = f"(?:[01]{_D}|2[0-3]):[0-5]{_D}(?::[0-5]{_D}(?:\\.{_D}{{1,6}})?)?"
_ZONE = f"(?:Z|[+-](?:[01]{_D}|2[0-3]):[0-5]{_D})?"


def _years(first: int, last: int) -> str:
    """A regex for the years first..last (within 2000-2099), by decade."""
    parts = []
    for decade in range(10):
        low, high = max(first, 2000 + 10 * decade), min(last, 2009 + 10 * decade)
        if low <= high:
            parts.append(f"{decade}[{low % 10}-{high % 10}]")
    return f"20(?:{'|'.join(parts)})"


def timestamp_regex(last_year: int = LAST_YEAR) -> str:
    """ISO 8601 times from FIRST_YEAR to last_year, unanchored (for embedding)."""
    leap = [str(y)[2:] for y in range(FIRST_YEAR, last_year + 1) if y % 4 == 0]
    leap_day = f"|20(?:{'|'.join(leap)})-02-29" if leap else ""
    date = f"(?:{_years(FIRST_YEAR, last_year)}-(?:{_MONTH_DAY}){leap_day})"
    return f"{date}[T ]{_TIME}{_ZONE}"


def _latest(not_after: int | None) -> tuple[int, int]:
    """The latest epoch second and the last whole year a record may have."""
    latest = MAX_EPOCH - 1 if not_after is None else min(not_after, MAX_EPOCH - 1)
    return latest, min(LAST_YEAR, time.gmtime(latest).tm_year - 1)


def _record_in(not_after: int | None) -> dict[str, Any]:
    """RecordIn: every instance a generator makes from it is a record the receiver stores."""
    latest, last_year = _latest(not_after)
    limit = (
        "the receiver's clock plus its future limit when this document was served"
        if not_after is not None
        else "2100-01-01, and at most the receiver's future limit ahead of its clock"
    )
    return {
        "type": "object",
        "required": ["timestamp", "status"],
        "properties": {
            "timestamp": {
                "description": (
                    "When the counted transactions happened: ISO 8601 with 'T' or a space "
                    "(no zone means UTC), or Unix epoch seconds; from 2000-01-01 up to "
                    f"{limit} (later records are refused with 422). The receiver also takes "
                    "epoch seconds as a decimal string, and ISO times of the current year up "
                    "to that limit; the schema leaves those out so that every time it "
                    "describes is one the receiver stores."
                ),
                "oneOf": [
                    {"type": "integer", "minimum": MIN_EPOCH, "maximum": latest},
                    {"type": "string", "pattern": f"^{timestamp_regex(last_year)}$"},
                ],
            },
            "status": _STATUS,
            "count": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": 1},
        },
    }


_ISO = {"type": "string", "format": "date-time"}
_ISO_OR_NULL = {"type": "string", "format": "date-time", "nullable": True}
_STATUS = {"type": "string", "pattern": "^[a-z0-9_]{1,32}$"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object schema whose every listed property is always present."""
    return {"type": "object", "required": list(properties), "properties": properties, **extra}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _text_records(not_after: int | None) -> dict[str, dict[str, Any]]:
    """The CSV and NDJSON bodies, as patterns a generator can fill with valid records."""
    ts = timestamp_regex(_latest(not_after)[1])
    status, count = "[a-z0-9_]{1,32}", "[0-9]{1,9}"
    line = f'\\{{"timestamp": "{ts}", "status": "{status}", "count": {count}\\}}'
    return {
        "RecordsCsv": {
            "type": "string",
            "description": "A header line naming the columns timestamp,status,count, then rows.",
            "pattern": f"^timestamp,status,count\\n(?:{ts},{status},{count}\\n){{1,100}}$",
        },
        "RecordsNdjson": {
            "type": "string",
            "description": "One RecordIn object per line.",
            "pattern": f"^(?:{line}\\n){{1,100}}$",
        },
    }


# --- answers -------------------------------------------------------------------------------

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, *, retry: bool = False) -> dict[str, Any]:
    answer = _json(description, _ref("Error"))
    if retry:
        answer["headers"] = _RETRY_AFTER
    return answer


UNAUTHORIZED = _error(
    "A token is configured (TXMON_TOKEN) and the request has no 'Authorization: Bearer' "
    "header with it."
)
OVERLOADED = _error(
    "The receiver is at its cap of concurrent connections; retry later.", retry=True
)
WRITE_FAILED = _error(
    "Writes are failing (disk full, database locked) or the receiver is shutting down or "
    "overloaded; nothing was stored, retry after Retry-After seconds.",
    retry=True,
)
BODY_FRAMING = {
    "411": _error("A chunked body (Transfer-Encoding): send a Content-Length instead."),
    "413": _error("The body is over max_body_bytes (8 MiB by default)."),
}


def _operation(
    summary: str,
    ok: tuple[str, str, dict[str, Any]],
    errors: dict[str, dict[str, Any]],
    *,
    auth: bool = True,
    media: str = "application/json",
    **fields: Any,
) -> dict[str, Any]:
    """One operation with its answers; 401 when it needs the token, 503 past the cap."""
    code, description, schema = ok
    success = {"description": description, "content": {media: {"schema": schema}}}
    responses: dict[str, Any] = {code: success, **errors}
    if auth:
        responses["401"] = UNAUTHORIZED
    responses.setdefault("503", OVERLOADED)
    operation: dict[str, Any] = {
        "summary": summary,
        **fields,
        "responses": dict(sorted(responses.items())),
    }
    if not auth:
        operation["security"] = []
    return operation


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _json_body(schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "A positive whole number; anything else is a 404.",
    "schema": {"type": "integer", "minimum": 1},
}
_LIMIT = _query(
    "limit",
    "Most rows to return (1-1000, default 100).",
    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
)
BAD_QUERY = {"400": _error("A query parameter is not a whole number or out of its range.")}
NO_ALERT = {"404": _error("No alert with that id.")}

_INGEST = _operation(
    "Store transaction records (one object, a JSON array, NDJSON or CSV)",
    ("201", "Stored; every record with its id and verdict.", _ref("IngestAnswer")),
    {
        "400": _error(
            "Malformed JSON, NDJSON or CSV (a number of more than 4,300 digits included), "
            "a bad Content-Length, or an Idempotency-Key over 255 characters."
        ),
        "411": _error("No Content-Length (or a chunked body)."),
        "413": _error("The body is over max_body_bytes or holds more than max_batch_records."),
        "415": _error("A Content-Type other than JSON, NDJSON or CSV."),
        "422": _error(
            "Nothing was stored: some record is invalid ('details' names each one, its field "
            "and why), the body holds no record, a record is more than max_future_minutes "
            "ahead of the receiver's clock, a record would add a status past the distinct-status "
            "cap, or the Idempotency-Key was used before with a different body."
        ),
        "503": WRITE_FAILED,
    },
    parameters=[
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A retry with the same key within 24 h returns the first answer.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ],
    requestBody={
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _ref("RecordIn"),
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 10000,
                            "items": _ref("RecordIn"),
                        },
                    ]
                }
            },
            "application/x-ndjson": {"schema": _ref("RecordsNdjson")},
            "text/csv": {"schema": _ref("RecordsCsv")},
        },
    },
)

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What is wrong, for people."},
            "details": _array(
                _object(
                    {
                        "index": {"type": "integer", "minimum": 0},
                        "field": {"type": "string"},
                        "message": {"type": "string"},
                    }
                )
            ),
        },
    },
    "Record": _object(
        {
            "id": {"type": "integer"},
            "timestamp": _ISO,
            "status": {"type": "string"},
            "count": {"type": "integer", "minimum": 0},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "score": {"type": "number", "nullable": True},
            "expected": {"type": "number", "nullable": True},
            "upper": {"type": "number", "nullable": True},
        }
    ),
    "Alert": _object(
        {
            "id": {"type": "integer"},
            "status": {"type": "string"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "state": {"type": "string", "enum": list(STATES)},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "first_seen": _ISO,
            "last_seen": _ISO,
            "peak_count": {"type": "integer"},
            "peak_score": {"type": "number"},
            "expected": {"type": "number"},
            "acknowledged_by": {"type": "string", "nullable": True},
            "acknowledged_at": _ISO_OR_NULL,
            "ack_note": {"type": "string", "nullable": True},
            "resolved_at": _ISO_OR_NULL,
            "silenced": {"type": "boolean"},
        }
    ),
    "AlertWithTimeline": {
        "allOf": [
            _ref("Alert"),
            _object(
                {
                    "timeline": _array(
                        _object(
                            {
                                "type": {"type": "string"},
                                "at": _ISO,
                                "detail": {"type": "string"},
                                "recorded_at": _ISO,
                            }
                        )
                    )
                }
            ),
        ]
    },
    "AlertChange": {
        "allOf": [
            _ref("Alert"),
            _object(
                {
                    "event": {"type": "string", "description": "The last change."},
                    "events": _array({"type": "string"}),
                }
            ),
        ]
    },
    "IngestAnswer": _object(
        {
            "accepted": {"type": "integer", "minimum": 1},
            "records": _array(_ref("Record")),
            "alerts": _array(_ref("AlertChange")),
        }
    ),
    "Silence": _object(
        {
            "id": {"type": "integer"},
            "status": {"type": "string", "nullable": True},
            "created_by": {"type": "string"},
            "reason": {"type": "string"},
            "created_at": _ISO,
            "expires_at": _ISO,
        }
    ),
    "Series": _object(
        {
            "start": _ISO_OR_NULL,
            "end": _ISO_OR_NULL,
            "minutes": _array(_ISO),
            "series": {
                "type": "object",
                "description": "Status -> one count per minute of 'minutes'.",
                "additionalProperties": _array({"type": "integer", "minimum": 0}),
            },
        }
    ),
    "Summary": _object(
        {
            "minutes": {"type": "integer"},
            "start": _ISO_OR_NULL,
            "newest_event_time": _ISO_OR_NULL,
            "total": {"type": "integer", "minimum": 0},
            "statuses": {
                "type": "object",
                "additionalProperties": _object(
                    {
                        "count": {"type": "integer", "minimum": 0},
                        "records": {"type": "integer", "minimum": 0},
                        "share": {"type": "number", "minimum": 0, "maximum": 1},
                        "baseline": {
                            **_object(
                                {"expected": {"type": "number"}, "upper": {"type": "number"}}
                            ),
                            "nullable": True,
                        },
                    }
                ),
            },
            "records_stored": {"type": "integer", "minimum": 0},
            "ingest_rate": {"type": "number", "minimum": 0},
            "alerts": _object(
                {
                    "firing": {"type": "integer", "minimum": 0},
                    "acknowledged": {"type": "integer", "minimum": 0},
                }
            ),
            "hourly_profile": {
                "type": "object",
                "additionalProperties": _array(
                    _object(
                        {
                            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                            "average": {"type": "number"},
                            "upper": {"type": "number"},
                        }
                    )
                ),
            },
        }
    ),
    "Notification": _object(
        {
            "id": {"type": "integer"},
            "alert_id": {"type": "integer", "nullable": True},
            "event": {"type": "string"},
            "channel": {"type": "string"},
            "state": {
                "type": "string",
                "enum": ["pending", "sending", "sent", "failed", "ambiguous", "cancelled"],
            },
            "attempts": {"type": "integer", "minimum": 0},
            "last_error": {"type": "string", "nullable": True},
            "created_at": _ISO,
            "sent_at": _ISO_OR_NULL,
            "next_attempt_at": _ISO_OR_NULL,
        }
    ),
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "db": {"type": "string", "description": "'ok', or what is wrong."},
            "writer": {"type": "string", "description": "'ok' or 'stopped'."},
            "version": {"type": "string"},
            "schema_version": {"type": "integer"},
            "uptime_seconds": {"type": "number", "minimum": 0},
        }
    ),
}

_PATHS: dict[str, Any] = {
    "/api/v1/transactions": {
        "post": _INGEST,
        "get": _operation(
            "Stored records, newest first",
            ("200", "A page of records.", _object({"transactions": _array(_ref("Record"))})),
            BAD_QUERY,
            parameters=[
                _LIMIT,
                _query(
                    "before_id",
                    "Only rows with a smaller id (page back).",
                    {"type": "integer", "minimum": 0, "maximum": 2**62},
                ),
                _query(
                    "after_id",
                    "Only rows with a larger id (poll for new).",
                    {"type": "integer", "minimum": 0, "maximum": 2**62},
                ),
                _query("status", "Only these statuses (comma-separated).", {"type": "string"}),
                _query("severity", "Only these severities (comma-separated).", {"type": "string"}),
            ],
        ),
    },
    "/receive_transaction": {
        "post": {
            **_INGEST,
            "summary": "The seed's original path; same as POST /api/v1/transactions",
        },
    },
    "/api/v1/series": {
        "get": _operation(
            "Per-minute totals per status, zero-filled, ending at the newest stored minute",
            ("200", "Series.", _ref("Series")),
            BAD_QUERY,
            parameters=[
                _query(
                    "minutes",
                    "Window length (1-1440, default 60).",
                    {"type": "integer", "minimum": 1, "maximum": 1440, "default": 60},
                ),
                _query("status", "Only this status.", {"type": "string"}),
            ],
        ),
    },
    "/api/v1/summary": {
        "get": _operation(
            "Totals and shares by status over a window, ingest rate, newest event time",
            ("200", "Summary.", _ref("Summary")),
            BAD_QUERY,
            parameters=[
                _query(
                    "minutes",
                    "Window length (1-10080, default 60).",
                    {"type": "integer", "minimum": 1, "maximum": 10080, "default": 60},
                ),
            ],
        ),
    },
    "/api/v1/alerts": {
        "get": _operation(
            "Alerts by state, newest first (open: firing before acknowledged)",
            ("200", "Alerts.", _object({"alerts": _array(_ref("Alert"))})),
            {"400": _error("An unknown state, or a bad limit.")},
            parameters=[
                _query(
                    "state",
                    "firing, acknowledged, resolved, open (default) or all.",
                    {
                        "type": "string",
                        "enum": ["firing", "acknowledged", "resolved", "open", "all"],
                        "default": "open",
                    },
                ),
                _LIMIT,
            ],
        ),
    },
    "/api/v1/alerts/{id}": {
        "get": _operation(
            "One alert with its timeline of events",
            ("200", "The alert and its timeline.", _ref("AlertWithTimeline")),
            NO_ALERT,
            parameters=[_ID],
        ),
    },
    "/api/v1/alerts/{id}/ack": {
        "post": _operation(
            "Acknowledge an open alert (stops reminders)",
            ("200", "The alert, acknowledged.", _ref("Alert")),
            {
                **NO_ALERT,
                **BODY_FRAMING,
                "400": _error(
                    "Malformed JSON, a body that is not an object, a field of the wrong type "
                    "or length, or a bad Content-Length."
                ),
                "409": _error("Resolved, or acknowledged already."),
                "503": WRITE_FAILED,
            },
            parameters=[_ID],
            requestBody=_json_body(
                {
                    "type": "object",
                    "properties": {
                        "by": {"type": "string", "maxLength": 64, "default": "api"},
                        "note": {"type": "string", "maxLength": 1000},
                    },
                },
                required=False,
            ),
        ),
    },
    "/api/v1/alerts/{id}/unack": {
        "post": _operation(
            "Undo an acknowledgement: the alert fires again",
            ("200", "The alert, firing.", _ref("Alert")),
            {
                **NO_ALERT,
                **BODY_FRAMING,
                "400": _error("A bad Content-Length (any body is ignored)."),
                "409": _error("Not acknowledged, or resolved."),
                "503": WRITE_FAILED,
            },
            parameters=[_ID],
        ),
    },
    "/api/v1/silences": {
        "get": _operation(
            "Silences in force",
            ("200", "Silences.", _object({"silences": _array(_ref("Silence"))})),
            {},
        ),
        "post": _operation(
            "Mute notifications for a status (or all) for some minutes",
            ("201", "The silence.", _ref("Silence")),
            {
                **BODY_FRAMING,
                "400": _error(
                    "Malformed JSON, a body that is not an object, a missing or bad field, "
                    "or a bad Content-Length."
                ),
                "503": WRITE_FAILED,
            },
            requestBody=_json_body(
                {
                    "type": "object",
                    "required": ["minutes"],
                    "properties": {
                        "status": {
                            **_STATUS,
                            "nullable": True,
                            "description": "null or absent: every status",
                        },
                        "minutes": {"type": "integer", "minimum": 1, "maximum": 43200},
                        "by": {"type": "string", "maxLength": 64, "default": "api"},
                        "reason": {"type": "string", "maxLength": 1000, "default": ""},
                    },
                },
                required=True,
            ),
        ),
    },
    "/api/v1/silences/{id}": {
        "delete": _operation(
            "Remove a silence",
            ("200", "Removed.", _object({"removed": {"type": "integer"}})),
            {"404": _error("No silence in force with that id."), "503": WRITE_FAILED},
            parameters=[_ID],
        ),
    },
    "/api/v1/alerts/test": {
        "post": _operation(
            "Send a marked test message through every channel (or one) now",
            (
                "200",
                "Each channel's result ('sent' or the error).",
                _object(
                    {
                        "results": _array(
                            _object(
                                {
                                    "channel": {"type": "string"},
                                    "result": {"type": "string"},
                                    "ok": {"type": "boolean"},
                                }
                            )
                        )
                    }
                ),
            ),
            {
                **BODY_FRAMING,
                "400": _error(
                    "Malformed JSON, a body that is not an object, a 'channel' that is not a "
                    "string of up to 200 characters, or a bad Content-Length."
                ),
                "404": _error("No channel of that name."),
                "409": _error("No channel is configured; the message names the settings."),
                "503": WRITE_FAILED,
            },
            requestBody=_json_body(
                {
                    "type": "object",
                    "properties": {
                        "channel": {
                            "type": "string",
                            "maxLength": 200,
                            "description": "e.g. telegram:12345, email, webhook",
                        }
                    },
                },
                required=False,
            ),
        ),
    },
    "/api/v1/notifications": {
        "get": _operation(
            "The notification outbox, newest first",
            (
                "200",
                "Outbox rows.",
                _object(
                    {
                        "channels": _array({"type": "string"}),
                        "notifications": _array(_ref("Notification")),
                    }
                ),
            ),
            BAD_QUERY,
            parameters=[_LIMIT],
        ),
    },
    "/metrics": {
        "get": _operation(
            "Prometheus text exposition",
            ("200", "Metrics.", {"type": "string"}),
            {},
            media="text/plain",
        ),
    },
    "/api/v1/openapi.json": {
        "get": _operation(
            "This document",
            (
                "200",
                "OpenAPI 3 document.",
                _object(
                    {
                        "openapi": {"type": "string"},
                        "info": {"type": "object"},
                        "paths": {"type": "object"},
                    }
                ),
            ),
            {},
        ),
    },
    "/healthz": {
        "get": _operation(
            "Liveness and database health (no token needed)",
            ("200", "Healthy.", _ref("Health")),
            {
                "503": _json(
                    "The database cannot be read, writes fail, or the writer stopped.",
                    _ref("Health"),
                )
            },
            auth=False,
        ),
    },
}


def document(not_after: int | None = None) -> dict[str, Any]:
    """The whole OpenAPI document as a dict.

    `not_after` is the latest event time the receiver accepts now (its clock plus its future
    limit); the record schemas then go no later, so generated records are all accepted.
    """
    if not_after is not None:
        not_after -= not_after % 60  # one document per minute, still within the limit
    schemas = {**_SCHEMAS, "RecordIn": _record_in(not_after), **_text_records(not_after)}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "txmon receiver API",
            "version": __version__,
            "description": (
                "Per-minute transaction counts in; records, series, summaries out. Errors are "
                "JSON objects with an 'error' message. Besides the answers listed per "
                "operation, any request can get 400, 414, 431 or 505 for a malformed HTTP "
                "request, 404 for an unknown path and 405 for a method a path does not take."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": dict(sorted(schemas.items())),
        },
        "security": [{"bearer": []}],
        "paths": _PATHS,
    }
