"""The dashboard's HTTP client against the real receiver: typed answers and clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Live, free_port
from tests.tui.test_tui_app import seed
from txmon_tui.client import ApiError, TxmonClient, Unauthorized, Unreachable


def call(url: str, work: Callable[[TxmonClient], Any], token: str | None = None) -> Any:
    async def main() -> Any:
        client = TxmonClient(url, token, timeout=5)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_reads_are_typed(live: Live) -> None:
    seed(live)
    summary = call(live.url, lambda c: c.summary())
    assert summary.firing == 1 and set(summary.statuses) == {"approved", "denied"}
    assert summary.statuses["denied"].baseline is not None
    assert len(summary.hourly_profile["denied"]) == 24
    series = call(live.url, lambda c: c.series())
    assert len(series.series["denied"]) == 60 and series.series["denied"][-1] >= 70
    rows = call(live.url, lambda c: c.transactions(limit=5))
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    newer = call(live.url, lambda c: c.transactions(after_id=rows[1].id))
    assert [r.id for r in newer] == [rows[0].id]
    high = call(live.url, lambda c: c.transactions(severities=["high"], limit=1000))
    assert high and {r.severity for r in high} == {"high"}
    (alert,) = call(live.url, lambda c: c.alerts())
    detail = call(live.url, lambda c: c.alert(alert.id))
    assert detail.timeline[0].type == "opened"


def test_a_conflict_carries_the_receivers_error_text(live: Live) -> None:
    alert = seed(live)
    call(live.url, lambda c: c.ack(alert["id"], "ana"))
    with pytest.raises(ApiError) as caught:
        call(live.url, lambda c: c.ack(alert["id"], "bob"))
    assert caught.value.status == 409 and not caught.value.transient
    assert (
        caught.value.message
        == live.client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"by": "x"}).json()["error"]
    )
    with pytest.raises(ApiError, match="404"):
        call(live.url, lambda c: c.alert(999))


def test_unreachable_and_unauthorized(make_receiver: Callable[..., Live]) -> None:
    with pytest.raises(Unreachable, match="connection refused"):
        call(f"http://127.0.0.1:{free_port()}", lambda c: c.summary())
    live = make_receiver(token="right")
    with pytest.raises(Unauthorized, match="rejected the token"):
        call(live.url, lambda c: c.summary(), token="wrong")
    with pytest.raises(Unauthorized, match="needs a token"):
        call(live.url, lambda c: c.summary())
    assert call(live.url, lambda c: c.summary(), token="right").total == 0
