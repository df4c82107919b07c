"""OpenAPI building blocks: the component schemas (records in, with a timestamp pattern a
generator can satisfy, and every document the API answers with) and the pieces operations
are made of (error answers, query parameters, bodies)."""

from __future__ import annotations

import time
from typing import Any

from server.detect.config import SEVERITIES
from server.detect.lifecycle import KINDS, STATES
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
            "status": STATUS,
            "count": {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": 1},
        },
    }


ISO = {"type": "string", "format": "date-time"}
ISO_OR_NULL = {"type": "string", "format": "date-time", "nullable": True}
STATUS = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]{0,31}$"}  # one a client may send
STATUS_NAME = {"type": "string", "pattern": "^[a-z0-9_]{1,32}$"}  # txmon's own ones too


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object schema whose every listed property is always present."""
    return {"type": "object", "required": list(properties), "properties": properties, **extra}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _text_records(not_after: int | None) -> dict[str, dict[str, Any]]:
    """The CSV and NDJSON bodies, as patterns a generator can fill with valid records."""
    ts = timestamp_regex(_latest(not_after)[1])
    status, count = "[a-z0-9][a-z0-9_]{0,31}", "[0-9]{1,9}"
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


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What is wrong, for people."},
            "details": array(
                obj(
                    {
                        "index": {"type": "integer", "minimum": 0},
                        "field": {"type": "string"},
                        "message": {"type": "string"},
                    }
                )
            ),
        },
    },
    "Record": obj(
        {
            "id": {"type": "integer"},
            "timestamp": ISO,
            "status": {"type": "string"},
            "count": {"type": "integer", "minimum": 0},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "score": {"type": "number", "nullable": True},
            "expected": {"type": "number", "nullable": True},
            "upper": {"type": "number", "nullable": True},
        }
    ),
    "Alert": obj(
        {
            "id": {"type": "integer"},
            "status": {"type": "string"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "state": {"type": "string", "enum": list(STATES)},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "first_seen": ISO,
            "last_seen": ISO,
            "peak_count": {"type": "integer"},
            "peak_score": {"type": "number"},
            "expected": {"type": "number"},
            "acknowledged_by": {"type": "string", "nullable": True},
            "acknowledged_at": ISO_OR_NULL,
            "ack_note": {"type": "string", "nullable": True},
            "resolved_at": ISO_OR_NULL,
            "silenced": {"type": "boolean"},
        }
    ),
    "AlertWithTimeline": {
        "allOf": [
            ref("Alert"),
            obj(
                {
                    "timeline": array(
                        obj(
                            {
                                "type": {"type": "string"},
                                "at": ISO,
                                "detail": {"type": "string"},
                                "recorded_at": ISO,
                            }
                        )
                    )
                }
            ),
        ]
    },
    "AlertChange": {
        "allOf": [
            ref("Alert"),
            obj(
                {
                    "event": {"type": "string", "description": "The last change."},
                    "events": array({"type": "string"}),
                }
            ),
        ]
    },
    "IngestAnswer": obj(
        {
            "accepted": {"type": "integer", "minimum": 1},
            "records": array(ref("Record")),
            "alerts": array(ref("AlertChange")),
        }
    ),
    "Silence": obj(
        {
            "id": {"type": "integer"},
            "status": {"type": "string", "nullable": True},
            "created_by": {"type": "string"},
            "reason": {"type": "string"},
            "created_at": ISO,
            "expires_at": ISO,
        }
    ),
    "Series": obj(
        {
            "start": ISO_OR_NULL,
            "end": ISO_OR_NULL,
            "minutes": array(ISO),
            "series": {
                "type": "object",
                "description": "Status -> one count per minute of 'minutes'.",
                "additionalProperties": array({"type": "integer", "minimum": 0}),
            },
        }
    ),
    "Summary": obj(
        {
            "minutes": {"type": "integer"},
            "start": ISO_OR_NULL,
            "newest_event_time": ISO_OR_NULL,
            "total": {"type": "integer", "minimum": 0},
            "statuses": {
                "type": "object",
                "additionalProperties": obj(
                    {
                        "count": {"type": "integer", "minimum": 0},
                        "records": {"type": "integer", "minimum": 0},
                        "share": {"type": "number", "minimum": 0, "maximum": 1},
                        "baseline": {
                            **obj({"expected": {"type": "number"}, "upper": {"type": "number"}}),
                            "nullable": True,
                        },
                    }
                ),
            },
            "records_stored": {"type": "integer", "minimum": 0},
            "ingest_rate": {"type": "number", "minimum": 0},
            "alerts": obj(
                {
                    "firing": {"type": "integer", "minimum": 0},
                    "acknowledged": {"type": "integer", "minimum": 0},
                }
            ),
            "hourly_profile": {
                "type": "object",
                "additionalProperties": array(
                    obj(
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
    "Notification": obj(
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
            "created_at": ISO,
            "sent_at": ISO_OR_NULL,
            "next_attempt_at": ISO_OR_NULL,
        }
    ),
    "Health": obj(
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "db": {"type": "string", "description": "'ok', or what is wrong."},
            "writer": {"type": "string", "description": "'ok' or 'stopped'."},
            "store": {"type": "string", "enum": ["sqlite", "postgresql"]},
            "role": {
                "type": "string",
                "enum": ["leader", "follower"],
                "description": "'leader' runs the alert lifecycle (always, on SQLite).",
            },
            "term": {
                "type": "integer",
                "minimum": 0,
                "description": "The detector lease's term held or last seen (0 on SQLite).",
            },
            "version": {"type": "string"},
            "schema_version": {"type": "integer"},
            "uptime_seconds": {"type": "number", "minimum": 0},
        }
    ),
}


def schemas(not_after: int | None) -> dict[str, Any]:
    """Every component schema; record schemas go no later than `not_after`."""
    found = {**SCHEMAS, "RecordIn": _record_in(not_after), **_text_records(not_after)}
    return dict(sorted(found.items()))


# --- answers -------------------------------------------------------------------------------

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str, *, retry: bool = False) -> dict[str, Any]:
    answer = json_answer(description, ref("Error"))
    if retry:
        answer["headers"] = RETRY_AFTER
    return answer


UNAUTHORIZED = error(
    "A token is configured (TXMON_TOKEN) and the request has no 'Authorization: Bearer' "
    "header with it."
)
OVERLOADED = error("The receiver is at its cap of concurrent connections; retry later.", retry=True)
WRITE_FAILED = error(
    "Writes are failing (disk full, database locked) or the receiver is shutting down or "
    "overloaded; nothing was stored, retry after Retry-After seconds.",
    retry=True,
)
MALFORMED = error(
    "A malformed request: a bad Content-Length or header field (checked before the route)."
)
BODY_FRAMING = {
    "411": error("A chunked body (Transfer-Encoding): send a Content-Length instead."),
    "413": error("The body is over max_body_bytes (8 MiB by default)."),
}


def operation(
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
    responses.setdefault("400", MALFORMED)  # framing is checked for every request
    operation: dict[str, Any] = {
        "summary": summary,
        **fields,
        "responses": dict(sorted(responses.items())),
    }
    if not auth:
        operation["security"] = []
    return operation


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def json_body(schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "A positive whole number; anything else is a 404.",
    "schema": {"type": "integer", "minimum": 1},
}
LIMIT = query(
    "limit",
    "Most rows to return (1-1000, default 100).",
    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
)
BAD_QUERY = {"400": error("A query parameter is not a whole number or out of its range.")}
NO_ALERT = {"404": error("No alert with that id.")}
