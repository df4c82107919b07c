"""Telegram channel against a local fake Bot API: exact requests, escaping, cuts, classification."""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.notify.base import Message, Outcome
from server.notify.render import render, render_test
from server.notify.telegram import (
    SAFE_LIMIT,
    TELEGRAM_LIMIT,
    TelegramChannel,
    format_message,
    truncate_html,
    utf16_len,
)
from tests.notify.fake_telegram import (
    FAKE_TOKEN,
    LIVE_AGE,
    Answer,
    FakeTelegram,
    fake_telegram_fixture,  # noqa: F401 (provides the fake_telegram fixture)
    parse_telegram_html,
)
from tests.notify.test_messages import make_event


def msg(subject: str = "[txmon HIGH] denied spike", text: str = "body") -> Message:
    return Message(subject=subject, text=text, html="<p>x</p>", payload={})


def channel(fake: FakeTelegram, chat: str = "42", timeout: float = 5.0) -> TelegramChannel:
    return TelegramChannel(FAKE_TOKEN, chat, fake.api_base, timeout)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_no_token(outcome: Outcome) -> None:
    text = f"{outcome!r} {outcome.error}"
    assert FAKE_TOKEN not in text
    assert "TEST-token" not in text


def test_exact_request(fake_telegram: FakeTelegram) -> None:
    outcome = channel(fake_telegram).send(msg("[txmon HIGH] denied spike", "line 1\nline 2"))
    assert outcome == Outcome("sent", None, None)
    [request] = fake_telegram.sends
    assert request.method == "POST"
    assert request.path == f"/bot{FAKE_TOKEN}/sendMessage"
    assert request.token == FAKE_TOKEN
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers["User-Agent"].startswith("txmon/")
    assert request.body == {
        "chat_id": 42,
        "text": "<b>[txmon HIGH] denied spike</b>\n\nline 1\nline 2",
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    assert fake_telegram.messages == [request.body]


def test_one_channel_per_chat_with_names_and_pacing(fake_telegram: FakeTelegram) -> None:
    private, group, named = (channel(fake_telegram, c) for c in ("42", "-1001234", "@ops_alerts"))
    assert (private.name, group.name, named.name) == (
        "telegram:42",
        "telegram:-1001234",
        "telegram:@ops_alerts",
    )
    assert private.min_interval == 1.0
    assert group.min_interval == named.min_interval == 3.0  # groups: 20 messages a minute
    for ch in (private, group, named):
        assert ch.send(msg()).state == "sent"
    assert [m["chat_id"] for m in fake_telegram.messages] == [42, -1001234, "@ops_alerts"]


def test_dynamic_values_are_escaped(fake_telegram: FakeTelegram) -> None:
    message = msg("[txmon HIGH] <script>&", "note: <b>bold</b> & 1 < 2 > 0 &amp;")
    assert channel(fake_telegram).send(message).state == "sent"  # the fake parsed it
    text = fake_telegram.messages[0]["text"]
    assert text == (
        "<b>[txmon HIGH] &lt;script&gt;&amp;</b>\n\n"
        "note: &lt;b&gt;bold&lt;/b&gt; &amp; 1 &lt; 2 &gt; 0 &amp;amp;"
    )
    assert parse_telegram_html(text).endswith("note: <b>bold</b> & 1 < 2 > 0 &amp;")


def test_a_rendered_alert_with_hostile_note_is_accepted(fake_telegram: FakeTelegram) -> None:
    event = make_event(
        "acknowledged",
        state="acknowledged",
        acknowledged_by="<i>eve</i>",
        acknowledged_at=1_714_565_000,
        ack_note="</b><script>alert(1)</script>&nbsp",
    )
    assert channel(fake_telegram).send(render(event)).state == "sent"
    assert "<script>" not in fake_telegram.messages[0]["text"]
    assert "</b><script>" in parse_telegram_html(fake_telegram.messages[0]["text"])


def test_long_messages_are_cut_below_the_limit(fake_telegram: FakeTelegram) -> None:
    body = "".join(f"row {i}: a<b & c>d 🚨\n" for i in range(2000))
    assert channel(fake_telegram).send(msg(text=body)).state == "sent"
    text = fake_telegram.messages[0]["text"]
    assert utf16_len(text) <= SAFE_LIMIT < TELEGRAM_LIMIT
    assert text.endswith("… (truncated)")
    visible = parse_telegram_html(text)  # balanced tags, whole entities
    assert visible.startswith("[txmon HIGH] denied spike\n\nrow 0: a<b & c>d 🚨\nrow 1")


def test_cut_inside_the_bold_subject_closes_the_tag() -> None:
    markup = "<b>" + "x&amp;" * 2000 + "</b>\n\nrest"
    cut = truncate_html(markup, limit=100)
    assert utf16_len(cut) <= 100
    assert cut.startswith("<b>x&amp;")
    assert "</b>" in cut and cut.index("</b>") < cut.index("…")
    parse_telegram_html(cut)
    assert truncate_html("<b>short</b>", limit=100) == "<b>short</b>"


@settings(max_examples=200, deadline=None)
@given(
    subject=st.text(max_size=300),
    text=st.text(alphabet=st.characters(codec="utf-8"), max_size=6000),
    limit=st.integers(min_value=40, max_value=SAFE_LIMIT),
)
def test_cut_is_always_valid_telegram_html(subject: str, text: str, limit: int) -> None:
    markup = format_message(msg(subject, text))
    assert utf16_len(markup) <= SAFE_LIMIT
    parse_telegram_html(markup)
    cut = truncate_html(markup, limit=limit)
    assert utf16_len(cut) <= limit
    parse_telegram_html(cut)


def test_429_is_retried_after_what_telegram_asked(fake_telegram: FakeTelegram) -> None:
    fake_telegram.script(["429", "429:7"])
    ch = channel(fake_telegram)
    first, second, third = ch.send(msg()), ch.send(msg()), ch.send(msg())
    assert first == Outcome("retry", "Too Many Requests: retry after 1", 1.0)
    assert second.state == "retry" and second.retry_after == 7.0
    assert third.state == "sent"
    assert len(fake_telegram.sends) == 3 and len(fake_telegram.messages) == 1


@pytest.mark.parametrize("answer", ["500", "502", "503"])
def test_server_errors_retry(fake_telegram: FakeTelegram, answer: str) -> None:
    fake_telegram.script([answer])
    outcome = channel(fake_telegram).send(msg())
    assert outcome.state == "retry"
    assert outcome.retry_after is None
    assert_no_token(outcome)


def test_500_with_retry_after_header_and_an_html_body(fake_telegram: FakeTelegram) -> None:
    fake_telegram.script([Answer(502, b"<html>bad gateway for /bot" + FAKE_TOKEN.encode())])
    outcome = channel(fake_telegram).send(msg())
    assert outcome.state == "retry"
    assert "HTTP 502" in (outcome.error or "")
    assert_no_token(outcome)  # an echoed URL is redacted


@pytest.mark.parametrize(
    ("answer", "description"),
    [
        ("403", "Forbidden: bot was blocked by the user"),
        ("400", "Bad Request: chat not found"),
        ("401", "Unauthorized"),
    ],
)
def test_client_errors_fail_with_telegrams_description(
    fake_telegram: FakeTelegram, answer: str, description: str
) -> None:
    fake_telegram.script([answer])
    outcome = channel(fake_telegram).send(msg())
    assert outcome.state == "failed"
    assert outcome.error is not None and outcome.error.startswith(description)
    assert outcome.retry_after is None
    assert_no_token(outcome)


def test_wrong_token_and_unknown_chat_as_the_real_api_answers() -> None:
    with FakeTelegram(chats=[42]) as fake:
        bad_token = TelegramChannel("999:WRONG-token", "42", fake.api_base, 5).send(msg())
        assert bad_token.state == "failed"
        assert bad_token.error == "Unauthorized (check TXMON_TELEGRAM_TOKEN)"
        assert "WRONG" not in bad_token.error
        unknown = channel(fake, "43").send(msg())
        assert unknown.state == "failed"
        assert "chat not found" in (unknown.error or "")
        assert "TXMON_TELEGRAM_CHAT_ID" in (unknown.error or "")
        assert fake.messages == []


def test_group_upgraded_to_supergroup_says_the_new_id(fake_telegram: FakeTelegram) -> None:
    body = {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": -1009876543210},
    }
    fake_telegram.script([Answer(400, body)])
    outcome = channel(fake_telegram, "-12345").send(msg())
    assert outcome.state == "failed"
    assert "-1009876543210" in (outcome.error or "")


def test_a_200_that_is_not_the_bot_api_fails(fake_telegram: FakeTelegram) -> None:
    fake_telegram.script([Answer(200, b"<html>captive portal</html>")])
    outcome = channel(fake_telegram).send(msg())
    assert outcome.state == "failed"
    assert "TXMON_TELEGRAM_API" in (outcome.error or "")


def test_connection_refused_retries() -> None:
    port = unused_port()
    outcome = TelegramChannel(FAKE_TOKEN, "42", f"http://127.0.0.1:{port}", 2).send(msg())
    assert outcome.state == "retry"
    assert "refused" in (outcome.error or "")
    assert_no_token(outcome)


def test_timeout_retries(fake_telegram: FakeTelegram) -> None:
    fake_telegram.hang_seconds = 2.0
    fake_telegram.script(["hang"])
    started = time.monotonic()
    outcome = channel(fake_telegram, timeout=0.3).send(msg())
    assert time.monotonic() - started < 1.5
    assert outcome.state == "retry"
    assert "timed out" in (outcome.error or "")
    assert_no_token(outcome)


def test_dropped_connection_retries(fake_telegram: FakeTelegram) -> None:
    fake_telegram.script(["close"])
    outcome = channel(fake_telegram).send(msg())
    assert outcome.state == "retry"
    assert_no_token(outcome)


def test_redirects_are_not_followed() -> None:
    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        outcome = TelegramChannel(FAKE_TOKEN, "42", base, 2).send(msg())
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.state == "failed"
    assert "redirect" in (outcome.error or "")
    assert_no_token(outcome)


@pytest.mark.parametrize("base", ["nonsense", "ftp://127.0.0.1:1", "http://[::1"])
def test_broken_api_base_never_raises_nor_leaks_the_token(base: str) -> None:
    outcome = TelegramChannel(FAKE_TOKEN, "42", base, 1).send(msg())
    assert outcome.state in ("retry", "failed")
    assert_no_token(outcome)


def test_repr_hides_the_token(fake_telegram: FakeTelegram) -> None:
    assert FAKE_TOKEN not in repr(channel(fake_telegram))
    assert "TEST-token" not in str(channel(fake_telegram))


def test_test_message_reaches_the_chat(fake_telegram: FakeTelegram) -> None:
    assert channel(fake_telegram).send(render_test(1_714_564_980)).state == "sent"
    text = fake_telegram.wait_for(1)[0]["text"]
    assert text.startswith("<b>[txmon TEST]")
    assert json.dumps(fake_telegram.messages)


def test_fake_helpers(fake_telegram: FakeTelegram) -> None:
    env = fake_telegram.env("42,-100")
    assert env == {
        "TXMON_TELEGRAM_TOKEN": FAKE_TOKEN,
        "TXMON_TELEGRAM_CHAT_ID": "42,-100",
        "TXMON_TELEGRAM_API": fake_telegram.api_base,
        "TXMON_HISTORY_AGE": str(LIVE_AGE),
    }
    with pytest.raises(AssertionError, match="waited"):
        fake_telegram.wait_for(1, timeout=0.1)
    fake_telegram.script(["500"])
    channel(fake_telegram).send(msg())
    assert fake_telegram.wait_for_requests(1)[0].status == 500
    fake_telegram.reset()
    assert fake_telegram.requests == []
