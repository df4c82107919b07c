"""Several receivers of one installation (`--url http://a:8787,http://b:8787`) and the one
in use.

The dashboard polls the receiver in use and stays on it while it answers; the poller moves
to the next one in the list (wrapping around) when it stops answering (docs/dashboard.md,
"Several receivers"). Everything else the dashboard asks (acknowledgements, silences, test
alerts, the dialogs' reads) goes through this object to the receiver in use, and is tried
once on the next receiver when it could not even be sent there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from txmon_tui.client import TxmonApi, TxmonClient, Unreachable

Switched = Callable[[TxmonClient, TxmonClient, str], None]


class Receivers(TxmonApi):
    """The receivers in the order given; requests go to `current`."""

    def __init__(self, clients: Sequence[TxmonClient]) -> None:
        if not clients:
            raise ValueError("at least one receiver is needed")
        self.clients = list(clients)
        self.index = 0
        self.on_switch: Switched | None = None  # told when a request moved to another one

    def __len__(self) -> int:
        return len(self.clients)

    @property
    def current(self) -> TxmonClient:
        """The receiver in use."""
        return self.clients[self.index]

    @property
    def several(self) -> bool:
        """True when there is another receiver to move to."""
        return len(self.clients) > 1

    def after(self, client: TxmonClient) -> TxmonClient:
        """The receiver after `client` in the list, wrapping around."""
        return self.clients[(self.clients.index(client) + 1) % len(self.clients)]

    def advance(self, failed: TxmonClient) -> TxmonClient:
        """Move on from `failed` to the next receiver and return the one now in use.

        Nothing moves when `failed` is no longer the one in use (something else moved on
        already), so two parts of the dashboard noticing the same failure move once.
        """
        if failed is self.current:
            self.index = self.clients.index(self.after(failed))
        return self.current

    async def aclose(self) -> None:
        """Close every receiver's connection pool."""
        for client in self.clients:
            await client.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Ask the receiver in use; when the request could not be sent there at all, ask the
        next one once and, when it answers, stay on it."""
        first = self.current
        call: dict[str, Any] = {"params": params, "json": json, "timeout": timeout}
        try:
            return await first._request(method, path, **call)
        except Unreachable as exc:
            if exc.sent or not self.several:
                raise
            second = self.after(first)
            try:
                answer = await second._request(method, path, **call)
            except Unreachable as again:
                raise Unreachable(f"{exc}; and {again}", exc.reason, sent=again.sent) from None
            if first is self.current:
                self.advance(first)
                if self.on_switch is not None:
                    self.on_switch(first, second, exc.reason)
            return answer


__all__ = ["Receivers", "Switched"]
