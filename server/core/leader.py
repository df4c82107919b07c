"""Leadership of the detector among receivers sharing one database, by a renewed lease.

A background thread acquires the lease when it is free and renews it every
`renew_seconds`; the lease lasts `ttl_seconds` on the database's clock. The holder also
times itself on its own monotonic clock from just before each successful renewal, and
stops calling itself leader once `ttl_seconds` have passed without one, even when the
database cannot be reached to say so: a zombie leader fences itself before anyone else
can be elected. Every detector write still checks the term in the database (`fence`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from server.errors import ConfigError
from server.store import lease

log = logging.getLogger("txmon.leader")

Transaction = Callable[[], contextlib.AbstractContextManager[Any]]


def holder_id() -> str:
    """A name for this process that no other process, here or elsewhere, will reuse."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def check_timers(ttl: float, renew: float) -> None:
    """ConfigError unless two renewals fit in one lease: a single slow renewal must not
    cost the lease (the inequality Patroni checks as loop_wait + 2 x retry <= ttl)."""
    if renew <= 0 or ttl <= 0:
        raise ConfigError("lease_ttl_seconds and lease_renew_seconds must be positive")
    if 2 * renew >= ttl:
        raise ConfigError(
            f"lease_renew_seconds ({renew:g}) must be less than half of lease_ttl_seconds "
            f"({ttl:g}), so one late renewal does not lose the lease"
        )


class Leadership:
    """Holds, renews and gives up the detector lease; `term` is set only while we lead."""

    def __init__(
        self,
        transaction: Transaction,
        *,
        ttl: float,
        renew: float,
        holder: str | None = None,
        on_change: Callable[[int | None], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_timers(ttl, renew)
        self.holder = holder or holder_id()
        self.ttl = ttl
        self.renew = renew
        self._transaction = transaction
        self._on_change = on_change or (lambda term: None)
        self._clock = clock
        self._term: int | None = None
        self._valid_until = 0.0  # on our monotonic clock
        self.highest_term = 0  # the largest term this process has seen in the database
        self._stop = threading.Event()
        self._next_wait = renew  # how long the loop sleeps after this round
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def term(self) -> int | None:
        """Our term while we lead and our own clock says the lease cannot have expired."""
        with self._lock:
            if self._term is not None and self._clock() >= self._valid_until:
                return None
            return self._term

    @property
    def is_leader(self) -> bool:
        return self.term is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="txmon-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and hand the lease over at once if we hold it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
        with self._lock:
            term, self._term = self._term, None
        if term is not None:
            with contextlib.suppress(Exception):
                with self._transaction() as conn:
                    lease.release(conn, self.holder, term)
                log.info('{"event":"leader_released","term":%d}', term)
            self._on_change(None)

    def step(self) -> None:
        """One round: renew our lease, or try to take a free one; tell `on_change`."""
        started = self._clock()
        with self._lock:
            term = self._term
        try:
            with self._transaction() as conn:
                if term is not None and started < self._valid_until:
                    new_term = term if lease.renew(conn, self.holder, term, self.ttl) else None
                else:
                    new_term = lease.acquire(conn, self.holder, self.ttl)
                row = lease.read(conn)
        except Exception as exc:  # unreachable: our own clock decides when the term ends
            log.warning('{"event":"lease_unreachable","error":"%s"}', type(exc).__name__)
            if term is not None and self._clock() >= self._valid_until:
                self._set(None, "lease not renewed in time")
            return
        if row is not None:
            self.highest_term = max(self.highest_term, row.term)
            if new_term is None and row.live:
                # Another holds it: look again the moment it would expire, not up to a
                # renewal later, so a dead leader is replaced about a TTL after its last renewal.
                self._next_wait = min(self.renew, max(0.01, row.expires_at - row.now + 0.01))
            else:
                self._next_wait = self.renew
        if new_term is not None:
            with self._lock:
                self._valid_until = started + self.ttl
        if new_term != term:
            self._set(new_term, "elected" if new_term is not None else "lease lost")

    def _set(self, term: int | None, why: str) -> None:
        with self._lock:
            old, self._term = self._term, term
        if term is not None:
            log.info('{"event":"leader_elected","term":%d}', term)
        else:
            log.warning('{"event":"leader_lost","term":%d,"reason":"%s"}', old or 0, why)
        self._on_change(term)

    def _run(self) -> None:
        while not self._stop.is_set():
            due = self._clock() + self.renew
            self._next_wait = self.renew
            self.step()
            # Renewals keep their rate however long a round took.
            self._stop.wait(max(0.0, min(due, self._clock() + self._next_wait) - self._clock()))
