"""The OpenAPI 3 description served at `GET /api/v1/openapi.json`.

docs/api.md describes the same endpoints for people; a test keeps the two in step, and a
Schemathesis run against a live receiver checks that every status code, content type and
body the receiver answers is one this document declares.
"""

from __future__ import annotations

from typing import Any

from server import __version__
from server.api.schemas import (
    BAD_QUERY,
    BODY_FRAMING,
    ID,
    LIMIT,
    NO_ALERT,
    STATUS_NAME,
    WRITE_FAILED,
    array,
    error,
    json_answer,
    json_body,
    obj,
    operation,
    query,
    ref,
    schemas,
)
from server.detect.config import SEVERITIES

_INGEST = operation(
    "Store transaction records (one object, a JSON array, NDJSON or CSV)",
    ("201", "Stored; every record with its id and verdict.", ref("IngestAnswer")),
    {
        "400": error(
            "Malformed JSON, NDJSON or CSV (a number of more than 4,300 digits included), "
            "a bad Content-Length, or an Idempotency-Key over 255 characters."
        ),
        "411": error("No Content-Length (or a chunked body)."),
        "413": error("The body is over max_body_bytes or holds more than max_batch_records."),
        "415": error("A Content-Type other than JSON, NDJSON or CSV."),
        "422": error(
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
                        ref("RecordIn"),
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 10000,
                            "items": ref("RecordIn"),
                        },
                    ]
                }
            },
            "application/x-ndjson": {"schema": ref("RecordsNdjson")},
            "text/csv": {"schema": ref("RecordsCsv")},
        },
    },
)

_NAME = STATUS_NAME["pattern"].strip("^$")
_STATUS_LIST = f"^{_NAME}(,{_NAME}){{0,63}}$"
_SEVERITY = "(" + "|".join(SEVERITIES) + ")"
_SEVERITY_LIST = f"^{_SEVERITY}(,{_SEVERITY})*$"


_PATHS: dict[str, Any] = {
    "/api/v1/transactions": {
        "post": _INGEST,
        "get": operation(
            "Stored records, newest first",
            ("200", "A page of records.", obj({"transactions": array(ref("Record"))})),
            BAD_QUERY,
            parameters=[
                LIMIT,
                query(
                    "before_id",
                    "Only rows with a smaller id (page back).",
                    {"type": "integer", "minimum": 0, "maximum": 2**62},
                ),
                query(
                    "after_id",
                    "Only rows with a larger id (poll for new).",
                    {"type": "integer", "minimum": 0, "maximum": 2**62},
                ),
                query(
                    "status",
                    "Only these statuses (comma-separated, at most 64).",
                    {"type": "string", "pattern": _STATUS_LIST},
                ),
                query(
                    "severity",
                    "Only these severities (comma-separated).",
                    {"type": "string", "pattern": _SEVERITY_LIST},
                ),
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
        "get": operation(
            "Per-minute totals per status, zero-filled, ending at the newest stored minute",
            ("200", "Series.", ref("Series")),
            BAD_QUERY,
            parameters=[
                query(
                    "minutes",
                    "Window length (1-1440, default 60).",
                    {"type": "integer", "minimum": 1, "maximum": 1440, "default": 60},
                ),
                query("status", "Only this status.", STATUS_NAME),
            ],
        ),
    },
    "/api/v1/summary": {
        "get": operation(
            "Totals and shares by status over a window, ingest rate, newest event time",
            ("200", "Summary.", ref("Summary")),
            BAD_QUERY,
            parameters=[
                query(
                    "minutes",
                    "Window length (1-10080, default 60).",
                    {"type": "integer", "minimum": 1, "maximum": 10080, "default": 60},
                ),
            ],
        ),
    },
    "/api/v1/alerts": {
        "get": operation(
            "Alerts by state, newest first (open: firing before acknowledged)",
            ("200", "Alerts.", obj({"alerts": array(ref("Alert"))})),
            {"400": error("An unknown state, or a bad limit.")},
            parameters=[
                query(
                    "state",
                    "firing, acknowledged, resolved, open (default) or all.",
                    {
                        "type": "string",
                        "enum": ["firing", "acknowledged", "resolved", "open", "all"],
                        "default": "open",
                    },
                ),
                LIMIT,
            ],
        ),
    },
    "/api/v1/alerts/{id}": {
        "get": operation(
            "One alert with its timeline of events",
            ("200", "The alert and its timeline.", ref("AlertWithTimeline")),
            NO_ALERT,
            parameters=[ID],
        ),
    },
    "/api/v1/alerts/{id}/ack": {
        "post": operation(
            "Acknowledge an open alert (stops reminders)",
            ("200", "The alert, acknowledged.", ref("Alert")),
            {
                **NO_ALERT,
                **BODY_FRAMING,
                "400": error(
                    "Malformed JSON, a body that is not an object, a field of the wrong type "
                    "or length, or a bad Content-Length."
                ),
                "409": error("Resolved, or acknowledged already."),
                "503": WRITE_FAILED,
            },
            parameters=[ID],
            requestBody=json_body(
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
        "post": operation(
            "Undo an acknowledgement: the alert fires again",
            ("200", "The alert, firing.", ref("Alert")),
            {
                **NO_ALERT,
                **BODY_FRAMING,
                "400": error("A bad Content-Length (any body is ignored)."),
                "409": error("Not acknowledged, or resolved."),
                "503": WRITE_FAILED,
            },
            parameters=[ID],
        ),
    },
    "/api/v1/silences": {
        "get": operation(
            "Silences in force",
            ("200", "Silences.", obj({"silences": array(ref("Silence"))})),
            {},
        ),
        "post": operation(
            "Mute notifications for a status (or all) for some minutes",
            ("201", "The silence.", ref("Silence")),
            {
                **BODY_FRAMING,
                "400": error(
                    "Malformed JSON, a body that is not an object, a missing or bad field, "
                    "or a bad Content-Length."
                ),
                "503": WRITE_FAILED,
            },
            requestBody=json_body(
                {
                    "type": "object",
                    "required": ["minutes"],
                    "properties": {
                        "status": {
                            **STATUS_NAME,
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
        "delete": operation(
            "Remove a silence",
            ("200", "Removed.", obj({"removed": {"type": "integer"}})),
            {"404": error("No silence in force with that id."), "503": WRITE_FAILED},
            parameters=[ID],
        ),
    },
    "/api/v1/alerts/test": {
        "post": operation(
            "Send a marked test message through every channel (or one) now",
            (
                "200",
                "Each channel's result ('sent' or the error).",
                obj(
                    {
                        "results": array(
                            obj(
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
                "400": error(
                    "Malformed JSON, a body that is not an object, a 'channel' that is not a "
                    "string of up to 200 characters, or a bad Content-Length."
                ),
                "404": error("No channel of that name."),
                "409": error("No channel is configured; the message names the settings."),
                "503": WRITE_FAILED,
            },
            requestBody=json_body(
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
        "get": operation(
            "The notification outbox, newest first",
            (
                "200",
                "Outbox rows.",
                obj(
                    {
                        "channels": array({"type": "string"}),
                        "notifications": array(ref("Notification")),
                    }
                ),
            ),
            BAD_QUERY,
            parameters=[LIMIT],
        ),
    },
    "/metrics": {
        "get": operation(
            "Prometheus text exposition",
            ("200", "Metrics.", {"type": "string"}),
            {},
            media="text/plain",
        ),
    },
    "/api/v1/openapi.json": {
        "get": operation(
            "This document",
            (
                "200",
                "OpenAPI 3 document.",
                obj(
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
        "get": operation(
            "Liveness and database health (no token needed)",
            ("200", "Healthy.", ref("Health")),
            {
                "503": json_answer(
                    "The database cannot be read, writes fail, or the writer stopped.",
                    ref("Health"),
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
            "schemas": schemas(not_after),
        },
        "security": [{"bearer": []}],
        "paths": _PATHS,
    }
