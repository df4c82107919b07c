"""Webhook channel against a local HTTP receiver: body, signature and classification."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from server import __version__
from server.notify.base import Outcome
from server.notify.render import render, render_group, render_test
from server.notify.webhook import WebhookChannel, sign, verify
from tests.notify.test_messages import make_event

SECRET = "TEST-webhook-secret"
PATH = "/services/T000/B000/TESTsecretPATH"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A local webhook endpoint that records requests and answers from a script."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: deque[tuple[int, dict[str, str], bytes]] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                status, headers, reply = (
                    receiver.answers.popleft() if receiver.answers else (200, {}, b"ok")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.answers.append((status, {k.replace("_", "-"): v for k, v in headers.items()}, body))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    peer = Receiver()
    try:
        yield peer
    finally:
        peer.close()


def assert_no_secret(outcome: Outcome) -> None:
    text = f"{outcome!r}"
    assert "TESTsecretPATH" not in text
    assert SECRET not in text


def test_posts_the_payload_with_a_text_field_and_a_valid_signature(receiver: Receiver) -> None:
    message = render(make_event())
    outcome = WebhookChannel(receiver.url, SECRET, 5).send(message)
    assert outcome == Outcome("sent", None, None)
    [got] = receiver.received
    assert got.path == PATH
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == f"txmon/{__version__}"
    assert got.headers["X-Txmon-Event"] == "opened"
    body = json.loads(got.body)
    sent_at = body.pop("sent_at")
    assert body == message.payload
    assert body["text"].startswith("[txmon HIGH] denied spike: 54/min vs 6.2 expected\n")
    assert body["alert"]["status"] == "denied" and body["event"] == "opened"
    assert body["test"] is False
    assert got.headers["X-Txmon-Timestamp"] == str(sent_at)
    # what a receiver does: HMAC-SHA256 over the exact body bytes with the shared secret
    expected = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Txmon-Signature"] == f"sha256={expected}"
    assert verify(SECRET, got.body, got.headers["X-Txmon-Signature"])
    assert not verify("other-secret", got.body, got.headers["X-Txmon-Signature"])
    assert not verify(SECRET, got.body + b" ", got.headers["X-Txmon-Signature"])


def test_unsigned_without_a_secret(receiver: Receiver) -> None:
    assert WebhookChannel(receiver.url, None, 5).send(render_test(1_714_564_980)).state == "sent"
    [got] = receiver.received
    assert "X-Txmon-Signature" not in got.headers
    body = json.loads(got.body)
    assert body["test"] is True and body["event"] == "test"
    assert "TEST" in body["text"]


def test_group_payload_lists_events(receiver: Receiver) -> None:
    message = render_group([make_event(id=1), make_event(id=2, status="failed")])
    assert WebhookChannel(receiver.url, SECRET, 5).send(message).state == "sent"
    body = json.loads(receiver.received[0].body)
    assert body["event"] == "grouped"
    assert [e["alert_id"] for e in body["events"]] == [1, 2]


def test_delivery_key_header(receiver: Receiver) -> None:
    base = render_test(1_714_564_980)
    message = type(base)(base.subject, base.text, base.html, base.payload, True, key="17/webhook")
    WebhookChannel(receiver.url, None, 5).send(message)
    assert receiver.received[0].headers["X-Txmon-Delivery"] == "17/webhook"
    assert receiver.received[0].headers["Idempotency-Key"] == "17/webhook"


def test_sign_matches_hmac() -> None:
    body = b'{"a":1}'
    assert sign("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_and_throttling_retry(receiver: Receiver, status: int) -> None:
    receiver.answer(status, b"try later")
    outcome = WebhookChannel(receiver.url, SECRET, 5).send(render(make_event()))
    assert outcome.state == "retry"
    assert f"HTTP {status}" in (outcome.error or "")
    assert_no_secret(outcome)


def test_retry_after_is_honoured(receiver: Receiver) -> None:
    receiver.answer(503, b"", Retry_After="7")
    receiver.answer(429, b"", Retry_After="Thu, 01 Jan 2099 00:00:00 GMT")
    channel = WebhookChannel(receiver.url, None, 5)
    assert channel.send(render(make_event())).retry_after == 7.0
    far = channel.send(render(make_event())).retry_after
    assert far is not None and far > 1e9


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_client_errors_fail(receiver: Receiver, status: int) -> None:
    receiver.answer(status, b"channel_is_archived")
    outcome = WebhookChannel(receiver.url, SECRET, 5).send(render(make_event()))
    assert outcome.state == "failed"
    assert f"HTTP {status}" in (outcome.error or "")
    assert "channel_is_archived" in (outcome.error or "")
    assert "127.0.0.1" in (outcome.error or "")  # the host, never the path
    assert_no_secret(outcome)


def test_body_echoing_the_url_is_redacted(receiver: Receiver) -> None:
    receiver.answer(404, f"no hook at {PATH}".encode())
    outcome = WebhookChannel(receiver.url, SECRET, 5).send(render(make_event()))
    assert outcome.state == "failed"
    assert_no_secret(outcome)


def test_redirects_fail_and_are_not_followed(receiver: Receiver) -> None:
    receiver.answer(301, b"", Location="http://127.0.0.1:1/elsewhere")
    outcome = WebhookChannel(receiver.url, SECRET, 5).send(render(make_event()))
    assert outcome.state == "failed"
    assert len(receiver.received) == 1


def test_connection_refused_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = WebhookChannel(f"http://127.0.0.1:{port}{PATH}", SECRET, 2).send(render(make_event()))
    assert outcome.state == "retry"
    assert "refused" in (outcome.error or "")
    assert_no_secret(outcome)


def test_timeout_retries() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}{PATH}"
        outcome = WebhookChannel(url, None, 0.5).send(render(make_event()))
    assert outcome.state == "retry"
    assert "timed out" in (outcome.error or "")
    assert_no_secret(outcome)


def test_repr_and_bad_url() -> None:
    channel = WebhookChannel("https://hooks.example.com/services/TESTsecretPATH", SECRET)
    assert "TESTsecretPATH" not in repr(channel) and SECRET not in repr(channel)
    assert channel.name == "webhook"
    with pytest.raises(ValueError):
        WebhookChannel("ftp://example.com/x")
