"""Where the store lives: a SQLite file (the default) or a PostgreSQL database, and how to
show its address without the password."""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.errors import ConfigError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

_PG_SCHEMES = ("postgresql://", "postgres://")
# user:password@ in a URL, and password=... in a keyword/value connection string.
_URL_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*):[^@\s]*@")
_KEY_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with any PostgreSQL password replaced by `***` (for logs, errors, answers)."""
    return _KEY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """The resolved store: `kind` is 'sqlite' or 'postgresql'; `target` the file path or the
    full connection URL (with any password: never log it, log `shown`)."""

    kind: str
    target: str
    # PostgreSQL: seconds a session may sit idle inside a transaction before the server ends
    # it (a receiver stopped mid-transaction must not hold row locks, the lease's among them).
    idle_in_transaction: float | None = None

    @property
    def shown(self) -> str:
        return redact(self.target)


def resolve(store: str | None, db: str) -> StoreLocation:
    """`store` as given (`postgresql://...`, `sqlite:PATH`, a plain path, or empty for the
    `db` file) into a StoreLocation."""
    value = (store or "").strip()
    if not value:
        return StoreLocation(SQLITE, db)
    if value.startswith(_PG_SCHEMES):
        return StoreLocation(POSTGRESQL, value)
    if value.startswith("sqlite:"):
        path = value[len("sqlite:") :]
        if path.startswith("//"):  # sqlite:///abs/path or sqlite://relative
            path = path[2:]
        if not path:
            raise ConfigError("store 'sqlite:' names no file; use sqlite:///path/to/txmon.db")
        return StoreLocation(SQLITE, path)
    if "://" in value:
        scheme = value.split("://", 1)[0]
        raise ConfigError(
            f"store scheme {scheme!r} is not supported; use postgresql://USER@HOST:PORT/DB, "
            "sqlite:PATH or a file path"
        )
    return StoreLocation(SQLITE, value)
