"""A fixed pool of read-only connections for the API's reads."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator

from server.errors import ReadersBusy


class Readers:
    """A fixed pool of read-only connections, so API reads never wait for the writer and
    the receiver never holds more than `size` of them whatever its clients do."""

    def __init__(self, path: str, size: int = 8, wait: float = 10.0) -> None:
        self._path = path
        self._size = size
        self._wait = wait
        self._free: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._made: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def opened(self) -> int:
        """Connections made so far (at most `size`)."""
        return len(self._made)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            f"file:{self._path}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=30,
        )
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection for one read; ReadersBusy if none comes free in time."""
        try:
            conn = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                conn = self._open() if len(self._made) < self._size else None
                if conn is not None:
                    self._made.append(conn)
            if conn is None:
                try:
                    conn = self._free.get(timeout=self._wait)
                except queue.Empty:
                    raise ReadersBusy(
                        f"all {self._size} read connections stayed busy for {self._wait:g} s"
                    ) from None
        try:
            yield conn
        finally:
            if conn.in_transaction:  # a read interrupted mid-statement
                conn.rollback()
            self._free.put(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._made:
                conn.close()
            self._made.clear()
