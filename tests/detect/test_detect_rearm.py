"""After-glow: for `rearm_minutes` after a rise alert of a status resolves, only a rise its
short windows see (a spike) opens a new alert; long sums still holding the incident's tail
(a shift) and drops are judged as usual otherwise."""

from __future__ import annotations

from server.detect.config import DetectConfig
from server.detect.lifecycle import AlertBook, Observation

T0 = 1_751_846_400
HIGH = 3  # severity index of `high`


def at(minute: int) -> int:
    return T0 + 60 * minute


def book_after_a_resolved_spike(config: DetectConfig) -> AlertBook:
    """A book whose `events` status had a spike alert at minutes 0-4, resolved 12 minutes on."""
    book = AlertBook(config)
    for m in range(5):
        book.observe("events", Observation(at(m), HIGH, 9.0, "spike", 90, 10.0))
    for m in range(5, 5 + config.resolve_minutes + 1):
        book.observe_normal("events", at(m), 0)
    assert "events" not in book.by_status
    return book


def opens(book: AlertBook, minute: int, kind: str) -> bool:
    events = book.observe("events", Observation(at(minute), HIGH, 6.0, kind, 40, 10.0))
    return any(e.type == "opened" for e in events)


def test_a_shift_soon_after_a_resolved_rise_opens_nothing() -> None:
    book = book_after_a_resolved_spike(DetectConfig())
    assert not opens(book, 60, "shift")
    assert book.rearming("events", at(60))


def test_a_spike_soon_after_a_resolved_rise_opens_at_once() -> None:
    book = book_after_a_resolved_spike(DetectConfig())
    assert opens(book, 60, "spike")


def test_a_drop_soon_after_a_resolved_rise_opens_at_once() -> None:
    book = book_after_a_resolved_spike(DetectConfig())
    assert opens(book, 60, "drop")


def test_a_shift_opens_again_once_rearm_minutes_have_passed() -> None:
    config = DetectConfig()
    book = book_after_a_resolved_spike(config)
    (alert,) = book.resolved.values()
    assert alert.resolved_at is not None
    resolved_at = (alert.resolved_at - T0) // 60
    assert not opens(book, resolved_at + config.rearm_minutes - 1, "shift")
    assert opens(book, resolved_at + config.rearm_minutes, "shift")


def test_rearm_minutes_zero_lets_every_shift_open() -> None:
    book = book_after_a_resolved_spike(DetectConfig(rearm_minutes=0))
    assert opens(book, 20, "shift")


def test_other_statuses_are_not_held_by_a_status_after_glow() -> None:
    book = book_after_a_resolved_spike(DetectConfig())
    events = book.observe("failed", Observation(at(60), HIGH, 6.0, "shift", 40, 10.0))
    assert [e.type for e in events] == ["opened"]


def test_a_restored_book_keeps_the_after_glow_of_a_stored_resolved_alert() -> None:
    # A restart or a takeover restores the newest resolved alerts (`restore_book`): the new
    # book must hold the same shift the old one would have held.
    config = DetectConfig()
    old = book_after_a_resolved_spike(config)
    new = AlertBook(config)
    new.restore(list(old.resolved.values()), [], old.next_id)
    assert not opens(new, 60, "shift")
    assert opens(new, 61, "spike")
