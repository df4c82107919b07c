"""A local fake of the Telegram Bot API's `sendMessage`, on a free loopback port.

Fixture: in a test module,
`from tests.notify.fake_telegram import fake_telegram_fixture  # noqa: F401`, then take a
`fake_telegram` argument. Or use `with FakeTelegram() as fake:` directly. Then::

    fake.script(["429", "200"])       # answers for the next sendMessage calls, then 200 again
    fake.env("42")                    # TXMON_TELEGRAM_* variables pointing at the fake
    fake.wait_for(1, timeout=5)       # delivered message bodies (answered 200)
    fake.requests                     # every request, with the status it got

Answers: "200"; "429" or "429:<seconds>" (retry_after); "500"/"502"/"503"; "400" (chat not
found); "401"; "403" (bot blocked); "hang" (no answer for `hang_seconds`, then the connection
closes: nothing delivered); "slow" (answers 200 after `hang_seconds`: delivered, but a client
with a shorter timeout does not know); "close" (drops the connection without an answer); or an
`Answer(status, body, delay)` for anything else. Like the real API, the fake checks the token
(401), the chat (400 chat not found, when `chats` is set) and the HTML parse mode (400 can't parse
entities / message is too long) before it consults the script.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

FAKE_TOKEN = "123456:TEST-token"
TEXT_LIMIT = 4096
# Seconds: older than the fixed dates the tests replay (July 2025), so their alerts page.
LIVE_AGE = 10 * 365 * 86_400
ALLOWED_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "a",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "blockquote",
    ]
)
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_MARKUP = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>|&([^;\s&<>]{1,10});")


class ParseError(ValueError):
    """The text is not valid Telegram HTML."""


def parse_telegram_html(text: str) -> str:
    """Check text like the Bot API does for parse_mode HTML; return the visible plain text."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char not in "<&":
            out.append(char)
            pos += 1
            continue
        found = _MARKUP.match(text, pos)
        if found is None:
            what = "tag" if char == "<" else "entity"
            raise ParseError(f"Unexpected {what} start at offset {pos}")
        closing, tag, _attrs, entity = found.groups()
        if entity is not None:
            if entity in _ENTITIES:
                out.append(_ENTITIES[entity])
            elif re.fullmatch(r"#\d+", entity):
                out.append(chr(int(entity[1:])))
            elif re.fullmatch(r"#x[0-9a-fA-F]+", entity):
                out.append(chr(int(entity[2:], 16)))
            else:
                raise ParseError(f'Unsupported HTML entity "&{entity};" at offset {pos}')
        else:
            tag = tag.lower()
            if tag not in ALLOWED_TAGS:
                kind = "end" if closing else "start"
                raise ParseError(f'Unsupported {kind} tag "{tag}" at offset {pos}')
            if closing:
                if not stack or stack[-1] != tag:
                    raise ParseError(f'Unmatched end tag at offset {pos}, expected "</{tag}>"')
                stack.pop()
            else:
                stack.append(tag)
        pos = found.end()
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Answer:
    """One scripted reply: HTTP status, JSON body (None: a default for the status), delay."""

    status: int = 200
    body: dict[str, Any] | bytes | None = None
    delay: float = 0.0
    action: str = "answer"  # or "close": drop the connection without answering


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    token: str | None
    api_method: str | None
    headers: dict[str, str]
    body: dict[str, Any] | None
    status: int | None = None  # what the fake answered (None: no answer)
    at: float = field(default_factory=time.monotonic)


def _error(code: int, description: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if params:
        body["parameters"] = params
    return body


def answer_for(spec: str | int | Answer | tuple[int, Any], hang_seconds: float = 30.0) -> Answer:
    """Turn a script entry into an `Answer`."""
    if isinstance(spec, Answer):
        return spec
    if isinstance(spec, tuple):
        return Answer(int(spec[0]), spec[1])
    text = str(spec)
    if text == "hang":
        return Answer(0, None, hang_seconds, action="close")
    if text == "slow":
        return Answer(200, None, hang_seconds)
    if text == "close":
        return Answer(0, None, 0.0, action="close")
    if text.startswith("429"):
        wait = int(text.split(":", 1)[1]) if ":" in text else 1
        return Answer(429, _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait))
    status = int(text)
    defaults = {
        400: _error(400, "Bad Request: chat not found"),
        401: _error(401, "Unauthorized"),
        403: _error(403, "Forbidden: bot was blocked by the user"),
        404: _error(404, "Not Found"),
        500: _error(500, "Internal Server Error"),
        502: _error(502, "Bad Gateway"),
        503: _error(503, "Service Unavailable"),
    }
    return Answer(status, defaults.get(status))


class FakeTelegram:
    """A threaded HTTP server that speaks enough of the Bot API for sendMessage."""

    def __init__(self, token: str = FAKE_TOKEN, chats: Iterable[str | int] | None = None) -> None:
        self.token = token
        self.chats = None if chats is None else {str(c) for c in chats}
        self.hang_seconds = 30.0
        self.requests: list[Request] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._next_id = 1
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.port = self._server.server_address[1]
        self.api_base = f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ control

    def start(self) -> FakeTelegram:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def script(self, answers: Iterable[str | int | Answer | tuple[int, Any]]) -> None:
        """Queue answers for the next sendMessage calls (after them: 200)."""
        with self._lock:
            self._script.extend(answer_for(a, self.hang_seconds) for a in answers)

    def reset(self) -> None:
        """Forget recorded requests and any remaining script."""
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def env(self, chat_ids: str | int = "42") -> dict[str, str]:
        """TXMON_TELEGRAM_* settings that point a receiver at this fake, and a `history_age`
        that pages for the tests' fixed dates (2025) as if they were live."""
        return {
            "TXMON_TELEGRAM_TOKEN": self.token,
            "TXMON_TELEGRAM_CHAT_ID": str(chat_ids),
            "TXMON_TELEGRAM_API": self.api_base,
            "TXMON_HISTORY_AGE": str(LIVE_AGE),
        }

    # ------------------------------------------------------------------ inspection

    @property
    def sends(self) -> list[Request]:
        """sendMessage requests, whatever they were answered."""
        with self._lock:
            return [r for r in self.requests if r.api_method == "sendMessage"]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """JSON bodies of sendMessage calls answered 200: what a chat would show."""
        with self._lock:
            return [
                r.body
                for r in self.requests
                if r.api_method == "sendMessage" and r.status == 200 and r.body is not None
            ]

    @property
    def texts(self) -> list[str]:
        """The `text` of each delivered message."""
        return [str(m.get("text", "")) for m in self.messages]

    def wait_for(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least n messages were delivered; return them (AssertionError if not)."""
        return self._wait(lambda: len(self.messages) >= n, timeout, f"{n} delivered message(s)")[
            "messages"
        ]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[Request]:
        """Block until at least n sendMessage requests arrived (answered or not)."""
        return self._wait(lambda: len(self.sends) >= n, timeout, f"{n} request(s)")["sends"]

    def _wait(self, done: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"fake Telegram: waited {timeout}s for {what}; got {len(self.sends)} "
                    f"request(s), {len(self.messages)} delivered"
                )
            with self._changed:
                self._changed.wait(min(left, 0.05))
        return {"messages": self.messages, "sends": self.sends}

    # ------------------------------------------------------------------ serving

    def _decide(self, request: Request) -> Answer:
        if request.token != self.token:
            return Answer(401, _error(401, "Unauthorized"))
        if request.api_method != "sendMessage":
            return Answer(404, _error(404, "Not Found"))
        body = request.body
        if not isinstance(body, dict):
            return Answer(400, _error(400, "Bad Request: message text is empty"))
        if "chat_id" not in body:
            return Answer(400, _error(400, "Bad Request: chat_id is empty"))
        if self.chats is not None and str(body["chat_id"]) not in self.chats:
            return Answer(400, _error(400, "Bad Request: chat not found"))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return Answer(400, _error(400, "Bad Request: message text is empty"))
        visible = text
        if body.get("parse_mode") == "HTML":
            try:
                visible = parse_telegram_html(text)
            except ParseError as exc:
                return Answer(400, _error(400, f"Bad Request: can't parse entities: {exc}"))
        if utf16_len(visible) > TEXT_LIMIT:
            return Answer(400, _error(400, "Bad Request: message is too long"))
        with self._lock:
            return self._script.popleft() if self._script else Answer(200)

    def _result(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message_id = self._next_id
            self._next_id += 1
        chat = body.get("chat_id")
        return {
            "ok": True,
            "result": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private" if str(chat)[:1] != "-" else "group"},
                "text": body.get("text"),
            },
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                found = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", self.path.split("?")[0])
                request = Request(
                    self.command,
                    self.path,
                    found.group(1) if found else None,
                    found.group(2) if found else None,
                    dict(self.headers.items()),
                    body if isinstance(body, dict) else None,
                )
                with fake._lock:
                    fake.requests.append(request)
                answer = fake._decide(request)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.action == "close":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    fake._notify()
                    return
                payload = answer.body
                if payload is None:
                    payload = (
                        fake._result(request.body or {})
                        if answer.status == 200
                        else _error(answer.status, f"HTTP {answer.status}")
                    )
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                with fake._lock:
                    request.status = answer.status  # recorded before the client hears back
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                fake._notify()

        return Handler

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()


@pytest.fixture(name="fake_telegram")
def fake_telegram_fixture() -> Iterator[FakeTelegram]:
    """A running FakeTelegram (token FAKE_TOKEN, any chat id)."""
    fake = FakeTelegram().start()
    try:
        yield fake
    finally:
        fake.close()
