"""The JSON documents the API answers with, built from the receiver's objects."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.detect.lifecycle import Alert, AlertEvent, Silence
from server.records import ISO_TEXT, Record, iso
from server.store import StoredRecord, Verdict


@dataclass(slots=True)
class IngestResult:
    """What a POST of records answers: HTTP code and the JSON body (built once, as bytes)."""

    code: int
    body: bytes
    alerts: list[dict[str, Any]]
    replayed: bool = False

    @property
    def answer(self) -> dict[str, Any]:
        """The body decoded, for in-process callers (import --db, tests)."""
        result: dict[str, Any] = json.loads(self.body)
        return result


def _number(value: float) -> str:
    """Three decimals, as stored; `null` for a value that is not finite."""
    return f"{value:.3f}" if value - value == 0 else "null"


_ANSWER_RECORD = (
    '{"id":%d,"timestamp":"%s","status":"%s","count":%d,'
    '"severity":"%s","score":%.3f,"expected":%.3f,"upper":%.3f}'
)


# What "%.3f" makes of an infinite or NaN verdict number; never valid JSON. The slow path then
# formats those numbers itself, as `null` where they are not finite.
_NOT_FINITE = (":nan", ":inf", ":-inf")


_ANSWER_RECORD_CHECKED = _ANSWER_RECORD.replace("%.3f", "%s")


def ingest_answer(
    first_id: int,
    records: Sequence[Record],
    verdicts: Sequence[Verdict],
    alerts: list[dict[str, Any]],
) -> bytes:
    """The 201 body. Written by hand rather than json.dumps: with thousands of records per
    request it is the second-largest cost of ingest, and every field is already safe (ids and
    counts are ints, statuses match [a-z0-9_]+, ISO times and severities are fixed forms)."""
    if len(records) != len(verdicts):
        raise ValueError(f"{len(records)} records but {len(verdicts)} verdicts")
    isos = ISO_TEXT
    fmt = _ANSWER_RECORD
    text = ",".join(
        [
            fmt
            % (i, isos.get(r[0]) or iso(r[0]), r[1], r[2], v.severity, v.score, v.expected, v.upper)
            for i, r, v in zip(itertools.count(first_id), records, verdicts)
        ]
    )
    if any(bad in text for bad in _NOT_FINITE):  # rare: redo with `null` for those numbers
        checked = _ANSWER_RECORD_CHECKED
        text = ",".join(
            checked
            % (i, iso(r[0]), r[1], r[2], v.severity, *map(_number, (v.score, v.expected, v.upper)))
            for i, r, v in zip(itertools.count(first_id), records, verdicts)
        )
    alerts_json = json.dumps(alerts, separators=(",", ":"))
    return f'{{"accepted":{len(records)},"records":[{text}],"alerts":{alerts_json}}}'.encode()


def record_json(rec: StoredRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "timestamp": iso(rec.ts),
        "status": rec.status,
        "count": rec.count,
        "severity": rec.severity,
        "score": rec.score,
        "expected": rec.expected,
        "upper": rec.upper,
    }


def iso_or_none(epoch: int | None) -> str | None:
    return None if epoch is None else iso(epoch)


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as the API shows it: times as ISO 8601 UTC."""
    doc = alert.as_dict()
    for name in ("first_seen", "last_seen", "acknowledged_at", "resolved_at"):
        doc[name] = iso_or_none(doc[name])  # type: ignore[arg-type]
    doc["peak_score"] = round(alert.peak_score, 3)
    doc["expected"] = round(alert.expected, 3)
    return doc


def silence_json(silence: Silence) -> dict[str, Any]:
    doc = silence.as_dict()
    doc["created_at"] = iso(silence.created_at)
    doc["expires_at"] = iso(silence.expires_at)
    return doc


def alerts_touched(events: list[AlertEvent]) -> list[dict[str, Any]]:
    """Each alert an ingest opened or changed, as it stands after the request."""
    latest: dict[int, AlertEvent] = {}
    for event in events:
        latest[event.alert_id] = event
    types: dict[int, list[str]] = {}
    for event in events:
        types.setdefault(event.alert_id, []).append(event.type)
    return [
        {**alert_json(e.alert), "event": e.type, "events": types[e.alert_id]}
        for e in latest.values()
    ]
