"""One error tree for the receiver: every error raised on purpose derives from TxmonError.

    TxmonError
    ├── ConfigError            a setting cannot be used (txmon-server exits 2)
    ├── StoreError             the database cannot be opened or migrated (exits 1)
    ├── Unavailable            retry later; the API answers 503 with Retry-After
    │   ├── WriterClosed       the writer has stopped (shutting down)
    │   ├── WriterTimeout      the writer did not answer in time (overloaded)
    │   ├── ReadersBusy        every read connection stayed busy
    │   └── StorageFailing     a commit failed (disk full, I/O error): nothing was stored
    │       └── DatabaseUnreachable   the PostgreSQL server cannot be reached
    ├── Refused                the request is understood and refused; nothing was stored
    │   ├── BodyError          the body cannot be read (400, 411, 413, 415, 422)
    │   ├── IdempotencyConflict   a key reused with another body (422)
    │   ├── TooManyStatuses    past max_statuses (422)
    │   ├── AlertConflict      the alert is not in a state that allows it (409)
    │   └── NoChannels         test-fire with no channel configured (409)
    └── NotFound               (404)
        ├── AlertNotFound
        ├── SilenceNotFound
        └── ChannelNotFound

The HTTP codes are mapped in one place, `server.api.routing.ERROR_CODES`. Errors that stay
inside one module (a record field's InvalidRecord, a CSV file's CsvFormatError, the import
client's SendError) are not part of the API and are not listed here.
"""

from __future__ import annotations


class TxmonError(Exception):
    """Root of every error the receiver raises on purpose; its message is safe to show."""


class ConfigError(TxmonError, ValueError):
    """A setting has a value that cannot be used; the message says which and why."""


class StoreError(TxmonError, RuntimeError):
    """The database cannot be used (for example a schema newer than this txmon)."""


class Unavailable(TxmonError):
    """Nothing was done; the same request may succeed later (503 with Retry-After)."""

    retry_after = 1


class WriterClosed(Unavailable, RuntimeError):
    """The writer has stopped; nothing more can be written."""


class WriterTimeout(Unavailable, TimeoutError):
    """The writer did not answer in time."""


class ReadersBusy(Unavailable, TimeoutError):
    """Every read connection stayed in use for the whole wait."""


class StorageFailing(Unavailable):
    """A commit failed (disk full, I/O error); nothing of it was stored."""

    retry_after = 5


class DatabaseUnreachable(StorageFailing):
    """The PostgreSQL server refused or lost the connection; the message names no secret."""

    retry_after = 2


class Refused(TxmonError):
    """The request was understood and refused; nothing was stored."""


class BodyError(Refused, ValueError):
    """The body cannot be used; `code` is the HTTP answer (400, 411, 413, 415 or 422)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class IdempotencyConflict(Refused, ValueError):
    """An Idempotency-Key was reused with a different body."""


class TooManyStatuses(Refused, ValueError):
    """A request would take the store past `max_statuses` distinct statuses."""


class AlertConflict(Refused, ValueError):
    """The alert's state does not allow the action (already acknowledged, resolved...)."""


class NoChannels(Refused, LookupError):
    """Test-fire asked for while no notification channel is configured."""


class NotFound(TxmonError, LookupError):
    """The thing named does not exist (404)."""


class AlertNotFound(NotFound):
    """No alert with that id."""


class SilenceNotFound(NotFound):
    """No silence in force with that id."""


class ChannelNotFound(NotFound):
    """No notification channel with that name."""
