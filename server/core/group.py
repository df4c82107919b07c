"""A receiver as one of several sharing a PostgreSQL store: lease, shared detector, actions.

Every member ingests, answers reads and delivers notifications (claiming outbox rows);
one member at a time, the lease holder, runs the alert lifecycle over the shared rollup
(`detector.py`). The others keep the same engine as a shadow for their verdicts. An
operator's ack or silence may land on any member: it changes the stored rows at once, in
the lifecycle's own terms, and the leader applies it by its next step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from server import store
from server.core.detector import SharedDetector
from server.core.leader import Leadership, holder_id
from server.detect.config import DetectConfig
from server.detect.lifecycle import ACKNOWLEDGED, FIRING, Alert, AlertBook, AlertEvent, Silence
from server.errors import AlertNotFound, DatabaseUnreachable, SilenceNotFound
from server.store.session import Session

if TYPE_CHECKING:
    from server.config import Config
    from server.config.location import StoreLocation

log = logging.getLogger("txmon.group")

LEADER = "leader"
FOLLOWER = "follower"
# pg_advisory_xact_lock key: silences created on different receivers get distinct ids.
SILENCE_LOCK = 7_382_003


class Group:
    """This receiver's part in a group: its lease, its detector and the thread running both."""

    def __init__(
        self,
        config: Config,
        location: StoreLocation,
        detect_config: DetectConfig,
        persist: Callable[[Any, list[AlertEvent], int], None],
        horizon: Callable[[], int],
        chores: Callable[[Any, int], None] | None = None,
        on_step: Callable[[list[AlertEvent]], None] | None = None,
    ) -> None:
        self.holder = holder_id()
        self.interval = config.detect_interval
        self._lease_session = Session(location)
        self._detect_session = Session(location)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._on_step: Callable[[list[AlertEvent]], None] = on_step or (lambda events: None)
        self.leadership = Leadership(
            self._lease_session.transaction,
            ttl=config.lease_ttl_seconds,
            renew=config.lease_renew_seconds,
            holder=self.holder,
            on_change=self._role_changed,
        )
        self.detector = SharedDetector(
            detect_config,
            self._detect_session.transaction,
            self.holder,
            lambda: self.leadership.term,
            persist,
            horizon,
            chores=chores,
        )
        self.last_step_error: str | None = None
        # Told the reason when a step found the database unreachable (the degraded notice).
        self.on_unreachable: Callable[[str], None] = lambda reason: None
        self.steps = 0
        self._thread = threading.Thread(target=self._run, name="txmon-detector", daemon=True)

    @property
    def role(self) -> str:
        return LEADER if self.leadership.term is not None else FOLLOWER

    @property
    def term(self) -> int:
        """Our term while we lead, else the newest term this receiver has seen."""
        term = self.leadership.term
        return term if term is not None else self.leadership.highest_term

    def start(self) -> None:
        """Take part: try for the lease once, build the engine, then run both on a thread."""
        self.leadership.step()
        self.step()
        self.leadership.start()
        self._thread.start()

    def close(self) -> None:
        """Stop detecting and hand the lease over at once (a graceful stop)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.leadership.stop()
        self._lease_session.close()
        self._detect_session.close()

    def wake(self) -> None:
        """Records were committed: step soon rather than at the next interval."""
        self._wake.set()

    def step(self) -> list[AlertEvent]:
        try:
            events = self.detector.step()
        except Exception as exc:  # unreachable database, fenced: the next step tries again
            self.last_step_error = type(exc).__name__
            if isinstance(exc, DatabaseUnreachable):
                self.on_unreachable(str(exc))
            log.warning('{"event":"detector_step_failed","error":"%s"}', type(exc).__name__)
            return []
        self.last_step_error = None
        self.steps += 1
        if events:
            self._on_step(events)
        return events

    def _role_changed(self, term: int | None) -> None:
        log.info('{"event":"role","role":"%s","term":%d}', self.role, self.term)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._stop.is_set():
                self.step()


class RowBook:
    """The lifecycle's operator actions applied to the stored rows, for any member.

    The alert row is read `FOR UPDATE`, so an action waits for a leader's step that is
    changing it (that step locks the open alerts first) and then acts on what it wrote.
    """

    def __init__(self, conn: Any, config: DetectConfig, now: int) -> None:
        self._conn = conn
        self._book = AlertBook(config)
        self._book.wall = now
        self._postgres = getattr(conn, "dialect", None) == "postgresql"

    def _load(self, alert_id: int) -> Alert:
        lock = " FOR UPDATE" if self._postgres else ""
        row = self._conn.execute(
            f"SELECT id FROM alerts WHERE id = ? AND state IN (?, ?){lock}",
            (alert_id, FIRING, ACKNOWLEDGED),
        ).fetchone()
        alert = store.get_alert(self._conn, alert_id) if row else None
        if alert is None:
            raise AlertNotFound(f"no open alert with id {alert_id}")
        self._book.restore([alert], [], alert_id + 1)
        return alert

    def alert(self, alert_id: int) -> Alert:
        return self._load(alert_id)

    def ack(self, alert_id: int, by: str, note: str | None, now: int) -> list[AlertEvent]:
        if alert_id not in self._book.by_id:
            self._load(alert_id)
        return self._book.ack(alert_id, by, note, now)

    def unack(self, alert_id: int, now: int) -> list[AlertEvent]:
        if alert_id not in self._book.by_id:
            self._load(alert_id)
        return self._book.unack(alert_id, now)

    def add_silence(
        self, status: str | None, minutes: int, by: str, reason: str, now: int
    ) -> Silence:
        if self._postgres:
            self._conn.execute("SELECT pg_advisory_xact_lock(?)", (SILENCE_LOCK,))
            # The open alerts as the leader last committed them, and kept so until we commit.
            self._conn.execute(
                "SELECT id FROM alerts WHERE state IN (?, ?) FOR UPDATE", (FIRING, ACKNOWLEDGED)
            )
        self._book.restore(
            store.list_alerts(self._conn, (FIRING, ACKNOWLEDGED), 100_000),
            [],
            1,
            store.max_silence_id(self._conn) + 1,
        )
        return self._book.add_silence(status, minutes, by, reason, now)

    def open_alerts(self) -> list[Alert]:
        return sorted(self._book.by_status.values(), key=lambda a: a.id)

    def remove_silence(self, silence_id: int) -> Silence:
        found = store.get_silence(self._conn, silence_id)
        if found is None:
            raise SilenceNotFound(f"no silence in force with id {silence_id}")
        return found

    def tick(self, now: int, event_now: int | None = None) -> list[AlertEvent]:
        """Nothing here: the leader's next step runs the timers."""
        return []
