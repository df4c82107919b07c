"""A restarted receiver rebuilds what its detector learned from the stored history: the
learned score tails too, so bursts a status had learned as its normal do not page again."""

from __future__ import annotations

from server.config import Config
from server.core.receiver import Receiver
from tests.conftest import Live
from tests.detect.test_detect_tails import WEEK_START, short_bursts, sparse_feed

DAY = 86_400


def test_a_restart_does_not_page_on_the_bursts_the_status_had_learned(make_receiver) -> None:
    # A 3-minute burst of failed (8 a minute against 0.3) four times a day for a week: the
    # status learns it as its normal and stops paging (tests/detect/test_detect_tails.py).
    bursts = short_bursts()
    records = sparse_feed(9, bursts)
    restart = WEEK_START + 8 * DAY
    live: Live = make_receiver()
    history = [
        {"timestamp": r.ts, "status": r.status, "count": r.count} for r in records if r.ts < restart
    ]
    for i in range(0, len(history), 1000):
        answer = live.client.post("/api/v1/transactions", json=history[i : i + 1000])
        assert answer.status_code == 201, answer.text
    live.receiver.close()
    live.receiver.close = lambda: None  # closed here, not by the fixture

    restarted = Receiver(Config(db=live.config.db, port=0, access_log="off"))
    try:
        engine = restarted.engine
        opened = []
        for rec in records:
            if rec.ts >= restart:
                opened += [e.alert for e in engine.ingest(rec).events if e.type == "opened"]
        assert [a for a in opened if a.status == "failed"] == [], opened
    finally:
        restarted.close()
