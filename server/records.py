"""The transaction record and the rules that make one valid.

Everything that turns client input into a `Record` lives here, so the HTTP body parsers,
the CSV importer and the backtest agree on what a timestamp, a status and a count are.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

# A status a client may send: lowercase letters, digits and underscores, not starting with
# "_" (those names are txmon's own, such as the whole-volume "_total").
STATUS_RE = re.compile(r"[a-z0-9][a-z0-9_]{0,31}")
# Any status the receiver knows, its own included: what reads and silences may name.
STATUS_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
MAX_COUNT = 1_000_000_000
# Event times outside this range are almost always a unit mistake (ms instead of s).
MIN_EPOCH = 946_684_800  # 2000-01-01T00:00:00Z
MAX_EPOCH = 4_102_444_800  # 2100-01-01T00:00:00Z
# Epoch seconds written as text: ASCII digits, optional sign, fraction and exponent. Python's
# float() also takes "1_000", "inf", "nan" and digits of any script; none of them is a time.
EPOCH_TEXT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A count written as text: ASCII digits only ("²" and "٣" are digits to str.isdigit()).
COUNT_TEXT_RE = re.compile(r"[0-9]+")


class Record(NamedTuple):
    """One count of transactions of one status at one instant (epoch seconds, UTC).

    A NamedTuple rather than a frozen dataclass: ingest builds one per record, and a tuple
    is several times cheaper to create.
    """

    ts: int
    status: str
    count: int


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why record number `index` of a request was refused."""

    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "field": self.field, "message": self.message}


class InvalidRecord(ValueError):
    """Raised by the `parse_*` helpers with the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# Batches repeat the same few timestamps (every status of a minute) and statuses: remember
# recent answers so each distinct value is parsed once. Bounded; a dict is thread-safe enough
# here because a lost race only means parsing a value twice.
_CACHE_LIMIT = 4096
_ts_cache: dict[str, int] = {}
# epoch -> iso(epoch) for recent values; hot loops read it directly before calling iso().
ISO_TEXT: dict[int, str] = {}
_good_statuses: set[str] = set()


def parse_timestamp(value: object) -> int:
    """ISO 8601 (`T` or space, zone optional and UTC when absent) or epoch seconds -> epoch."""
    if type(value) is int and MIN_EPOCH <= value < MAX_EPOCH:
        return value
    if type(value) is str:
        cached = _ts_cache.get(value)
        if cached is not None:
            return cached
        epoch = _parse_timestamp(value)
        if len(_ts_cache) >= _CACHE_LIMIT:
            _ts_cache.clear()
        _ts_cache[value] = epoch
        return epoch
    return _parse_timestamp(value)


def _parse_timestamp(value: object) -> int:
    if isinstance(value, bool):
        raise InvalidRecord("timestamp", "must be an ISO 8601 string or epoch seconds")
    if isinstance(value, int):
        epoch = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecord("timestamp", "must be a finite number")
        epoch = int(value)
    elif isinstance(value, str):
        text = value.strip()
        epoch = _parse_epoch_text(text) if EPOCH_TEXT_RE.fullmatch(text) else _parse_iso(text)
    elif value is None:
        raise InvalidRecord("timestamp", "is required")
    else:
        raise InvalidRecord("timestamp", "must be an ISO 8601 string or epoch seconds")
    if not MIN_EPOCH <= epoch < MAX_EPOCH:
        raise InvalidRecord("timestamp", "must fall between 2000-01-01 and 2100-01-01 (UTC)")
    return epoch


def _parse_epoch_text(text: str) -> int:
    """Epoch seconds from text already known to be a decimal number ("1e400" overflows)."""
    number = float(text)
    if not math.isfinite(number):
        raise InvalidRecord("timestamp", "must fall between 2000-01-01 and 2100-01-01 (UTC)")
    return int(number)


def _parse_iso(text: str) -> int:
    # A date alone or a time alone is not an event time; insist on both parts.
    if len(text) < 16 or text[10] not in "T t":
        raise InvalidRecord(
            "timestamp", f"{text[:40]!r} is not ISO 8601 like '2025-07-12 13:45:00'"
        )
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecord(
            "timestamp", f"{text[:40]!r} is not ISO 8601 like '2025-07-12 13:45:00'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_status(value: object) -> str:
    """A lowercase name of 1-32 letters, digits or underscores, not starting with "_"."""
    if type(value) is str and value in _good_statuses:
        return value
    if value is None:
        raise InvalidRecord("status", "is required")
    if not isinstance(value, str) or not STATUS_RE.fullmatch(value):
        if isinstance(value, str) and STATUS_NAME_RE.fullmatch(value):
            raise InvalidRecord(
                "status", "names starting with '_' are txmon's own (such as '_total')"
            )
        raise InvalidRecord("status", "must match [a-z0-9][a-z0-9_]{0,31}, e.g. 'approved'")
    if len(_good_statuses) < _CACHE_LIMIT:
        _good_statuses.add(value)
    return value


def parse_count(value: object) -> int:
    """A whole number from 0 to 1,000,000,000; a string of digits is accepted too."""
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    if isinstance(value, bool):
        raise InvalidRecord("count", "must be a whole number")
    if isinstance(value, str):
        text = value.strip()
        if not COUNT_TEXT_RE.fullmatch(text):
            raise InvalidRecord("count", "must be a whole number (ASCII digits when sent as text)")
        digits = text.lstrip("0") or "0"
        if len(digits) > len(str(MAX_COUNT)):  # and int() refuses more than 4,300 digits
            raise InvalidRecord("count", f"must be between 0 and {MAX_COUNT:,}")
        value = int(digits)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise InvalidRecord("count", "must be a whole number")
    if not 0 <= value <= MAX_COUNT:
        raise InvalidRecord("count", f"must be between 0 and {MAX_COUNT:,}")
    return value


def parse_record(obj: object, index: int = 0) -> Record | list[FieldError]:
    """Validate one decoded record; return it, or every problem found in it."""
    if not isinstance(obj, dict):
        return [FieldError(index, "", "each record must be a JSON object")]
    try:  # the common case, without collecting errors
        return Record(
            parse_timestamp(obj.get("timestamp")),
            parse_status(obj.get("status")),
            parse_count(obj.get("count", 1)),
        )
    except InvalidRecord:
        pass
    errors: list[FieldError] = []
    values: list[object] = []
    for field, parse in (
        ("timestamp", parse_timestamp),
        ("status", parse_status),
        ("count", parse_count),
    ):
        raw = obj.get(field, 1) if field == "count" else obj.get(field)
        try:
            values.append(parse(raw))
        except InvalidRecord as exc:
            errors.append(FieldError(index, exc.field, exc.message))
    if errors:
        return errors
    ts, status, count = values
    return Record(ts, status, count)  # type: ignore[arg-type]


def iso(epoch: int) -> str:
    """Epoch seconds -> normalised ISO 8601 UTC, e.g. `2025-07-12T13:45:00Z`."""
    text = ISO_TEXT.get(epoch)
    if text is None:
        text = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if len(ISO_TEXT) >= _CACHE_LIMIT:
            ISO_TEXT.clear()
        ISO_TEXT[epoch] = text
    return text
