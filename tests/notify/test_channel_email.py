"""Email channel against a real aiosmtpd server on a free loopback port."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from server.notify.base import Message, Outcome
from server.notify.render import render, render_test
from server.notify.smtp import EmailChannel
from tests.conftest import free_port
from tests.notify.test_messages import make_event

SENDER = "txmon@example.com"
RECIPIENTS = ["oncall@example.com", "Team Lead <lead@example.org>"]
PASSWORD = "hunter2-TEST-password"


class Recorder:
    """aiosmtpd handler that keeps what it receives and answers as told."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.sessions: list[Session] = []
        self.rcpt_reply: Callable[[str], str | None] = lambda address: None
        self.data_reply = "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            self.envelopes.append(envelope)
            self.sessions.append(session)
        return self.data_reply

    def parsed(self, index: int = 0) -> EmailMessage:
        content = self.envelopes[index].original_content or b""
        return message_from_bytes(content, policy=policy.default)  # type: ignore[return-value]


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def mail_channel(port: int, **kwargs: Any) -> EmailChannel:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "user": None,
        "password": None,
        "security": "none",
        "sender": SENDER,
        "recipients": RECIPIENTS,
        "timeout": 5.0,
    }
    settings.update(kwargs)
    return EmailChannel(**settings)


def test_delivers_one_multipart_message_to_every_recipient(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    message = render(make_event(ack_note=None))
    outcome = mail_channel(port).send(message)
    assert outcome == Outcome("sent", None, None)
    [envelope] = recorder.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.org"]
    mail = recorder.parsed()
    assert mail["Subject"] == "[txmon HIGH] denied spike: 54/min vs 6.2 expected"
    assert mail["From"] == SENDER
    assert mail["To"] == "oncall@example.com, Team Lead <lead@example.org>"
    assert mail["Date"] and mail["Date"].datetime.utcoffset().total_seconds() == 0
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith("@example.com>")
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Txmon-Alert"] == "12"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",))
    rich = mail.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content_type() == "text/plain"
    assert rich.get_content_type() == "text/html"
    assert plain.get_content().replace("\r\n", "\n").strip() == message.text.strip()
    assert "New alert #12" in rich.get_content()


def test_delivery_key_makes_a_stable_message_id(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    base = render_test(1_714_564_980)
    keyed = Message(base.subject, base.text, base.html, base.payload, base.test, key="42/email")
    assert mail_channel(port).send(keyed).state == "sent"
    assert "txmon.42-email" in recorder.parsed()["Message-ID"]
    assert recorder.parsed()["Subject"].startswith("[txmon TEST]")


def test_non_ascii_and_hostile_values_survive(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    event = make_event(
        "acknowledged",
        state="acknowledged",
        acknowledged_by="José <j@x>",
        acknowledged_at=1_714_565_000,
        ack_note="ça <script>alert(1)</script>",
    )
    message = render(event)
    assert mail_channel(port).send(message).state == "sent"
    mail = recorder.parsed()
    assert mail["Subject"] == message.subject
    assert "José" in mail["Subject"]
    rich = mail.get_body(("html",))
    assert rich is not None
    assert "<script>" not in rich.get_content()
    assert "ça &lt;script&gt;" in rich.get_content()


def test_550_for_every_recipient_fails_with_the_reply_text(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    recorder.rcpt_reply = lambda address: "550 5.1.1 Mailbox unavailable"
    outcome = mail_channel(port).send(render(make_event()))
    assert outcome.state == "failed"
    assert "550" in (outcome.error or "")
    assert "Mailbox unavailable" in (outcome.error or "")
    assert recorder.envelopes == []


def test_550_at_data_fails(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    recorder.data_reply = "554 5.7.1 Message rejected as spam"
    outcome = mail_channel(port).send(render(make_event()))
    assert outcome.state == "failed"
    assert "554 5.7.1 Message rejected as spam" in (outcome.error or "")


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_4xx_replies_retry(smtp: tuple[Recorder, int], where: str) -> None:
    recorder, port = smtp
    if where == "rcpt":
        recorder.rcpt_reply = lambda address: "451 4.7.1 Greylisted, try again later"
    else:
        recorder.data_reply = "452 4.3.1 Insufficient system storage"
    outcome = mail_channel(port).send(render(make_event()))
    assert outcome.state == "retry"
    assert "45" in (outcome.error or "")


def test_one_recipient_refused_is_sent_with_a_note(smtp: tuple[Recorder, int]) -> None:
    recorder, port = smtp
    recorder.rcpt_reply = lambda a: "550 no such user" if a == "lead@example.org" else None
    outcome = mail_channel(port).send(render(make_event()))
    assert outcome.state == "sent"  # a retry would send the others a duplicate
    assert "lead@example.org" in (outcome.error or "")
    assert recorder.envelopes[0].rcpt_tos == ["oncall@example.com"]


def test_login_when_a_user_is_set(smtp_auth: tuple[Recorder, int]) -> None:
    recorder, port = smtp_auth
    channel = mail_channel(port, user="txmon", password=PASSWORD)
    assert channel.send(render(make_event())).state == "sent"
    assert recorder.sessions[0].authenticated
    assert PASSWORD not in repr(channel)


def test_no_login_without_a_user(smtp_auth: tuple[Recorder, int]) -> None:
    recorder, port = smtp_auth
    assert mail_channel(port).send(render(make_event())).state == "sent"
    assert not recorder.sessions[0].authenticated


def test_bad_password_fails_without_echoing_it(smtp_auth: tuple[Recorder, int]) -> None:
    _recorder, port = smtp_auth
    outcome = mail_channel(port, user="txmon", password="wrong-" + PASSWORD).send(
        render(make_event())
    )
    assert outcome.state == "failed"
    assert "535" in (outcome.error or "")
    assert "login failed" in (outcome.error or "")
    assert PASSWORD not in (outcome.error or "")


def test_login_on_a_server_without_auth_is_a_clear_failure(smtp: tuple[Recorder, int]) -> None:
    _recorder, port = smtp
    outcome = mail_channel(port, user="txmon", password=PASSWORD).send(render(make_event()))
    assert outcome.state == "failed"
    assert "AUTH" in (outcome.error or "")
    assert PASSWORD not in (outcome.error or "")


def test_starttls_on_a_server_without_it_is_a_clear_failure(smtp: tuple[Recorder, int]) -> None:
    _recorder, port = smtp
    outcome = mail_channel(port, security="starttls").send(render(make_event()))
    assert outcome.state == "failed"
    assert "STARTTLS" in (outcome.error or "")
    assert "TXMON_SMTP_SECURITY" in (outcome.error or "")


def test_ssl_on_a_plain_port_is_a_clear_failure(smtp: tuple[Recorder, int]) -> None:
    _recorder, port = smtp
    outcome = mail_channel(port, security="ssl", timeout=3.0).send(render(make_event()))
    assert outcome.state == "failed"
    assert "TLS" in (outcome.error or "")


def test_connection_refused_retries() -> None:
    outcome = mail_channel(free_port()).send(render(make_event()))
    assert outcome.state == "retry"
    assert "refused" in (outcome.error or "")


def test_a_server_that_never_greets_times_out_and_retries() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts; nobody ever says 220
        port = silent.getsockname()[1]
        started = time.monotonic()
        outcome = mail_channel(port, timeout=0.5).send(render(make_event()))
    assert time.monotonic() - started < 3
    assert outcome.state == "retry"
    assert "timed out" in (outcome.error or "")


def test_unknown_host_retries() -> None:
    outcome = mail_channel(25, host="smtp.invalid", timeout=2).send(render(make_event()))
    assert outcome.state == "retry"


def test_bad_settings_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="smtp_security"):
        mail_channel(25, security="tls")
    with pytest.raises(ValueError, match="recipient"):
        mail_channel(25, recipients=[])
