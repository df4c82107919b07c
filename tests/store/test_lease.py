"""The detector lease on a real database: one holder per term, terms only grow, a stale
term's fence fails, and an expired or released lease passes to the next receiver."""

from __future__ import annotations

import pytest

from server.store import lease


def test_first_acquire_gets_term_1_and_a_second_holder_is_refused(store_tx) -> None:
    with store_tx() as conn:
        assert lease.acquire(conn, "a", ttl=30) == 1
    with store_tx() as conn:
        assert lease.acquire(conn, "b", ttl=30) is None
        row = lease.read(conn)
    assert row is not None and row.holder == "a" and row.term == 1 and row.live


def test_expired_lease_goes_to_the_next_holder_with_a_higher_term(store_tx) -> None:
    with store_tx() as conn:
        assert lease.acquire(conn, "a", ttl=0.05) == 1
    with store_tx() as conn:
        row = lease.read(conn)
    while row is not None and row.live:
        with store_tx() as conn:
            row = lease.read(conn)
    with store_tx() as conn:
        assert lease.acquire(conn, "b", ttl=30) == 2
        assert not lease.renew(conn, "a", 1, ttl=30)


def test_fence_of_a_past_term_is_refused(store_tx) -> None:
    with store_tx() as conn:
        lease.acquire(conn, "a", ttl=30)
        lease.fence(conn, "a", 1)
        assert lease.release(conn, "a", 1)
    with store_tx() as conn:
        assert lease.acquire(conn, "b", ttl=30) == 2
    with pytest.raises(lease.Fenced), store_tx() as conn:
        lease.fence(conn, "a", 1)
    with store_tx() as conn:
        lease.fence(conn, "b", 2)


def test_release_hands_over_at_once_and_keeps_the_term_growing(store_tx) -> None:
    terms = []
    for holder in "abcab":
        with store_tx() as conn:
            term = lease.acquire(conn, holder, ttl=30)
            assert term is not None
            terms.append(term)
            assert lease.release(conn, holder, term)
    assert terms == [1, 2, 3, 4, 5]


def test_renew_of_own_unexpired_lease_extends_it(store_tx) -> None:
    with store_tx() as conn:
        lease.acquire(conn, "a", ttl=1)
        before = lease.read(conn)
    with store_tx() as conn:
        assert lease.renew(conn, "a", 1, ttl=60)
        after = lease.read(conn)
    assert before is not None and after is not None
    assert after.expires_at > before.expires_at + 50 and after.term == 1
