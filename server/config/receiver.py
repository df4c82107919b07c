"""Receiver settings: flags > environment (`TXMON_*`) > TOML file > defaults.

Every setting is declared once, as a field of `Config`; `SETTINGS` is derived from those
fields and drives loading, validation and the documentation test that keeps
docs/configuration.md in step with the code.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.config.location import StoreLocation, redact, resolve
from server.config.notify import NotifyConfig
from server.config.values import coerce
from server.errors import ConfigError


def default_db_path() -> str:
    """`$XDG_DATA_HOME/txmon/txmon.db`, or `~/.local/share/txmon/txmon.db`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "txmon" / "txmon.db")


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value as loading and the docs see it (derived from `Config`'s fields)."""

    name: str
    section: str
    kind: str
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        return "TXMON_" + self.name.upper()


def _setting(
    section: str,
    kind: str,
    default: Any,
    help: str,
    *,
    secret: bool = False,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A `Config` field that is a setting: declared once, with its section, kind and meaning."""
    metadata = {"section": section, "kind": kind, "help": help, "secret": secret}
    if factory is not None:
        return field(default_factory=factory, metadata={**metadata, "shown": default})
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """The receiver's resolved settings. `detect` is the raw `[detect]` table."""

    host: str = _setting(
        "server", "str", "127.0.0.1", "Address to bind; non-loopback needs a token."
    )
    port: int = _setting("server", "int", 8787, "TCP port to listen on (0 picks a free one).")
    db: str = _setting(
        "server",
        "str",
        None,
        "SQLite file; default $XDG_DATA_HOME/txmon/txmon.db.",
        factory=default_db_path,
    )
    store: str | None = _setting(
        "store",
        "str",
        None,
        "Where the data lives: a SQLite path or sqlite: URL (default: the db file), or "
        "postgresql://USER[:PASSWORD]@HOST:PORT/DB.",
    )
    token: str | None = _setting(
        "server",
        "secret",
        None,
        "API token; when set, every request needs 'Authorization: Bearer <token>'.",
        secret=True,
    )
    max_body_bytes: int = _setting("server", "int", 8388608, "Largest request body accepted.")
    max_batch_records: int = _setting("server", "int", 10000, "Most records in one POST.")
    max_future_minutes: int = _setting(
        "server",
        "int",
        5,
        "Refuse records stamped more than this many minutes ahead of the receiver's clock.",
    )
    max_statuses: int = _setting(
        "server",
        "int",
        256,
        "Most distinct statuses stored; a record that would add one more is refused (422).",
    )
    max_connections: int = _setting(
        "server",
        "int",
        512,
        "Most client connections open at once; past it the longest-idle one is closed, "
        "or the new one gets a 503.",
    )
    http_threads: int = _setting("server", "int", 32, "Worker threads serving requests.")
    max_header_bytes: int = _setting(
        "server", "int", 16384, "Largest request line plus header fields (431 past it)."
    )
    header_timeout: float = _setting(
        "server", "float", 10.0, "Seconds a request head may take to arrive (408 past it)."
    )
    body_timeout: float = _setting(
        "server",
        "float",
        30.0,
        "Seconds a request body may take to arrive, and an answer to be taken (408 past it).",
    )
    idle_timeout: float = _setting(
        "server", "float", 60.0, "Seconds a keep-alive connection may sit idle before it is closed."
    )
    read_connections: int = _setting(
        "store", "int", 8, "Read connections in the pool shared by API reads (either store)."
    )
    idempotency_hours: int = _setting(
        "server", "int", 24, "How long Idempotency-Key answers are kept."
    )
    access_log: str = _setting(
        "server",
        "str",
        "errors",
        "JSON access log on stderr: 'errors' (4xx/5xx and slow requests), 'all' or 'off'.",
    )
    synchronous: str = _setting(
        "store",
        "str",
        "normal",
        "SQLite synchronous mode: 'normal' survives a process crash, 'full' also power loss.",
    )
    writer_batch: int = _setting(
        "store", "int", 20000, "Most records committed in one transaction."
    )
    lease_ttl_seconds: float = _setting(
        "group",
        "float",
        15.0,
        "PostgreSQL store: how long the detector's lease lasts without renewal; a dead "
        "leader is replaced after at most this plus one renewal.",
    )
    lease_renew_seconds: float = _setting(
        "group",
        "float",
        5.0,
        "PostgreSQL store: how often the leader renews its lease (less than half the TTL).",
    )
    detect_interval: float = _setting(
        "group",
        "float",
        1.0,
        "PostgreSQL store: seconds between detector steps over the shared rollup.",
    )
    claim_seconds: float = _setting(
        "group",
        "float",
        60.0,
        "PostgreSQL store: how long a receiver holds an outbox row it is sending; a "
        "message whose sender died goes out again after this (longer than any channel "
        "timeout).",
    )
    detect: Mapping[str, Any] = field(default_factory=dict)
    notify: NotifyConfig = field(default_factory=lambda: NotifyConfig.load({}, {}))
    source: str | None = None

    @property
    def location(self) -> StoreLocation:
        """The store to open: PostgreSQL when `store` is a postgresql:// URL, else SQLite."""
        return resolve(self.store, self.db)

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("detect",)}
        for s in SETTINGS:
            if s.secret and shown.get(s.name):
                shown[s.name] = "***"
        if shown.get("store"):
            shown["store"] = redact(shown["store"])
        return f"Config({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(
        f.name,
        f.metadata["section"],
        f.metadata["kind"],
        f.metadata.get("shown", f.default),
        f.metadata["help"],
        f.metadata["secret"],
    )
    for f in fields(Config)
    if "section" in f.metadata
)
_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    if value is None:
        return None
    try:
        return coerce(
            value,
            setting.kind,
            key=f"{setting.section}.{setting.name}",
            origin=origin,
            from_text=origin != "file",
            secret=setting.secret,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def read_toml(path: str) -> dict[str, Any]:
    """Parse a TOML config file, with errors that name the file."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def read_config_file(path: str) -> dict[str, Any]:
    """The tables of a txmon config file; ConfigError naming the file for bad TOML or a table
    txmon does not have (a typo such as [detecc] would otherwise be ignored)."""
    doc = read_toml(path)
    known_sections = {s.section for s in SETTINGS} | {"detect", "notify", "dashboard"}
    for section in doc:
        if section not in known_sections:
            raise ConfigError(f"unknown section [{section}] in {path}")
    return doc


def load(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    path: str | None = None,
) -> Config:
    """Resolve settings from flags, environment and an optional TOML file."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    path = path or env.get("TXMON_CONFIG")
    doc = read_config_file(path) if path else {}
    values: dict[str, Any] = {}
    for s in SETTINGS:
        table = doc.get(s.section, {})
        for key in table:
            if s.section in ("server", "store", "group") and key not in _BY_NAME:
                raise ConfigError(f"unknown key {s.section}.{key} in {path}")
        if s.name in flags:
            values[s.name] = _coerce(s, flags[s.name], "flag")
        elif s.env in env:
            values[s.name] = _coerce(s, env[s.env], "environment")
        elif s.name in table:
            values[s.name] = _coerce(s, table[s.name], "file")
    if values.get("db") is None:
        values.pop("db", None)
    try:
        notify = NotifyConfig.load(doc.get("notify", {}), env)
    except ValueError as exc:
        raise ConfigError(f"[notify] {exc}") from None
    config = Config(**values, detect=doc.get("detect", {}), notify=notify, source=path)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    if not 0 <= config.port <= 65535:
        raise ConfigError(f"port must be 0-65535, got {config.port}")
    if config.max_body_bytes < 1024:
        raise ConfigError("max_body_bytes must be at least 1024")
    if config.max_batch_records < 1:
        raise ConfigError("max_batch_records must be at least 1")
    if config.synchronous not in ("normal", "full"):
        raise ConfigError("synchronous must be 'normal' or 'full'")
    if config.access_log not in ("errors", "all", "off"):
        raise ConfigError("access_log must be 'errors', 'all' or 'off'")
    if config.writer_batch < 1:
        raise ConfigError("writer_batch must be at least 1")
    for name, low in (
        ("max_future_minutes", 0),
        ("max_statuses", 1),
        ("max_connections", 1),
        ("http_threads", 1),
        ("max_header_bytes", 1024),
        ("read_connections", 1),
    ):
        if getattr(config, name) < low:
            raise ConfigError(f"{name} must be at least {low}")
    for name in ("header_timeout", "body_timeout", "idle_timeout"):
        if not getattr(config, name) > 0:
            raise ConfigError(f"{name} must be a positive number of seconds")
    for name in ("lease_ttl_seconds", "lease_renew_seconds", "detect_interval", "claim_seconds"):
        if not getattr(config, name) > 0:
            raise ConfigError(f"{name} must be a positive number of seconds")
    if not 2 * config.lease_renew_seconds < config.lease_ttl_seconds:
        raise ConfigError(
            f"lease_renew_seconds ({config.lease_renew_seconds:g}) must be less than half of "
            f"lease_ttl_seconds ({config.lease_ttl_seconds:g}), so one late renewal does not "
            "lose the lease"
        )
    config.location  # noqa: B018  (an unusable store URL is a ConfigError at load time)
    if config.token is not None and not config.token.strip():
        raise ConfigError("token is set but empty")
