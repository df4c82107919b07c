"""The `[notify]` settings: every channel's and the delivery policy's, validated together.

Each channel is built from its own part of them (`NotifyConfig.telegram`, `.smtp`, `.webhook`)
by `server.notify.build`; the channels themselves never read the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from server.config.values import coerce

SECURITY_MODES = ("starttls", "ssl", "none")
NOTIFY_LEVELS = ("low", "medium", "high")
DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
# Beyond these a typo (seconds for milliseconds, an extra zero) would hold pages back for hours
# or keep a dead channel busy forever; each is far above any sensible value.
UPPER_BOUNDS: dict[str, float] = {
    "group_wait": 600,
    "backoff_base": 3600,
    "backoff_max": 3600,
    "telegram_timeout": 300,
    "smtp_timeout": 300,
    "webhook_timeout": 300,
    "max_attempts": 1000,
}


def _setting(kind: str, default: Any, meaning: str) -> Any:
    """A `[notify]` field: its default, kind and meaning, declared once; its TOML key is the
    field name and its variable `TXMON_` + the name in capitals."""
    return field(default=default, metadata={"kind": kind, "meaning": meaning})


@dataclass(frozen=True)
class _Spec:
    """One `[notify]` setting as loading and the docs see it (derived from the fields)."""

    key: str
    kind: str
    default: Any
    meaning: str

    @property
    def env(self) -> str:
        return "TXMON_" + self.key.upper()

    @property
    def secret(self) -> bool:
        return self.kind == "secret"


_CHAT_ID = re.compile(r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")
_TOKEN = re.compile(r"[A-Za-z0-9:_\-]+")


@dataclass(frozen=True)
class NotifyConfig:
    """Every notification setting; build it with `NotifyConfig.load(table, env)`."""

    telegram_token: str | None = _setting(
        "secret", None, "Telegram bot token from @BotFather (secret)."
    )
    telegram_chat_id: tuple[str, ...] = _setting(
        "list",
        (),
        "Telegram chat id(s), comma separated; group ids are negative, channels may be @name.",
    )
    telegram_api: str = _setting("url", "https://api.telegram.org", "Telegram Bot API base URL.")
    telegram_timeout: float = _setting("float", 10.0, "Seconds to wait for the Telegram API.")
    smtp_host: str | None = _setting("str", None, "SMTP server host name; email is off when unset.")
    smtp_port: int | None = _setting(
        "int", None, "SMTP port; default 587 (starttls), 465 (ssl) or 25 (none)."
    )
    smtp_user: str | None = _setting("str", None, "SMTP login user; no login when unset.")
    smtp_password: str | None = _setting("secret", None, "SMTP login password (secret).")
    smtp_security: str = _setting(
        "choice", "starttls", "Connection security: starttls, ssl or none."
    )
    smtp_timeout: float = _setting("float", 15.0, "Seconds to wait for the SMTP server.")
    email_from: str | None = _setting("str", None, "Sender address, e.g. txmon@example.com.")
    email_to: tuple[str, ...] = _setting(
        "list", (), "Recipient addresses, comma separated (one message to all)."
    )
    webhook_url: str | None = _setting(
        "url", None, "URL that receives a JSON POST per notification."
    )
    webhook_secret: str | None = _setting(
        "secret",
        None,
        "Signs webhook bodies: X-Txmon-Signature: sha256=HMAC-SHA256(secret, body) (secret).",
    )
    webhook_timeout: float = _setting("float", 10.0, "Seconds to wait for the webhook receiver.")
    repeat_interval: float = _setting(
        "float", 3600.0, "Seconds between reminders of an unacked alert."
    )
    group_wait: float = _setting(
        "float", 30.0, "Alerts opening within this many seconds go out as one."
    )
    history_age: float = _setting(
        "float",
        3600.0,
        "Alerts whose last abnormal minute is this many seconds behind the clock are history:"
        " recorded, not sent (an import of old data pages nobody).",
    )
    max_attempts: int = _setting(
        "int",
        30,
        "Delivery attempts per message and channel before failing (30: about 1.5 h of retries).",
    )
    backoff_base: float = _setting(
        "float", 2.0, "First retry delay in seconds (doubles, with jitter)."
    )
    backoff_max: float = _setting("float", 300.0, "Longest retry delay in seconds.")
    degraded_interval: float = _setting(
        "float",
        900.0,
        "Seconds between a receiver's direct 'database unreachable' warnings.",
    )
    notify_severities: tuple[str, ...] = _setting(
        "list", ("high",), "Alert severities that notify, comma separated (low, medium, high)."
    )
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, table: Mapping[str, object], env: Mapping[str, str]) -> NotifyConfig:
        """Resolve from the `[notify]` TOML table and `TXMON_*` env (env wins); ValueError if bad.

        An empty environment variable counts as unset and overrides the table.
        """
        if not isinstance(table, Mapping):
            raise ValueError("[notify] must be a table")
        unknown = sorted(str(k) for k in table if k not in _SPEC_BY_KEY)
        if unknown:
            raise ValueError(
                f"unknown key(s) in [notify]: {', '.join(unknown)} "
                f"(known: {', '.join(s.key for s in _SPECS)})"
            )
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for spec in _SPECS:
            if spec.env in env:
                raw: object = env[spec.env]
                origin = f"environment {spec.env}"
                if isinstance(raw, str) and not raw.strip():
                    sources[spec.key] = origin
                    continue  # empty means unset (the default applies)
            elif spec.key in table:
                raw = table[spec.key]
                origin = f"[notify] {spec.key}"
            else:
                continue
            values[spec.key] = _coerce(spec, raw, origin)
            sources[spec.key] = origin
        config = cls(**values, sources=sources)
        config.validate()
        return config

    def validate(self) -> None:
        """Check ranges and that every channel whose settings are started is complete."""
        problems = self.problems()
        if problems:
            raise ValueError("notification settings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Human-readable reasons this configuration cannot be used (empty when fine)."""
        out: list[str] = []
        if self.telegram_token and not _TOKEN.fullmatch(self.telegram_token):
            out.append("telegram_token has a bad format (expected <digits>:<letters>)")
        for chat in self.telegram_chat_id:
            if not _CHAT_ID.fullmatch(chat):
                out.append(f"telegram_chat_id {chat!r} is not a number or @channelname")
        if len(set(self.telegram_chat_id)) != len(self.telegram_chat_id):
            out.append("telegram_chat_id lists the same chat twice")
        if self.telegram_token and not self.telegram_chat_id:
            out.append(
                "telegram_token is set but telegram_chat_id is missing "
                "(TXMON_TELEGRAM_CHAT_ID; see docs/alerts.md to find it)"
            )
        if self.telegram_chat_id and not self.telegram_token:
            out.append(
                "telegram_chat_id is set but telegram_token is missing (TXMON_TELEGRAM_TOKEN)"
            )
        if self.smtp_security not in SECURITY_MODES:
            out.append(f"smtp_security must be one of {', '.join(SECURITY_MODES)}")
        if self.smtp_port is not None and not 1 <= self.smtp_port <= 65535:
            out.append("smtp_port must be 1-65535")
        email_keys = {
            "smtp_host": self.smtp_host,
            "email_from": self.email_from,
            "email_to": self.email_to,
        }
        given = [k for k, v in email_keys.items() if v]
        if given and len(given) < len(email_keys):
            missing = [k for k in email_keys if k not in given]
            out.append(
                f"email is half configured: {', '.join(given)} set but "
                f"{', '.join(missing)} missing ({', '.join('TXMON_' + m.upper() for m in missing)})"
            )
        if (self.smtp_user is None) != (self.smtp_password is None):
            have, lack = (
                ("smtp_user", "smtp_password") if self.smtp_user else ("smtp_password", "smtp_user")
            )
            out.append(f"{have} is set but {lack} is missing")
        for addr in (self.email_from, *self.email_to):
            if addr and not _looks_like_address(addr):
                out.append(f"{addr!r} is not an email address")
        if self.webhook_secret and not self.webhook_url:
            out.append("webhook_secret is set but webhook_url is missing (TXMON_WEBHOOK_URL)")
        for key in ("telegram_timeout", "smtp_timeout", "webhook_timeout", "backoff_base"):
            if getattr(self, key) <= 0:
                out.append(f"{key} must be positive")
        for key in ("repeat_interval", "group_wait"):
            if getattr(self, key) < 0:
                out.append(f"{key} must not be negative")
        for key, most in UPPER_BOUNDS.items():
            if getattr(self, key) > most:
                out.append(f"{key} must be at most {most:g}")
        if self.history_age < 60:
            out.append("history_age must be at least 60 (a minute of event time)")
        if self.max_attempts < 1:
            out.append("max_attempts must be at least 1")
        if self.backoff_max < self.backoff_base:
            out.append("backoff_max must be at least backoff_base")
        for level in self.notify_severities:
            if level not in NOTIFY_LEVELS:
                out.append(f"notify_severities: {level!r} is not one of {', '.join(NOTIFY_LEVELS)}")
        return out

    # ------------------------------------------------------------------ views

    @property
    def effective_smtp_port(self) -> int:
        """The SMTP port, defaulting by security mode."""
        return self.smtp_port or DEFAULT_SMTP_PORTS.get(self.smtp_security, 25)

    @property
    def any_channel(self) -> bool:
        """Whether at least one channel is configured."""
        return bool(self.telegram_token or self.smtp_host or self.webhook_url)

    def describe(self) -> list[dict[str, Any]]:
        """Configured channels with non-secret details, for the API and the dashboard."""
        out: list[dict[str, Any]] = []
        if self.telegram_token:
            api_host = _url_origin(self.telegram_api).split("://", 1)[1]
            for chat in self.telegram_chat_id:
                item: dict[str, Any] = {"name": f"telegram:{chat}", "type": "telegram"}
                item["chat_id"] = chat
                item["api"] = api_host
                out.append(item)
        if self.smtp_host and self.email_from and self.email_to:
            out.append(
                {
                    "name": "email",
                    "type": "email",
                    "server": f"{self.smtp_host}:{self.effective_smtp_port}",
                    "security": self.smtp_security,
                    "login": self.smtp_user is not None,
                    "from": self.email_from,
                    "to": list(self.email_to),
                }
            )
        if self.webhook_url:
            out.append(
                {
                    "name": "webhook",
                    "type": "webhook",
                    "host": urlsplit(self.webhook_url).hostname or "",
                    "signed": bool(self.webhook_secret),
                }
            )
        return out

    @staticmethod
    def settings_doc() -> list[tuple[str, str, str, str]]:
        """(TOML key under [notify], env var, default as text, meaning) for every setting."""
        rows = []
        for spec in _SPECS:
            default = spec.default
            if default is None or default == ():
                shown = "unset"
            elif isinstance(default, tuple):
                shown = ",".join(default)
            elif isinstance(default, float) and default.is_integer():
                shown = str(int(default))
            else:
                shown = str(default)
            rows.append((spec.key, spec.env, shown, spec.meaning))
        return rows

    def __repr__(self) -> str:  # secrets and the webhook URL path never reach logs
        shown = []
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            spec = _SPEC_BY_KEY[f.name]
            if value and spec.secret:
                value = "***"
            elif value and f.name == "webhook_url":
                value = _url_origin(value) + "/***"
            shown.append(f"{f.name}={value!r}")
        return f"NotifyConfig({', '.join(shown)})"

    __str__ = __repr__


_SPECS: tuple[_Spec, ...] = tuple(
    _Spec(f.name, f.metadata["kind"], f.default, f.metadata["meaning"])
    for f in fields(NotifyConfig)
    if "kind" in f.metadata
)
_SPEC_BY_KEY = {s.key: s for s in _SPECS}


def _looks_like_address(addr: str) -> bool:
    _name, parsed = parseaddr(addr)
    local, _, domain = parsed.rpartition("@")
    return bool(local and domain and " " not in parsed)


def _url_origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _coerce(spec: _Spec, raw: object, origin: str) -> Any:
    """Convert one raw value; errors name the key and the origin, never a secret's value."""
    value = coerce(
        raw,
        spec.kind,
        key=spec.key,
        origin=origin,
        from_text=origin.startswith("environment"),
        secret=spec.secret,
        choices=SECURITY_MODES,
    )
    if spec.key == "telegram_api":
        return value.rstrip("/")
    if spec.key == "notify_severities":
        return tuple(level.lower() for level in value)
    return value
