"""Email channel over SMTP (STARTTLS, implicit TLS or plain): one message to all recipients.

Named `mail` so it does not shadow the standard library's `email` package.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from server import __version__
from server.config.notify import SECURITY_MODES
from server.notify.base import Message, Outcome, guarded_send, network_outcome


class EmailChannel:
    """Send each message as one multipart/alternative email (text and HTML) to every recipient."""

    min_interval = 0.0

    def __init__(
        self,
        host: str,
        port: int,
        user: str | None,
        password: str | None,
        security: str,
        sender: str,
        recipients: list[str],
        timeout: float = 15.0,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"smtp_security must be one of {', '.join(SECURITY_MODES)}")
        if not recipients:
            raise ValueError("email needs at least one recipient")
        self.name = "email"
        self.host = host
        self.port = port
        self.user = user
        self._password = password
        self.security = security
        self.sender = sender
        self.recipients = list(recipients)
        self.timeout = timeout
        self.tls_context = ssl.create_default_context()

    def __repr__(self) -> str:
        return (
            f"EmailChannel(server={self.host}:{self.port}, security={self.security!r}, "
            f"user={self.user!r}, password={'***' if self._password else None}, "
            f"to={self.recipients!r})"
        )

    def build(self, message: Message) -> EmailMessage:
        """The email for a message: Subject/From/To/Date/Message-ID, text part and HTML part."""
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Date"] = formatdate(usegmt=True)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        mail["Message-ID"] = make_msgid(idstring=_idstring(message.key), domain=domain)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
        mail["X-Mailer"] = f"txmon/{__version__}"
        event = message.payload.get("event")
        if isinstance(event, str):
            mail["X-Txmon-Event"] = event
        alert_id = message.payload.get("alert_id")
        if isinstance(alert_id, int):
            mail["X-Txmon-Alert"] = str(alert_id)
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        return mail

    def send(self, message: Message) -> Outcome:
        """Deliver over SMTP: sent; 4xx replies and network trouble retry; 5xx replies fail."""
        return guarded_send(lambda: self._send(message), [self._password])

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.tls_context
            )
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                client.ehlo()
                client.starttls(context=self.tls_context)
                client.ehlo()
            except BaseException:
                client.close()
                raise
        return client

    def _send(self, message: Message) -> Outcome:
        mail = self.build(message)
        where = f"{self.host}:{self.port}"
        try:
            client = self._connect()
        except smtplib.SMTPNotSupportedError:
            return Outcome.failed(
                f"{where} does not offer STARTTLS: set TXMON_SMTP_SECURITY to 'ssl' "
                f"(usually port 465) or, only on a trusted network, 'none'"
            )
        except ssl.SSLCertVerificationError as exc:
            return Outcome.failed(f"TLS certificate of {where} not trusted: {exc.verify_message}")
        except ssl.SSLError as exc:
            hint = (
                " (is this port plain SMTP? try TXMON_SMTP_SECURITY=starttls on 587)"
                if self.security == "ssl"
                else ""
            )
            return Outcome.failed(f"TLS handshake with {where} failed: {exc.reason or exc}{hint}")
        except smtplib.SMTPResponseException as exc:
            return _reply_outcome(exc.smtp_code, exc.smtp_error, f"{where} refused the session")
        except (smtplib.SMTPException, OSError) as exc:
            outcome = _network_outcome(exc, where)
            if self.port == 465 and self.security != "ssl" and isinstance(exc, TimeoutError):
                hint = " (port 465 usually needs TXMON_SMTP_SECURITY=ssl)"
                outcome = Outcome.retry(f"{outcome.error}{hint}")
            return outcome
        try:
            if self.user is not None:
                client.login(self.user, self._password or "")
            refused = client.send_message(
                mail,
                from_addr=parseaddr(self.sender)[1] or self.sender,
                to_addrs=[parseaddr(r)[1] or r for r in self.recipients],
            )
        except smtplib.SMTPNotSupportedError:
            return Outcome.failed(
                f"{where} does not offer AUTH on this connection: check TXMON_SMTP_SECURITY "
                f"(most servers only allow login after STARTTLS) or unset TXMON_SMTP_USER"
            )
        except smtplib.SMTPRecipientsRefused as exc:
            return _refused_outcome(exc.recipients)
        except smtplib.SMTPResponseException as exc:
            context = "login failed" if exc.smtp_code in (530, 534, 535, 538) else "refused"
            return _reply_outcome(exc.smtp_code, exc.smtp_error, f"{where} {context}")
        except (smtplib.SMTPException, OSError) as exc:
            return _network_outcome(exc, where)
        finally:
            _quit(client)
        if refused:
            # Accepted for some recipients: retrying would send the others a duplicate.
            return Outcome.sent("not delivered to " + _describe_refused(refused))
        return Outcome.sent()


def _idstring(key: str | None) -> str | None:
    if not key:
        return None
    return "txmon." + "".join(c if c.isalnum() or c in "-_." else "-" for c in key)[:64]


def _reply_text(error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return " ".join(text.split())


def _reply_outcome(code: int, error: bytes | str, context: str) -> Outcome:
    text = f"{context}: {code} {_reply_text(error)}"
    if 400 <= code < 500:
        return Outcome.retry(text)
    if code == -1:  # smtplib's "connection unexpectedly closed" and similar
        return Outcome.retry(text)
    return Outcome.failed(text)


def _describe_refused(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({code} {_reply_text(err)})" for addr, (code, err) in refused.items())


def _refused_outcome(refused: dict[str, tuple[int, bytes]]) -> Outcome:
    text = "every recipient refused: " + _describe_refused(refused)
    if refused and all(400 <= code < 500 for code, _ in refused.values()):
        return Outcome.retry(text)
    return Outcome.failed(text)


def _network_outcome(exc: BaseException, where: str) -> Outcome:
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Outcome.retry(f"{where} closed the connection: {exc}")
    if isinstance(exc, OSError | TimeoutError):
        return network_outcome(exc, where)
    return Outcome.retry(f"SMTP error with {where}: {type(exc).__name__}: {exc}")


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
