"""A connection of its own for a thread that writes outside the writer (lease, detector).

The lease must be renewed even while the writer is busy with a large group commit, and the
detector's fenced transaction must not wait behind ingest, so each gets its own connection.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from server.config.location import StoreLocation
from server.store.schema import open_store


class Session:
    """Serialised transactions on one connection, opened (and reopened) on first use."""

    def __init__(self, location: StoreLocation) -> None:
        self._location = location
        self._conn: Any = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN ... COMMIT around the block; ROLLBACK (and re-raise) when it fails."""
        with self._lock:
            if self._conn is None:
                self._conn = open_store(self._location)
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
