"""The writer thread: group commit, a failing job never takes others down, refusals are
cheap, and nothing is answered before it is committed."""

from __future__ import annotations

import threading

import pytest

from server import store
from server.config import load
from server.store.writer import Writer, WriterClosed


class Refusal(Exception):
    pass


def open_conn(url: str):
    return store.open_store(load(env={}, flags={"store": url}).location)


@pytest.fixture
def setup(store_url: str):
    conn = open_conn(store_url)
    conn.execute("CREATE TABLE t (v INTEGER)")
    failures: list[BaseException] = []
    writer = Writer(conn, on_commit_failure=failures.append, refusals=(Refusal,))
    yield writer, store_url, failures
    writer.close()
    conn.close()


def rows(url: str) -> list[int]:
    conn = open_conn(url)
    try:
        return sorted(v for (v,) in conn.execute("SELECT v FROM t").fetchall())
    finally:
        conn.close()


def insert(value: int):
    return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (value,)).rowcount


def test_a_failing_job_is_undone_alone_and_the_batch_is_retried(setup) -> None:
    writer, path, failures = setup
    gate = threading.Event()
    writer.start()
    writer.submit(lambda conn: gate.wait(5))  # holds the thread so the next three batch up

    def boom(conn) -> None:
        conn.execute("INSERT INTO t VALUES (99)")
        raise RuntimeError("disk on fire")

    first, bad, last = writer.submit(insert(1)), writer.submit(boom), writer.submit(insert(2))
    gate.set()
    assert first.result(5) == 1 and last.result(5) == 1
    with pytest.raises(RuntimeError, match="disk on fire"):
        bad.result(5)
    assert rows(path) == [1, 2]  # 99 was rolled back with its job
    assert failures and isinstance(failures[0], RuntimeError)


def test_a_refusal_fails_only_its_job_without_a_rollback(setup) -> None:
    writer, path, failures = setup
    writer.start()

    def refuse(conn) -> None:
        raise Refusal("already acknowledged")

    ok, no = writer.submit(insert(5)), writer.submit(refuse)
    assert ok.result(5) == 1
    with pytest.raises(Refusal):
        no.result(5)
    assert rows(path) == [5]
    assert failures == []


def test_close_commits_what_is_queued_and_refuses_more(setup) -> None:
    writer, path, _ = setup
    writer.start()
    pending = [writer.submit(insert(i)) for i in range(50)]
    writer.close()
    assert all(p.result(5) == 1 for p in pending)
    assert rows(path) == list(range(50))
    with pytest.raises(WriterClosed):
        writer.submit(insert(7))
