"""The detector's lease: one row naming the holder, its term and when it expires.

Time is the database's clock, never a receiver's, so receivers with skewed clocks agree on
who holds the lease. The term only grows; it is the fencing token every detector
transaction checks first (`fence`), so a paused ex-leader's late write changes nothing.
On PostgreSQL the check reads the row `FOR SHARE`: a new leader's takeover waits until the
old term's transaction has committed or rolled back, so terms never interleave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.errors import StoreError

DETECTOR = "detector"


class Fenced(StoreError):
    """This receiver's term is over: its detector write must not commit."""


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """The lease as the database holds it, with the database's clock when it was read."""

    holder: str
    term: int
    expires_at: float
    now: float

    @property
    def live(self) -> bool:
        return self.expires_at > self.now


def is_sqlite(conn: Any) -> bool:
    """True for SQLite; PostgreSQL's adapter (store/postgres.py) names its dialect."""
    return getattr(conn, "dialect", "sqlite") != "postgresql"


def db_now(conn: Any) -> str:
    """SQL for the database clock in seconds since the epoch, with fractions."""
    if is_sqlite(conn):
        return "((julianday('now') - 2440587.5) * 86400.0)"
    return "extract(epoch from clock_timestamp())::float8"


def read(conn: Any, name: str = DETECTOR) -> LeaseRow | None:
    """The current lease row, or None before anyone has held it."""
    row = conn.execute(
        f"SELECT holder, term, expires_at, {db_now(conn)} FROM leases WHERE name = ?",
        (name,),
    ).fetchone()
    return None if row is None else LeaseRow(row[0], int(row[1]), float(row[2]), float(row[3]))


def acquire(conn: Any, holder: str, ttl: float, name: str = DETECTOR) -> int | None:
    """Take the lease if it is free or expired: the new term, or None when another holds it.

    Run inside a transaction; the caller commits. An expired lease is taken with the next
    term, so a holder that was only paused finds its term gone when it wakes.
    """
    now = db_now(conn)
    conn.execute(
        f"INSERT INTO leases (name, holder, term, expires_at) VALUES (?, ?, 0, {now} - 1) "
        "ON CONFLICT (name) DO NOTHING",
        (name, holder),
    )
    cur = conn.execute(
        f"UPDATE leases SET holder = ?, term = term + 1, expires_at = {now} + ? "
        f"WHERE name = ? AND expires_at <= {now}",
        (holder, ttl, name),
    )
    if cur.rowcount != 1:
        return None
    row = read(conn, name)
    return None if row is None else row.term


def renew(conn: Any, holder: str, term: int, ttl: float, name: str = DETECTOR) -> bool:
    """Extend our unexpired lease by `ttl` from now; False when the term is no longer ours.

    An expired lease is not renewed even if nobody took it: the holder steps down and
    acquires again with a new term, so an expiry always ends a term.
    """
    now = db_now(conn)
    cur = conn.execute(
        f"UPDATE leases SET expires_at = {now} + ? "
        f"WHERE name = ? AND holder = ? AND term = ? AND expires_at > {now}",
        (ttl, name, holder, term),
    )
    return cur.rowcount == 1


def release(conn: Any, holder: str, term: int, name: str = DETECTOR) -> bool:
    """End our term now (graceful stop) so the next receiver takes over without waiting."""
    now = db_now(conn)
    cur = conn.execute(
        f"UPDATE leases SET expires_at = {now} "
        f"WHERE name = ? AND holder = ? AND term = ? AND expires_at > {now}",
        (name, holder, term),
    )
    return cur.rowcount == 1


def fence(conn: Any, holder: str, term: int, name: str = DETECTOR) -> None:
    """Fenced unless `holder` holds `term` unexpired; the first statement of every detector
    transaction, so a write of a past term affects no rows."""
    lock = "" if is_sqlite(conn) else " FOR SHARE"
    row = conn.execute(
        "SELECT 1 FROM leases WHERE name = ? AND holder = ? AND term = ? "
        f"AND expires_at > {db_now(conn)}{lock}",
        (name, holder, term),
    ).fetchone()
    if row is None:
        raise Fenced(f"lease {name!r} term {term} is no longer held by {holder}")
