"""The single writer thread: every change to the database runs here, many requests per
transaction (group commit), and a caller hears back only after its work is committed.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.errors import DatabaseUnreachable, WriterClosed, WriterTimeout
from server.store.schema import database_errors

Work = Callable[[sqlite3.Connection], Any]


class Pending:
    """A job's outcome, waited on with a bare lock: far cheaper than a Future's Condition
    when thousands of requests a second each wait for one commit."""

    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._value: Any = None
        self._error: BaseException | None = None

    def set_result(self, value: Any) -> None:
        self._value = value
        self._done.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done.release()

    def result(self, timeout: float | None = None) -> Any:
        """The work's return value once committed; its exception re-raised otherwise."""
        if not self._done.acquire(timeout=-1 if timeout is None else timeout):
            raise WriterTimeout("the writer did not answer in time; the receiver is overloaded")
        self._done.release()
        if self._error is not None:
            raise self._error
        return self._value


@dataclass(slots=True)
class _Job:
    work: Work
    weight: int
    future: Pending = field(default_factory=Pending)


_STOP = object()


class Writer:
    """Runs `Work` callables on one connection, batching whatever is queued into one commit.

    A job that raises one of `refusals` (errors raised before it changed anything) fails
    alone; any other failure rolls the transaction back, calls `on_commit_failure` (so
    in-memory state can be rebuilt) and retries the batch's jobs one by one.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        max_batch: int = 20_000,
        on_commit_failure: Callable[[BaseException], None] | None = None,
        idle: Callable[[sqlite3.Connection], None] | None = None,
        idle_every: float = 1.0,
        before_commit: Callable[[sqlite3.Connection], None] | None = None,
        refusals: tuple[type[Exception], ...] = (),
    ) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._on_commit_failure = on_commit_failure
        self._idle = idle
        self._idle_every = idle_every
        self._before_commit = before_commit
        self._refusals = refusals
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="txmon-writer", daemon=True)
        # Why the last commit that had changes failed; None once one succeeds again.
        self.failing: str | None = None
        # The last failure was an unreachable database: any commit proves it reachable again.
        self._unreachable = False

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the thread runs and accepts work."""
        return self._thread.is_alive() and not self._closed.is_set()

    def submit(self, work: Work, weight: int = 1) -> Pending:
        """Queue `work`; the future resolves after its transaction commits."""
        if self._closed.is_set():
            raise WriterClosed("the writer is shut down")
        job = _Job(work, weight)
        self._queue.put(job)
        return job.future

    def call(self, work: Work, weight: int = 1, timeout: float | None = 60) -> Any:
        """Submit and wait: returns the work's result once committed, or raises its error."""
        return self.submit(work, weight).result(timeout)

    def close(self, timeout: float = 30) -> None:
        """Finish and commit everything already queued, then stop the thread."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        next_idle = time.monotonic() + self._idle_every
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self._idle_every)
            except queue.Empty:
                first = None
            batch: list[_Job] = []
            weight = 0
            item = first
            while item is not None:
                if item is _STOP:
                    stopping = True
                else:
                    assert isinstance(item, _Job)
                    batch.append(item)
                    weight += item.weight
                if weight >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if batch:
                self._commit(batch)
            if self._idle is not None and (time.monotonic() >= next_idle or first is None):
                next_idle = time.monotonic() + self._idle_every
                self._commit([_Job(self._idle, 0)])
        # Anything queued after the stop marker is refused rather than left hanging.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                item.future.set_exception(WriterClosed("the writer is shut down"))

    def _commit(self, batch: list[_Job]) -> None:
        """Run the batch in one transaction. A refusal (an error the work raised before it
        changed anything) fails only its own job; any other error undoes the transaction,
        tells `on_commit_failure`, and runs each job again on its own, so one bad job never
        takes the others down. No savepoints: every statement costs a GIL round trip."""
        conn = self._conn
        results: list[tuple[_Job, Any, BaseException | None]] = []
        changes = conn.total_changes
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                try:
                    results.append((job, job.work(conn), None))
                except self._refusals as exc:
                    results.append((job, None, exc))
            if self._before_commit is not None:
                self._before_commit(conn)
            conn.execute("COMMIT")
        except Exception as exc:  # nothing of this transaction is durable
            if isinstance(exc, database_errors()):
                self.failing = f"{type(exc).__name__}: {exc}"
                self._unreachable = isinstance(exc, DatabaseUnreachable)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except database_errors():  # a lost PostgreSQL connection has nothing to undo
                    pass
            if self._on_commit_failure is not None:
                self._on_commit_failure(exc)
            if len(batch) > 1:
                for job in batch:
                    self._commit([job])
            else:
                batch[0].future.set_exception(exc)
            return
        if conn.total_changes != changes or self._unreachable:
            # An empty commit proves nothing about the disk, but does prove the server is back.
            self.failing = None
            self._unreachable = False
        for job, value, error in results:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(value)
