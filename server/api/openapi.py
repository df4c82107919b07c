"""The OpenAPI 3 description served at `GET /api/v1/openapi.json`.

docs/api.md describes the same endpoints for people; a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from server import __version__


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

_INGEST = {
    "summary": "Store transaction records (one object, a JSON array, NDJSON or CSV)",
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A retry with the same key within 24 h returns the first answer.",
            "schema": {"type": "string", "maxLength": 255},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/RecordIn"},
                        {
                            "type": "array",
                            "maxItems": 10000,
                            "items": {"$ref": "#/components/schemas/RecordIn"},
                        },
                    ]
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string", "description": "timestamp,status,count"}},
        },
    },
    "responses": {
        "201": _json(
            "Stored; every record with its id and verdict.",
            {"$ref": "#/components/schemas/IngestAnswer"},
        ),
        "400": _error("Malformed JSON, NDJSON or CSV."),
        "401": _error("Token configured and missing or wrong."),
        "411": _error("No Content-Length."),
        "413": _error("Body or record count over the limit."),
        "415": _error("Unsupported Content-Type."),
        "422": _error("Some record is invalid; nothing was stored. See details."),
        "503": _error("Storage unavailable or shutting down; retry."),
    },
}


def document() -> dict[str, Any]:
    """The whole OpenAPI document as a dict."""
    limit = _query(
        "limit",
        "Most rows to return (1-1000, default 100).",
        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "txmon receiver API",
            "version": __version__,
            "description": "Per-minute transaction counts in; records, series, summaries out.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "details": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "index": {"type": "integer"},
                                    "field": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "RecordIn": {
                    "type": "object",
                    "required": ["timestamp", "status"],
                    "properties": {
                        "timestamp": {
                            "oneOf": [{"type": "string"}, {"type": "number"}],
                            "description": "ISO 8601 ('T' or space; no zone = UTC) or epoch s.",
                        },
                        "status": {"type": "string", "pattern": "^[a-z0-9_]{1,32}$"},
                        "count": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 1000000000,
                            "default": 1,
                        },
                    },
                },
                "Record": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "status": {"type": "string"},
                        "count": {"type": "integer"},
                        "severity": {"type": "string", "enum": ["normal", "low", "medium", "high"]},
                        "score": {"type": "number", "nullable": True},
                        "expected": {"type": "number", "nullable": True},
                        "upper": {"type": "number", "nullable": True},
                    },
                },
                "Alert": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "status": {"type": "string"},
                        "kind": {"type": "string", "enum": ["spike", "drop", "shift", "no_data"]},
                        "state": {"type": "string", "enum": ["firing", "acknowledged", "resolved"]},
                        "severity": {"type": "string"},
                        "first_seen": {"type": "string", "format": "date-time"},
                        "last_seen": {"type": "string", "format": "date-time"},
                        "peak_count": {"type": "integer"},
                        "peak_score": {"type": "number"},
                        "expected": {"type": "number"},
                        "acknowledged_by": {"type": "string", "nullable": True},
                        "acknowledged_at": {"type": "string", "nullable": True},
                        "ack_note": {"type": "string", "nullable": True},
                        "resolved_at": {"type": "string", "nullable": True},
                        "silenced": {"type": "boolean"},
                        "timeline": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "IngestAnswer": {
                    "type": "object",
                    "properties": {
                        "accepted": {"type": "integer"},
                        "records": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Record"},
                        },
                        "alerts": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/transactions": {
                "post": _INGEST,
                "get": {
                    "summary": "Stored records, newest first",
                    "parameters": [
                        limit,
                        _query(
                            "before_id",
                            "Only rows with a smaller id (page back).",
                            {"type": "integer"},
                        ),
                        _query(
                            "after_id",
                            "Only rows with a larger id (poll for new).",
                            {"type": "integer"},
                        ),
                        _query(
                            "status", "Only these statuses (comma-separated).", {"type": "string"}
                        ),
                        _query(
                            "severity",
                            "Only these severities (comma-separated).",
                            {"type": "string"},
                        ),
                    ],
                    "responses": {
                        "200": _json(
                            "A page of records.",
                            {
                                "type": "object",
                                "properties": {
                                    "transactions": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Record"},
                                    }
                                },
                            },
                        ),
                        "400": _error("Bad query parameter."),
                    },
                },
            },
            "/receive_transaction": {
                "post": {
                    **_INGEST,
                    "summary": "The seed's original path; same as POST /api/v1/transactions",
                },
            },
            "/api/v1/series": {
                "get": {
                    "summary": "Per-minute totals per status, zero-filled, ending at the "
                    "newest stored minute",
                    "parameters": [
                        _query(
                            "minutes",
                            "Window length (1-1440, default 60).",
                            {"type": "integer", "minimum": 1, "maximum": 1440},
                        ),
                        _query("status", "Only this status.", {"type": "string"}),
                    ],
                    "responses": {
                        "200": _json("Series.", {"type": "object"}),
                        "400": _error("Bad query parameter."),
                    },
                },
            },
            "/api/v1/summary": {
                "get": {
                    "summary": "Totals and shares by status over a window, ingest rate, "
                    "newest event time",
                    "parameters": [
                        _query(
                            "minutes",
                            "Window length (1-10080, default 60).",
                            {"type": "integer", "minimum": 1, "maximum": 10080},
                        ),
                    ],
                    "responses": {
                        "200": _json("Summary.", {"type": "object"}),
                        "400": _error("Bad query parameter."),
                    },
                },
            },
            "/api/v1/alerts": {
                "get": {
                    "summary": "Alerts by state, newest first (open: firing before acknowledged)",
                    "parameters": [
                        _query(
                            "state",
                            "firing, acknowledged, resolved, open (default) or all.",
                            {
                                "type": "string",
                                "enum": ["firing", "acknowledged", "resolved", "open", "all"],
                            },
                        ),
                        limit,
                    ],
                    "responses": {
                        "200": _json(
                            "Alerts.",
                            {
                                "type": "object",
                                "properties": {
                                    "alerts": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Alert"},
                                    }
                                },
                            },
                        ),
                        "400": _error("Bad query parameter."),
                    },
                },
            },
            "/api/v1/alerts/{id}": {
                "get": {
                    "summary": "One alert with its timeline of events",
                    "parameters": [_ID],
                    "responses": {
                        "200": _json(
                            "The alert and its timeline.", {"$ref": "#/components/schemas/Alert"}
                        ),
                        "404": _error("No such alert."),
                    },
                },
            },
            "/api/v1/alerts/{id}/ack": {
                "post": {
                    "summary": "Acknowledge an open alert (stops reminders)",
                    "parameters": [_ID],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "by": {"type": "string", "maxLength": 64},
                                        "note": {"type": "string", "maxLength": 1000},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            "The alert, acknowledged.", {"$ref": "#/components/schemas/Alert"}
                        ),
                        "404": _error("No such alert."),
                        "409": _error("Resolved, or acknowledged already."),
                    },
                },
            },
            "/api/v1/alerts/{id}/unack": {
                "post": {
                    "summary": "Undo an acknowledgement: the alert fires again",
                    "parameters": [_ID],
                    "responses": {
                        "200": _json("The alert, firing.", {"$ref": "#/components/schemas/Alert"}),
                        "404": _error("No such alert."),
                        "409": _error("Not acknowledged, or resolved."),
                    },
                },
            },
            "/api/v1/silences": {
                "get": {
                    "summary": "Silences in force",
                    "responses": {"200": _json("Silences.", {"type": "object"})},
                },
                "post": {
                    "summary": "Mute notifications for a status (or all) for some minutes",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["minutes"],
                                    "properties": {
                                        "status": {
                                            "type": "string",
                                            "nullable": True,
                                            "description": "null or absent: every status",
                                        },
                                        "minutes": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "maximum": 43200,
                                        },
                                        "by": {"type": "string"},
                                        "reason": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json("The silence.", {"type": "object"}),
                        "400": _error("Bad field."),
                    },
                },
            },
            "/api/v1/silences/{id}": {
                "delete": {
                    "summary": "Remove a silence",
                    "parameters": [_ID],
                    "responses": {
                        "200": _json("Removed.", {"type": "object"}),
                        "404": _error("No such silence in force."),
                    },
                },
            },
            "/api/v1/alerts/test": {
                "post": {
                    "summary": "Send a marked test message through every channel (or one) now",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "channel": {
                                            "type": "string",
                                            "description": "e.g. telegram:12345, email, webhook",
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            "Each channel's result ('sent' or the error).", {"type": "object"}
                        ),
                        "404": _error("No channel of that name."),
                        "409": _error("No channel is configured."),
                    },
                },
            },
            "/api/v1/notifications": {
                "get": {
                    "summary": "The notification outbox, newest first",
                    "parameters": [limit],
                    "responses": {
                        "200": _json("Outbox rows.", {"type": "object"}),
                        "400": _error("Bad query parameter."),
                    },
                },
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text exposition",
                    "responses": {
                        "200": {
                            "description": "Metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json("OpenAPI 3 document.", {"type": "object"})},
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and database health (no token needed)",
                    "security": [],
                    "responses": {
                        "200": _json("Healthy.", {"type": "object"}),
                        "503": _json("Database or writer unusable.", {"type": "object"}),
                    },
                },
            },
        },
    }
