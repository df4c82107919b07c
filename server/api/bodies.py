"""Turning a POST body (JSON object or array, NDJSON, CSV) into validated records.

A request is all or nothing: either every record is valid, or the caller gets every
problem found (up to a limit) and nothing is stored.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from typing import Any

from server.errors import BodyError
from server.records import FieldError, Record, iso, parse_record

MAX_DETAILS = 100

JSON_TYPES = ("application/json", "text/json", "")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
CSV_TYPES = ("text/csv", "application/csv")
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Rejected:
    """The body was readable but some records are invalid (HTTP 422)."""

    details: list[FieldError]
    total: int


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def parse_body(
    body: bytes,
    content_type: str | None,
    *,
    max_records: int,
    not_after: int | None = None,
    now: int | None = None,
) -> list[Record] | Rejected:
    """Decode and validate a body; raise BodyError when it is unreadable.

    Records stamped after `not_after` are refused; `now` (the receiver's clock) is named in
    the message."""
    kind = media_type(content_type)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BodyError(400, "body is not valid UTF-8") from None
    if kind in JSON_TYPES or (kind == FORM_TYPE and text.lstrip()[:1] in ("{", "[")):
        # curl -d sends form encoding by default; the seed accepted such JSON, so do we.
        items = _json_items(text)
    elif kind in NDJSON_TYPES:
        items = _ndjson_items(text)
    elif kind in CSV_TYPES:
        items = _csv_items(text)
    else:
        raise BodyError(
            415,
            f"unsupported Content-Type {kind!r}: use application/json, "
            "application/x-ndjson or text/csv",
        )
    if not items:
        raise BodyError(422, "the body holds no records")
    if len(items) > max_records:
        raise BodyError(413, f"{len(items):,} records in one request; the limit is {max_records:,}")
    records: list[Record] = []
    details: list[FieldError] = []
    for index, item in enumerate(items):
        result = parse_record(item, index)
        if isinstance(result, Record):
            if not_after is not None and result.ts > not_after:
                message = _future(result.ts, not_after, not_after if now is None else now)
                details.append(FieldError(index, "timestamp", message))
            else:
                records.append(result)
        else:
            details.extend(result)
    if details:
        return Rejected(details[:MAX_DETAILS], len(details))
    return records


def _future(ts: int, not_after: int, now: int) -> str:
    """Why a record stamped ahead of the receiver's clock is refused, with both times."""
    ahead = ts - now
    return (
        f"{iso(ts)} is {ahead // 3600} h {ahead % 3600 // 60} min ahead of the receiver's "
        f"clock ({iso(now)}); at most {(not_after - now) // 60} min ahead is accepted "
        "(max_future_minutes): send UTC, or the time with its zone"
    )


def _loads(text: str | bytes, what: str) -> object:
    """json.loads with every failure a 400: syntax, nesting, or a number Python refuses.

    Python refuses to convert an integer of more than 4,300 digits (sys.int_info) and raises
    a plain ValueError, not a JSONDecodeError; a number that long is never a valid field.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(
            400, f"malformed {what}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BodyError(400, f"malformed {what}: nested too deeply") from None
    except UnicodeDecodeError:
        raise BodyError(400, "body is not valid UTF-8") from None
    except ValueError:
        raise BodyError(
            400, f"malformed {what}: a number has more than {sys.get_int_max_str_digits():,} digits"
        ) from None


def decode_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object request body (empty or blank = empty object); BodyError(400) otherwise."""
    if not body.strip():
        return {}
    doc = _loads(body, "JSON")
    if not isinstance(doc, dict):
        raise BodyError(400, "JSON body must be an object")
    return doc


def _json_items(text: str) -> list[object]:
    doc = _loads(text, "JSON")
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        return doc
    raise BodyError(400, "JSON body must be a record object or an array of records")


def _ndjson_items(text: str) -> list[object]:
    items: list[object] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        items.append(_loads(line, f"NDJSON line {number}"))
    return items


def _csv_items(text: str) -> list[object]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise BodyError(400, f"malformed CSV: {exc}") from None
    if "timestamp" not in header or "status" not in header:
        raise BodyError(400, "CSV header must name the columns timestamp,status,count")
    positions = {
        name: header.index(name) for name in ("timestamp", "status", "count") if name in header
    }
    items: list[object] = []
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            item = {
                name: row[pos].strip() if pos < len(row) else None
                for name, pos in positions.items()
            }
            items.append(item)
    except csv.Error as exc:
        raise BodyError(400, f"malformed CSV at line {reader.line_num}: {exc}") from None
    return items
