"""Async HTTP client for the receiver's API (docs/api.md): typed results, clear exceptions."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

API = "/api/v1"
SEVERITIES = ("high", "medium", "low", "normal")


# --- errors -----------------------------------------------------------------------------------


class TxmonError(Exception):
    """Anything that went wrong talking to the receiver; `str()` is fit for a toast."""


class Unreachable(TxmonError):
    """The receiver could not be reached or did not answer in time."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Unauthorized(TxmonError):
    """The receiver answered 401: the token is missing or wrong."""


class ApiError(TxmonError):
    """The receiver answered with an HTTP error; `message` is its JSON `error` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message

    @property
    def transient(self) -> bool:
        """True for answers worth retrying (5xx: overloaded, restarting, storage trouble)."""
        return self.status >= 500


# --- results ----------------------------------------------------------------------------------


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


class TxmonClient:
    """The receiver's API over one pooled `httpx.AsyncClient`."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.has_token = bool(token)
        self.requests_sent = 0
        headers = {"User-Agent": "txmon-dashboard"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Any:
        self.requests_sent += 1
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        try:
            answer = await self._http.request(method, path, params=params, json=json, **extra)
        except httpx.TimeoutException:
            reason = f"no answer within {timeout or self._timeout():g}s"
            raise Unreachable(f"{self.url} gave {reason}", reason) from None
        except httpx.TransportError as exc:
            reason = _reason(exc)
            raise Unreachable(f"cannot reach {self.url}: {reason}", reason) from None
        if answer.status_code == 401:
            if self.has_token:
                raise Unauthorized(
                    "the receiver rejected the token (401): check --token / TXMON_TOKEN"
                )
            raise Unauthorized("the receiver needs a token (401): set --token or TXMON_TOKEN")
        try:
            doc = answer.json()
        except ValueError:
            doc = None
        if answer.status_code >= 400:
            message = doc.get("error") if isinstance(doc, dict) else None
            raise ApiError(answer.status_code, str(message or answer.reason_phrase or "error"))
        if doc is None:
            raise ApiError(
                answer.status_code, f"{method} {path} answered something that is not JSON"
            )
        return doc

    def _timeout(self) -> float:
        return self._http.timeout.read or 0.0

    # reads

    async def health(self, timeout: float | None = None) -> dict[str, Any]:
        """GET /healthz: a cheap probe (no token needed, a tiny answer)."""
        return await self._request("GET", "/healthz", timeout=timeout)

    async def summary(self, minutes: int = 60) -> Summary:
        """Totals, shares, baselines, hourly profiles and alert counts over `minutes`."""
        return Summary.from_json(
            await self._request("GET", f"{API}/summary", params={"minutes": minutes})
        )

    async def series(self, minutes: int = 60) -> Series:
        """Per-minute counts per status over the last `minutes` of event time."""
        return Series.from_json(
            await self._request("GET", f"{API}/series", params={"minutes": minutes})
        )

    async def transactions(
        self,
        *,
        after_id: int | None = None,
        limit: int = 100,
        statuses: Iterable[str] = (),
        severities: Iterable[str] = (),
    ) -> list[Transaction]:
        """Stored records newest first; `after_id` fetches only newer rows."""
        params: dict[str, Any] = {"limit": limit}
        if after_id is not None:
            params["after_id"] = after_id
        if statuses := ",".join(statuses):
            params["status"] = statuses
        if severities := ",".join(severities):
            params["severity"] = severities
        doc = await self._request("GET", f"{API}/transactions", params=params)
        return [Transaction.from_json(t) for t in doc.get("transactions") or ()]

    async def alerts(self, state: str = "open", limit: int = 100) -> list[Alert]:
        """Alerts by state (`open`: firing first, then acknowledged)."""
        doc = await self._request("GET", f"{API}/alerts", params={"state": state, "limit": limit})
        return [Alert.from_json(a) for a in doc.get("alerts") or ()]

    async def alert(self, alert_id: int) -> Alert:
        """One alert with its timeline."""
        return Alert.from_json(await self._request("GET", f"{API}/alerts/{alert_id}"))

    async def silences(self) -> list[Silence]:
        """Silences in force."""
        doc = await self._request("GET", f"{API}/silences")
        return [Silence.from_json(s) for s in doc.get("silences") or ()]

    # writes

    async def ack(self, alert_id: int, by: str, note: str | None = None) -> Alert:
        """Acknowledge an alert; ApiError 409 when resolved or already acknowledged."""
        body: dict[str, Any] = {"by": by}
        if note:
            body["note"] = note
        return Alert.from_json(
            await self._request("POST", f"{API}/alerts/{alert_id}/ack", json=body)
        )

    async def unack(self, alert_id: int) -> Alert:
        """Undo an acknowledgement (the alert fires again)."""
        return Alert.from_json(
            await self._request("POST", f"{API}/alerts/{alert_id}/unack", json={})
        )

    async def silence(self, status: str | None, minutes: int, by: str, reason: str = "") -> Silence:
        """Mute notifications for a status (None: every status) for `minutes`."""
        body = {"status": status, "minutes": minutes, "by": by, "reason": reason}
        return Silence.from_json(await self._request("POST", f"{API}/silences", json=body))

    async def remove_silence(self, silence_id: int) -> None:
        """Remove a silence in force."""
        await self._request("DELETE", f"{API}/silences/{silence_id}")

    async def test_fire(self, channel: str | None = None) -> list[ChannelResult]:
        """Send a test notification through every channel (or one); one result each."""
        body = {"channel": channel} if channel else {}
        doc = await self._request("POST", f"{API}/alerts/test", json=body)
        return [
            ChannelResult(str(r.get("channel", "?")), str(r.get("result", "")), bool(r.get("ok")))
            for r in doc.get("results") or ()
        ]


def _reason(exc: httpx.TransportError) -> str:
    """A short cause for the header: connection refused, unknown host, connection dropped..."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        if isinstance(seen, ConnectionResetError | BrokenPipeError):
            return "connection dropped"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        return "connection refused" if "refused" in text or "attempts failed" in text else str(exc)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "connection dropped"
    return str(exc) or type(exc).__name__
