"""Typed results of the receiver's API (docs/api.md), parsed leniently: the dashboard's
mirror of the server's answers, since it must not import `server/`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from txmon_tui.severity import SEVERITIES


def parse_time(value: Any) -> int | None:
    """Epoch seconds from the API's ISO 8601 UTC text (None stays None)."""
    if not value or not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class Baseline:
    """Expected count and upper limit of a status for one minute."""

    expected: float
    upper: float


@dataclass(frozen=True)
class HourProfile:
    """Typical per-minute count and upper limit for one hour of the day (UTC)."""

    hour: int
    average: float
    upper: float


@dataclass(frozen=True)
class StatusSummary:
    """One status over the summary window."""

    name: str
    count: int
    records: int
    share: float
    baseline: Baseline | None


@dataclass(frozen=True)
class Summary:
    """GET /api/v1/summary."""

    minutes: int
    newest_event_time: int | None
    total: int
    records_stored: int
    ingest_rate: float
    firing: int
    acknowledged: int
    statuses: dict[str, StatusSummary]
    hourly_profile: dict[str, tuple[HourProfile, ...]]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Summary:
        """Build from the decoded answer, tolerating missing optional parts."""
        statuses = {}
        for name, item in (doc.get("statuses") or {}).items():
            base = item.get("baseline")
            statuses[name] = StatusSummary(
                name=name,
                count=_int(item.get("count")),
                records=_int(item.get("records")),
                share=_float(item.get("share")) or 0.0,
                baseline=Baseline(
                    _float(base.get("expected")) or 0.0, _float(base.get("upper")) or 0.0
                )
                if isinstance(base, Mapping)
                else None,
            )
        profiles = {
            name: tuple(
                HourProfile(
                    _int(h.get("hour")),
                    _float(h.get("average")) or 0.0,
                    _float(h.get("upper")) or 0.0,
                )
                for h in hours
            )
            for name, hours in (doc.get("hourly_profile") or {}).items()
        }
        alerts = doc.get("alerts") or {}
        return cls(
            minutes=_int(doc.get("minutes"), 60),
            newest_event_time=parse_time(doc.get("newest_event_time")),
            total=_int(doc.get("total")),
            records_stored=_int(doc.get("records_stored")),
            ingest_rate=_float(doc.get("ingest_rate")) or 0.0,
            firing=_int(alerts.get("firing")),
            acknowledged=_int(alerts.get("acknowledged")),
            statuses=statuses,
            hourly_profile=profiles,
        )


@dataclass(frozen=True)
class Series:
    """GET /api/v1/series: zero-filled per-minute counts per status, oldest first."""

    start: int | None
    end: int | None
    series: dict[str, tuple[int, ...]]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Series:
        """Build from the decoded answer."""
        return cls(
            start=parse_time(doc.get("start")),
            end=parse_time(doc.get("end")),
            series={
                name: tuple(_int(v) for v in values)
                for name, values in (doc.get("series") or {}).items()
            },
        )


@dataclass(frozen=True)
class Transaction:
    """One stored record with the detector's verdict."""

    id: int
    timestamp: int
    status: str
    count: int
    severity: str
    score: float | None
    expected: float | None
    upper: float | None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Transaction:
        """Build from one element of `transactions`."""
        severity = doc.get("severity")
        return cls(
            id=_int(doc.get("id")),
            timestamp=parse_time(doc.get("timestamp")) or 0,
            status=str(doc.get("status", "?")),
            count=_int(doc.get("count")),
            severity=severity if severity in SEVERITIES else "normal",
            score=_float(doc.get("score")),
            expected=_float(doc.get("expected")),
            upper=_float(doc.get("upper")),
        )


@dataclass(frozen=True)
class TimelineEvent:
    """One step in an alert's life."""

    type: str
    at: int | None
    detail: str
    recorded_at: int | None


@dataclass(frozen=True)
class Alert:
    """One incident of one status (`_total` is the whole minute's volume)."""

    id: int
    status: str
    kind: str
    state: str
    severity: str
    first_seen: int | None
    last_seen: int | None
    peak_count: int
    peak_score: float | None
    expected: float | None
    acknowledged_by: str | None
    acknowledged_at: int | None
    ack_note: str | None
    resolved_at: int | None
    silenced: bool
    timeline: tuple[TimelineEvent, ...] = field(default=(), compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Alert:
        """Build from an alert document (with or without `timeline`)."""
        return cls(
            id=_int(doc.get("id")),
            status=str(doc.get("status", "?")),
            kind=str(doc.get("kind", "?")),
            state=str(doc.get("state", "?")),
            severity=str(doc.get("severity") or "normal"),
            first_seen=parse_time(doc.get("first_seen")),
            last_seen=parse_time(doc.get("last_seen")),
            peak_count=_int(doc.get("peak_count")),
            peak_score=_float(doc.get("peak_score")),
            expected=_float(doc.get("expected")),
            acknowledged_by=doc.get("acknowledged_by"),
            acknowledged_at=parse_time(doc.get("acknowledged_at")),
            ack_note=doc.get("ack_note"),
            resolved_at=parse_time(doc.get("resolved_at")),
            silenced=bool(doc.get("silenced")),
            timeline=tuple(
                TimelineEvent(
                    type=str(e.get("type", "?")),
                    at=parse_time(e.get("at")),
                    detail=str(e.get("detail") or ""),
                    recorded_at=parse_time(e.get("recorded_at")),
                )
                for e in doc.get("timeline") or ()
            ),
        )


@dataclass(frozen=True)
class Silence:
    """A silence in force (status None mutes every status)."""

    id: int
    status: str | None
    created_by: str
    reason: str
    created_at: int | None
    expires_at: int | None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Silence:
        """Build from a silence document."""
        return cls(
            id=_int(doc.get("id")),
            status=doc.get("status"),
            created_by=str(doc.get("created_by") or ""),
            reason=str(doc.get("reason") or ""),
            created_at=parse_time(doc.get("created_at")),
            expires_at=parse_time(doc.get("expires_at")),
        )


@dataclass(frozen=True)
class ChannelResult:
    """The outcome of a test send through one notification channel."""

    channel: str
    result: str
    ok: bool


# --- the client ---------------------------------------------------------------------------------
