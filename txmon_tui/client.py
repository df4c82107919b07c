"""Async HTTP client for the receiver's API (docs/api.md) and its errors; the typed results
it returns are in `models.py`.

`TxmonApi` is the API as typed calls; `TxmonClient` sends them to one receiver, and
`receivers.Receivers` to whichever of several is in use."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from txmon_tui.models import (
    Alert,
    ChannelResult,
    Series,
    Silence,
    Summary,
    Transaction,
)

API = "/api/v1"


# --- errors -----------------------------------------------------------------------------------


class TxmonError(Exception):
    """Anything that went wrong talking to the receiver; `str()` is fit for a toast."""


class Unreachable(TxmonError):
    """The receiver could not be reached or did not answer in time; `sent` is False when the
    request never left (no connection), so trying it elsewhere cannot do it twice."""

    def __init__(self, message: str, reason: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.sent = sent


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


class TxmonApi:
    """The receiver's API as typed calls; `_request` decides which receiver answers."""

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return its JSON answer (the subclasses say where)."""
        raise NotImplementedError

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


class TxmonClient(TxmonApi):
    """The API of one receiver over one pooled `httpx.AsyncClient`."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.where = where(self.url)
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
        except httpx.ConnectTimeout:
            reason = f"no connection within {timeout or self._timeout():g}s"
            raise Unreachable(f"{self.url} gave {reason}", reason, sent=False) from None
        except httpx.TimeoutException as exc:
            reason = f"no answer within {timeout or self._timeout():g}s"
            sent = not isinstance(exc, httpx.PoolTimeout)
            raise Unreachable(f"{self.url} gave {reason}", reason, sent=sent) from None
        except httpx.TransportError as exc:
            reason = _reason(exc)
            sent = not isinstance(exc, httpx.ConnectError)
            raise Unreachable(f"cannot reach {self.url}: {reason}", reason, sent=sent) from None
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


def where(url: str) -> str:
    """A receiver's URL as the screen names it: `host:port` (and a path, if any)."""
    return url.split("://", 1)[-1].rstrip("/")


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
