"""HTTP for the channels: a no-redirect opener, one POST, Retry-After, network outcomes."""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from server.notify.base import Outcome, network_outcome


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP Retry-After header (delta-seconds or HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    from time import time

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a POST must not be replayed elsewhere (or leak a URL)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_opener(url: str | None = None) -> urllib.request.OpenerDirector:
    """A urllib opener that verifies TLS and never redirects.

    It honours the *_proxy variables, except for loopback URLs (local relays and test peers).
    """
    handlers: list[urllib.request.BaseHandler] = [
        _NoRedirect(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
    ]
    host = safe_host(url) if url else None
    if host in ("localhost", "127.0.0.1", "::1"):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def safe_host(url: str) -> str:
    """The host name of a URL, or "" when the URL cannot be parsed."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


HTTPAnswer = tuple[int, bytes, Mapping[str, str]]
MAX_ANSWER_BYTES = 64 * 1024


def http_post(
    opener: urllib.request.OpenerDirector,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    peer: str,
) -> HTTPAnswer | Outcome:
    """POST and return (status, body, headers) for any HTTP answer, or a retry/failed Outcome.

    Error texts name `peer`, never the URL (which may carry a token).
    """
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(MAX_ANSWER_BYTES), response.headers
    except urllib.error.HTTPError as exc:
        try:
            raw = exc.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException):
            raw = b""
        answer = exc.code, raw, exc.headers or {}
        exc.close()
        return answer
    except urllib.error.URLError as exc:
        return network_outcome(exc.reason, peer)
    except (OSError, http.client.HTTPException) as exc:
        return network_outcome(exc, peer)


def answer_snippet(raw: bytes, limit: int = 200) -> str:
    """The start of an HTTP answer body on one line, for error texts."""
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
