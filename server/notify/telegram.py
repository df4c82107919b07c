"""Telegram Bot API channel: `sendMessage` in HTML parse mode, one channel per chat.

The bot token is part of every request URL, so no URL, exception text or log line from here ever
leaves this module unredacted.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import quote

from server import __version__
from server.notify.base import Message, Outcome, guarded_send
from server.notify.http import answer_snippet, http_opener, http_post, parse_retry_after, safe_host

TELEGRAM_LIMIT = 4096  # characters of message text after entity parsing
SAFE_LIMIT = 4000  # what we send at most, counted on the raw markup in UTF-16 code units
TRUNCATED_MARK = "\n… (truncated)"
_TOKEN_RE = re.compile(r"<(/?)([a-z][a-z0-9-]*)[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_HINTS = {
    401: "check TXMON_TELEGRAM_TOKEN",
    404: "check TXMON_TELEGRAM_TOKEN and TXMON_TELEGRAM_API",
}


def escape(text: str) -> str:
    """Escape a dynamic value for Telegram HTML: `&`, `<` and `>` only."""
    return html.escape(text, quote=False)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts in."""
    return len(text.encode("utf-16-le")) // 2


def truncate_html(markup: str, limit: int = SAFE_LIMIT, mark: str = TRUNCATED_MARK) -> str:
    """Cut well-formed Telegram HTML to at most `limit` UTF-16 units, closing open tags.

    Never cuts inside a tag or an entity; appends `mark` (escaped) when anything was dropped.
    """
    if utf16_len(markup) <= limit:
        return markup
    mark = escape(mark)
    budget = limit - utf16_len(mark)
    stack: list[str] = []
    out: list[str] = []
    used = 0
    pos = 0
    while pos < len(markup):
        found = _TOKEN_RE.match(markup, pos)
        token = found.group(0) if found else markup[pos]
        after = stack
        if found and found.group(2):
            tag = found.group(2)
            if not found.group(1):
                after = [*stack, tag]
            elif stack and stack[-1] == tag:
                after = stack[:-1]
        size = utf16_len(token)
        if used + size + sum(len(t) + 3 for t in after) > budget:
            break
        out.append(token)
        used += size
        stack = after
        pos += len(token)
    out.extend(f"</{t}>" for t in reversed(stack))
    out.append(mark)
    return "".join(out)


def format_message(message: Message) -> str:
    """The Telegram text: bold subject, then the plain text, every value escaped, cut to fit."""
    markup = f"<b>{escape(message.subject)}</b>\n\n{escape(message.text)}"
    return truncate_html(markup)


class TelegramChannel:
    """Send to one Telegram chat through the Bot API."""

    def __init__(
        self,
        token: str,
        chat_id: str | int,
        api_base: str = "https://api.telegram.org",
        timeout: float = 10.0,
    ) -> None:
        self._token = token
        self.chat_id = str(chat_id)
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.name = f"telegram:{self.chat_id}"
        # About one message a second per chat; groups and channels allow 20 a minute.
        self.min_interval = 3.0 if self._group else 1.0
        self._opener = http_opener(self.api_base)

    @property
    def _group(self) -> bool:
        return self.chat_id.startswith(("-", "@"))

    def __repr__(self) -> str:
        host = safe_host(self.api_base)
        return f"TelegramChannel(chat_id={self.chat_id!r}, api={host!r}, token='***')"

    def request_body(self, message: Message) -> dict[str, Any]:
        """The JSON body of the `sendMessage` call for this message."""
        chat: int | str = int(self.chat_id) if self.chat_id.lstrip("-").isdigit() else self.chat_id
        return {
            "chat_id": chat,
            "text": format_message(message),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }

    def send(self, message: Message) -> Outcome:
        """POST sendMessage and classify: 200 sent; 429, 5xx, network retry; other 4xx failed."""
        secrets = [self._token, quote(self._token, safe=""), quote(self._token)]
        return guarded_send(lambda: self._send(message), secrets, "<token>")

    def _send(self, message: Message) -> Outcome:
        url = f"{self.api_base}/bot{self._token}/sendMessage"
        body = json.dumps(self.request_body(message), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"txmon/{__version__}",
        }
        peer = f"the Telegram API ({safe_host(self.api_base)})"
        answer = http_post(self._opener, url, body, headers, self.timeout, peer)
        if isinstance(answer, Outcome):
            return answer
        return self._classify(*answer)

    def _classify(self, status: int, raw: bytes, headers: Any) -> Outcome:
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        description = str(answer.get("description") or "").strip()
        params = answer.get("parameters") if isinstance(answer.get("parameters"), dict) else {}
        if status == 200:
            if answer.get("ok") is True:
                return Outcome.sent()
            why = description or "the answer is not a Bot API reply (check TXMON_TELEGRAM_API)"
            return Outcome.failed(f"HTTP 200 but not ok: {why}")
        text = description or f"HTTP {status}" + (f" {answer_snippet(raw)}" if raw else "")
        if status == 429:
            wait = params.get("retry_after")
            retry_after = (
                float(wait)
                if isinstance(wait, int | float) and not isinstance(wait, bool)
                else parse_retry_after(headers.get("Retry-After") if headers else None)
            )
            return Outcome.retry(text, retry_after)
        if status >= 500 or status == 408:
            retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
            return Outcome.retry(text, retry_after)
        if 300 <= status < 400:
            return Outcome.failed(f"HTTP {status}: unexpected redirect (check TXMON_TELEGRAM_API)")
        hint = _HINTS.get(status)
        if "chat not found" in description:
            hint = "check TXMON_TELEGRAM_CHAT_ID, and send the bot a message first"
        new_chat = params.get("migrate_to_chat_id")
        if new_chat is not None:
            hint = f"the group is now chat {new_chat}: update TXMON_TELEGRAM_CHAT_ID"
        if not description:
            text = f"HTTP {status}"
        return Outcome.failed(f"{text} ({hint})" if hint else text)
