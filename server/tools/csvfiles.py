"""Reading transaction CSV files in the CloudWalk formats.

Two shapes exist: `timestamp,status,count` (2025) and `time,status,f0_` or `time,status,count`
with `HHh MM` clock times and no date (2022, one day per file; the caller supplies the date).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from server.records import InvalidRecord, Record, parse_count, parse_status, parse_timestamp

_CLOCK_RE = re.compile(r"(\d{1,2})h\s*(\d{1,2})")


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be read, with its 1-based line number in the file."""

    line: int
    message: str


class CsvFormatError(ValueError):
    """The file's header is not one of the known formats."""


def read_rows(
    lines: Iterable[str], day: date | None = None
) -> Iterator[tuple[int, Record | BadRow]]:
    """Yield (line number, record or problem) for each data row of a CloudWalk-style CSV."""
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return
    if len(header) < 3 or header[1] != "status":
        raise CsvFormatError(
            "header must be 'timestamp,status,count' or 'time,status,count' (or f0_)"
        )
    clock = header[0] == "time"
    if not clock and header[0] != "timestamp":
        raise CsvFormatError(f"first column must be 'timestamp' or 'time', not {header[0]!r}")
    if header[2] not in ("count", "f0_"):
        raise CsvFormatError(f"third column must be 'count' or 'f0_', not {header[2]!r}")
    if clock and day is None:
        raise CsvFormatError("this file has 'HHh MM' times without a date: give --date")
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) if day else 0
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < 3:
            yield line, BadRow(line, f"expected 3 columns, found {len(row)}")
            continue
        try:
            ts = _clock(row[0], midnight) if clock else parse_timestamp(row[0])
            yield line, Record(ts, parse_status(row[1].strip()), parse_count(row[2].strip()))
        except InvalidRecord as exc:
            yield line, BadRow(line, f"{exc.field} {exc.message}")


def _clock(text: str, midnight: int) -> int:
    match = _CLOCK_RE.fullmatch(text.strip())
    if not match:
        raise InvalidRecord("time", f"{text!r} is not a clock time like '14h 31'")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise InvalidRecord("time", f"{text!r} is not a clock time like '14h 31'")
    return midnight + hour * 3600 + minute * 60


def load_sorted(path: str, day: date | None = None) -> tuple[list[Record], list[BadRow]]:
    """Read a whole file and return its records in event-time order, plus the bad rows."""
    records: list[Record] = []
    bad: list[BadRow] = []
    with open(path, newline="", encoding="utf-8") as handle:
        for _line, item in read_rows(handle, day):
            if isinstance(item, BadRow):
                bad.append(item)
            else:
                records.append(item)
    records.sort(key=lambda r: r.ts)  # stable: same-minute rows keep file order
    return records, bad
