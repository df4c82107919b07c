"""Leadership between two holders of one lease table: one leader at a time, a paused
leader stops calling itself leader on its own clock, and a graceful stop hands over."""

from __future__ import annotations

import contextlib
import sqlite3
import time

import pytest

from server.core.leader import Leadership, check_timers
from server.errors import ConfigError
from server.store import lease
from tests.conftest import wait_until


def _note(changes: list[tuple[str, int | None]], who: str):
    return lambda term: changes.append((who, term))


def test_only_one_of_two_receivers_leads(store_tx) -> None:
    changes: list[tuple[str, int | None]] = []
    a = Leadership(store_tx, ttl=5, renew=1, holder="a", on_change=_note(changes, "a"))
    b = Leadership(store_tx, ttl=5, renew=1, holder="b", on_change=_note(changes, "b"))
    a.step()
    b.step()
    a.step()
    assert (a.term, b.term) == (1, None)
    assert changes == [("a", 1)]


def test_paused_leader_stops_leading_by_its_own_clock_and_the_other_takes_over(store_tx) -> None:
    changes: list[tuple[str, int | None]] = []
    a = Leadership(store_tx, ttl=0.4, renew=0.1, holder="a", on_change=_note(changes, "a"))
    b = Leadership(store_tx, ttl=0.4, renew=0.1, holder="b", on_change=_note(changes, "b"))
    a.step()
    started = time.monotonic()
    wait_until(lambda: a.term is None, timeout=2)  # "paused": a never steps again
    assert time.monotonic() - started < 0.4 + 0.1
    wait_until(lambda: (b.step(), b.term)[1] is not None, timeout=2)
    assert b.term == 2 and b.highest_term == 2
    a.step()  # waking up: it learns it lost, and says so once
    assert a.term is None
    assert changes == [("a", 1), ("b", 2), ("a", None)]
    with pytest.raises(lease.Fenced), store_tx() as conn:
        lease.fence(conn, "a", 1)


def test_graceful_stop_hands_over_without_waiting_for_the_ttl(store_tx) -> None:
    a = Leadership(store_tx, ttl=30, renew=5, holder="a")
    b = Leadership(store_tx, ttl=30, renew=5, holder="b")
    a.step()
    a.stop()
    b.step()
    assert b.term == 2


def test_unreachable_database_ends_the_term_after_the_ttl(store_tx) -> None:
    healthy = [True]

    @contextlib.contextmanager
    def flaky():
        if not healthy[0]:
            raise sqlite3.OperationalError("unable to open database file")
        with store_tx() as conn:
            yield conn

    changes: list[int | None] = []
    a = Leadership(flaky, ttl=0.3, renew=0.1, holder="a", on_change=changes.append)
    a.step()
    healthy[0] = False
    a.step()
    assert a.term == 1  # one failed renewal inside the lease keeps it
    wait_until(lambda: (a.step(), a.term)[1] is None, timeout=2)
    assert changes == [1, None]


@pytest.mark.parametrize(("ttl", "renew"), [(10, 5), (10, 6), (0, 1), (5, 0)])
def test_timers_that_do_not_fit_two_renewals_in_a_lease_are_refused(ttl, renew) -> None:
    with pytest.raises(ConfigError):
        check_timers(ttl, renew)
