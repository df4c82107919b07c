"""Faults injected into a group of receiver processes on one PostgreSQL, with timers scaled
down (lease TTL 2 s, renewal 0.5 s): SIGKILL and SIGSTOP of the leader, connections
terminated by the server, and a PostgreSQL crash, each under ingest load. After each, the
invariants of docs/architecture.md must hold: every acknowledged record stored once, terms
that never go back, one alert per incident, each message delivered, duplicates only after
an ambiguous send, and takeover within the bound the settings give."""

from __future__ import annotations

import itertools
import os
import re
import signal
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, wait_until
from tests.notify.fake_telegram import FakeTelegram

TTL, RENEW, STEP = 2.0, 0.5, 0.2
# Takeover after a leader's death, as issue 14 bounds it: the lease runs out at most a TTL
# after the kill and a survivor's next round, at most a renewal later, takes it.
TAKEOVER_BOUND = TTL + RENEW
FAST = {
    "TXMON_LEASE_TTL_SECONDS": str(TTL),
    "TXMON_LEASE_RENEW_SECONDS": str(RENEW),
    "TXMON_DETECT_INTERVAL": str(STEP),
    "TXMON_CLAIM_SECONDS": "5",
    "TXMON_TELEGRAM_TIMEOUT": "2",
    "TXMON_GROUP_WAIT": "0",
    "TXMON_ACCESS_LOG": "off",
}
START = 1_752_300_000 - 1_752_300_000 % 3600  # an hour boundary in July 2025
HISTORY = 90
SPIKES = (range(100, 104), range(125, 129))
KILLS = 10  # denied at 75 instead of about 6


def _minute(m: int) -> list[dict[str, Any]]:
    denied = 75 if any(m in spike for spike in SPIKES) else 5 + m % 4
    ts = START + m * 60
    return [
        {"timestamp": ts, "status": "approved", "count": 115 + m % 11},
        {"timestamp": ts, "status": "denied", "count": denied},
    ]


class Cluster:
    """Receiver processes sharing one PostgreSQL database, started and killed by the test."""

    def __init__(self, tmp_path: Path, url: str, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.url = url
        self.env = {**FAST, **env}
        self.procs: list[ServerProcess] = []
        self.paused: set[int] = set()  # pids stopped with SIGSTOP: out of the balancer
        self._names = itertools.count()

    def start(self) -> ServerProcess:
        proc = ServerProcess(
            self.tmp_path / f"unused-{next(self._names)}.db",
            "--store",
            self.url,
            env=self.env,
        )
        self.procs.append(proc)
        return proc

    @property
    def alive(self) -> list[ServerProcess]:
        """Running and not stopped: what a load balancer's health check would send to."""
        return [p for p in self.procs if p.proc.poll() is None and p.proc.pid not in self.paused]

    def pause(self, proc: ServerProcess) -> None:
        os.kill(proc.proc.pid, signal.SIGSTOP)
        self.paused.add(proc.proc.pid)

    def resume(self, proc: ServerProcess) -> None:
        os.kill(proc.proc.pid, signal.SIGCONT)
        self.paused.discard(proc.proc.pid)

    def health(self, proc: ServerProcess) -> dict[str, Any] | None:
        try:
            answer = httpx.get(proc.url + "/healthz", timeout=0.5)
        except httpx.HTTPError:
            return None
        return answer.json() if answer.status_code == 200 else None

    def leader(self, newer_than: int = 0) -> tuple[ServerProcess, int] | None:
        for proc in self.alive:
            doc = self.health(proc)
            if doc and doc["role"] == "leader" and doc["term"] > newer_than:
                return proc, doc["term"]
        return None

    def close(self) -> None:
        for proc in self.procs:
            if proc.proc.poll() is None:
                with_stop = proc.proc.send_signal
                with_stop(signal.SIGCONT)
                proc.kill()


class Feeder:
    """Posts one minute per request, round robin, each with its own Idempotency-Key; a
    failed request goes to the next receiver with the same key and body until one answers
    2xx, as a client behind a load balancer would retry."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.acked: list[dict[str, Any]] = []
        self.retries = 0
        self._turn = itertools.count()
        self._client = httpx.Client(timeout=3)

    def post(self, key: str, body: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alive = self.cluster.alive
            if alive:
                proc = alive[next(self._turn) % len(alive)]
                try:
                    answer = self._client.post(
                        proc.url + "/api/v1/transactions",
                        json=body,
                        headers={"Idempotency-Key": key},
                    )
                    if answer.status_code == 201:
                        self.acked += body
                        return
                    assert answer.status_code in (503, 429), answer.text
                except httpx.HTTPError:
                    pass
            self.retries += 1
            time.sleep(0.05)
        raise AssertionError(f"no receiver accepted {key} within 60 s")

    def history(self) -> None:
        self.post("history", [r for m in range(HISTORY) for r in _minute(m)])

    def minutes(self, first: int, last: int, pace: Any = None) -> None:
        """Post minutes first..last-1; `pace(m)` may hold minute m back (returns when due)."""
        for m in range(first, last):
            if pace is not None:
                pace(m)
            self.post(f"m{m}", _minute(m))


def _stored(url: str) -> Counter:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT ts, status, count FROM transactions").fetchall()
    return Counter(rows)


def _alerts(url: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, kind, first_seen, state FROM alerts ORDER BY id"
        ).fetchall()


def _outbox(url: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT kind, state, attempts FROM outbox ORDER BY id").fetchall()


def _assert_stored_once(feeder: Feeder, url: str) -> None:
    acked = Counter((r["timestamp"], r["status"], r["count"]) for r in feeder.acked)
    assert _stored(url) == acked


def _resolved_and_drained(url: str) -> bool:
    alerts = _alerts(url)
    outbox = _outbox(url)
    return (
        len(alerts) == len(SPIKES)
        and all(a[3] == "resolved" for a in alerts)
        and bool(outbox)
        and all(state == "sent" for _, state, _ in outbox)
    )


def _deliveries(telegram: FakeTelegram) -> Counter:
    """How many times each (event, alert id) reached the chat, grouped openings unpacked."""
    seen: Counter = Counter()
    for text in telegram.texts:
        head = text.splitlines()[0]
        if "[txmon RESOLVED]" in head:
            seen.update(("resolved", int(n)) for n in re.findall(r"#(\d+)", text)[:1])
        elif "alerts opened" in head:
            seen.update(("opened", int(n)) for n in re.findall(r"#(\d+) denied spike", text))
        else:
            seen.update(("opened", int(n)) for n in re.findall(r"New alert #(\d+)", text))
    return seen


EVERY_MESSAGE = {(kind, n) for kind in ("opened", "resolved") for n in (1, 2)}


def _running(cluster: Cluster, receivers: int, upto: int) -> tuple[ServerProcess, int, Feeder]:
    """Start the receivers, wait for a leader, then feed the history and minutes up to
    `upto`: (the leader, its term, the feeder)."""
    for _ in range(receivers):
        cluster.start()
    leader, term = wait_until(cluster.leader)
    feeder = Feeder(cluster)
    feeder.history()
    feeder.minutes(HISTORY, upto)
    return leader, term, feeder


def _settled_as_without_faults(cluster: Cluster, feeder: Feeder, calm: list[tuple]) -> None:
    """Once the incidents resolved and the outbox drained: every acknowledged record once,
    and the alerts of the run without faults."""
    wait_until(lambda: _resolved_and_drained(cluster.url), timeout=60)
    _assert_stored_once(feeder, cluster.url)
    alerts = [a[:3] for a in _alerts(cluster.url)]
    assert [a[:2] for a in alerts] == [a[:2] for a in calm]
    # One alert per spike, opened within the spike. Not always in the same minute: a new
    # leader rebuilds its state by replaying whole stored minutes, while the live leader was
    # fed each minute in parts as the rollup gained them, and the second spike has been seen
    # to open two minutes apart (docs/deploy.md, "What a takeover keeps").
    for (_status, _kind, first_seen), spike in zip(alerts, SPIKES, strict=True):
        assert START + spike.start * 60 <= first_seen < START + spike.stop * 60, alerts
    assert alerts[0] == calm[0]


@pytest.fixture
def telegram():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, telegram: FakeTelegram):
    group = Cluster(tmp_path, pg_url, telegram.env("42"))
    yield group
    group.close()


@pytest.fixture(scope="module")
def calm_alerts(tmp_path_factory, pg_cluster) -> list[tuple]:
    """The alerts of the scripted trace on one receiver with no faults."""
    url = pg_cluster.create_database()
    with FakeTelegram() as fake:
        group = Cluster(tmp_path_factory.mktemp("calm"), url, fake.env("42"))
        try:
            group.start()
            feeder = Feeder(group)
            feeder.history()
            feeder.minutes(HISTORY, 150)
            wait_until(lambda: _resolved_and_drained(url), timeout=30)
        finally:
            group.close()
    return [a[:3] for a in _alerts(url)]


def test_leader_killed_mid_incident_one_alert_one_telegram_opening(
    cluster: Cluster, telegram: FakeTelegram, calm_alerts: list[tuple]
) -> None:
    leader, term, feeder = _running(cluster, 2, 102)  # two minutes into the first spike
    killed = time.monotonic()
    leader.kill()
    _, new_term = wait_until(lambda: cluster.leader(newer_than=term), timeout=10)
    takeover = time.monotonic() - killed
    print(f"\ntakeover {takeover:.2f} s after the leader was killed (bound {TAKEOVER_BOUND} s)")
    assert new_term > term and takeover < TAKEOVER_BOUND, takeover
    feeder.minutes(102, 150)
    _settled_as_without_faults(cluster, feeder, calm_alerts)
    assert _deliveries(telegram) == Counter(dict.fromkeys(EVERY_MESSAGE, 1)), telegram.texts


def test_ten_leader_kills_under_load_lose_nothing_and_double_nothing(
    cluster: Cluster, telegram: FakeTelegram, calm_alerts: list[tuple]
) -> None:
    for _ in range(3):
        cluster.start()
    feeder = Feeder(cluster)
    feeder.history()
    stop = threading.Event()
    takeovers: list[float] = []
    terms: list[int] = []

    def pace(m: int) -> None:
        """The trace spread over the ten kills, so every kill lands amid ingest."""
        deadline = time.monotonic() + 30
        due = min(KILLS, (m - HISTORY) * KILLS // 50)  # the last ten minutes after them all
        while len(takeovers) < due and time.monotonic() < deadline:
            time.sleep(0.05)

    load = threading.Thread(
        target=lambda: (feeder.minutes(HISTORY, 150, pace), stop.set()), daemon=True
    )
    load.start()
    while len(takeovers) < KILLS and not stop.is_set():
        found = wait_until(cluster.leader, timeout=10)
        leader, term = found
        terms.append(term)
        killed = time.monotonic()
        leader.kill()
        _, new_term = wait_until(lambda t=term: cluster.leader(newer_than=t), timeout=10)
        takeovers.append(time.monotonic() - killed)
        assert new_term > term
        cluster.start()  # the orchestrator replaces the dead receiver
    load.join(timeout=120)
    assert len(takeovers) == KILLS, f"the load ended after {len(takeovers)} kills"
    assert terms == sorted(terms) and len(set(terms)) == len(terms)
    assert max(takeovers) < TAKEOVER_BOUND, takeovers
    print(
        f"\ntakeover over {len(takeovers)} kills: median {statistics.median(takeovers):.2f} s,"
        f" max {max(takeovers):.2f} s (bound {TAKEOVER_BOUND:.1f} s); client retries"
        f" {feeder.retries}"
    )
    _settled_as_without_faults(cluster, feeder, calm_alerts)
    # Every message went out at least once; a repeat needs a send cut off by a kill.
    delivered = _deliveries(telegram)
    assert set(delivered) == EVERY_MESSAGE, telegram.texts
    assert sum(delivered.values()) - len(delivered) <= len(takeovers), telegram.texts


def test_a_stopped_leader_is_replaced_and_its_late_writes_are_fenced(
    cluster: Cluster, calm_alerts: list[tuple]
) -> None:
    leader, term, feeder = _running(cluster, 2, 101)
    paused = time.monotonic()
    cluster.pause(leader)
    try:
        _, new_term = wait_until(lambda: cluster.leader(newer_than=term), timeout=10)
        assert time.monotonic() - paused < TAKEOVER_BOUND
        feeder.minutes(101, 120)
    finally:
        cluster.resume(leader)
    # Awake again, it finds its term over: it follows and its stale writes changed nothing.
    wait_until(lambda: (cluster.health(leader) or {}).get("role") == "follower", timeout=10)
    assert cluster.health(leader)["term"] >= new_term
    feeder.minutes(120, 150)
    _settled_as_without_faults(cluster, feeder, calm_alerts)


def test_terminated_sessions_and_a_postgresql_crash_are_survived_without_restarts(
    cluster: Cluster, pg_cluster, calm_alerts: list[tuple]
) -> None:
    import psycopg

    _, _, feeder = _running(cluster, 2, 101)
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    feeder.minutes(101, 110)
    pg_cluster.stop("immediate")  # a crash: no checkpoint, no goodbye to clients
    pg_cluster.start()
    back = time.monotonic()
    probe = cluster.alive[0]
    client = httpx.Client(timeout=2)

    def accepted() -> bool:
        body = _minute(110)
        answer = client.post(
            probe.url + "/api/v1/transactions", json=body, headers={"Idempotency-Key": "m110"}
        )
        if answer.status_code == 201:
            feeder.acked += body
            return True
        return False

    wait_until(accepted, timeout=10, every=0.05)
    recovered = time.monotonic() - back
    print(f"\ningest 2xx again {recovered:.2f} s after PostgreSQL accepted connections")
    assert recovered < 2.0
    feeder.minutes(111, 150)
    assert len(cluster.alive) == 2  # nobody was restarted
    _settled_as_without_faults(cluster, feeder, calm_alerts)


@pytest.mark.parametrize("fault", ["SIGKILL", "SIGSTOP"])
def test_a_sender_stopped_mid_send_is_replaced_after_its_claim_with_one_repeat(
    cluster: Cluster, telegram: FakeTelegram, calm_alerts: list[tuple], fault: str
) -> None:
    import psycopg

    telegram.hang_seconds = 1.5
    telegram.script(["slow"])  # the first message takes 1.5 s to be answered
    _, _, feeder = _running(cluster, 2, 104)

    def sending() -> str | None:
        with psycopg.connect(cluster.url) as conn:
            row = conn.execute("SELECT claimed_by FROM outbox WHERE state = 'sending'").fetchone()
        return row[0] if row else None

    holder = wait_until(sending, timeout=20, every=0.01)
    (sender,) = [p for p in cluster.alive if f":{p.proc.pid}:" in holder]
    if fault == "SIGKILL":
        sender.kill()  # between the send and its record: an ambiguous send
        cluster.start()
    else:
        cluster.pause(sender)  # the same, but it wakes up later
    try:
        feeder.minutes(104, 150)
        _settled_as_without_faults(cluster, feeder, calm_alerts)
    finally:
        if fault == "SIGSTOP":
            cluster.resume(sender)
    if fault == "SIGSTOP":  # awake, it reports its old send: its claim is gone, nothing moves
        time.sleep(2 * STEP + 1.5)
        assert all(state == "sent" for _, state, _ in _outbox(cluster.url))
    delivered = _deliveries(telegram)
    assert set(delivered) == EVERY_MESSAGE, telegram.texts
    assert sum(delivered.values()) - len(delivered) <= 1, telegram.texts
