"""The in-process bus, the default: one process, no serialisation."""

from __future__ import annotations

import asyncio
from typing import Any

from .base import Subscription, _check_channel, _check_claim, _check_message, _Fanout

__all__ = ["LocalBus"]


class LocalBus(_Fanout):
    """The in-process bus (the default): one process, no serialisation.

    ``publish`` validates and copies the message, queues a copy to each
    subscription and returns; subscriptions are ready at once and never see a
    gap. :meth:`claim` is always true: the one process is the one that acts.
    """

    def __repr__(self) -> str:
        return f"LocalBus(node_id={self._node_id!r})"

    async def start(self) -> None:
        """Nothing to connect; present so the runtime treats every bus alike."""

    async def close(self) -> None:
        """Drop every subscription (queued messages are not delivered)."""
        self._closing = True
        await self._shut_all()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a copy of ``message`` to each subscriber of ``channel``."""
        _check_channel(channel)
        data = _check_message(channel, message)
        if self._closing:
            raise RuntimeError("the bus is closed")
        self._deliver(channel, data, self._node_id)

    async def claim(self, key: str, ttl: float) -> bool:
        """Always true (after checking the arguments like :meth:`RedisBus.claim`)."""
        _check_claim(key, ttl)
        return True

    async def release(self, key: str) -> None:
        _check_claim(key, 1)

    async def drain(self) -> None:
        """Wait until every queued message has been handled (for tests and shutdown)."""
        while True:
            workers = [s._worker for subs in self._subs.values() for s in subs if s._worker is not None]
            if not workers:
                return
            await asyncio.gather(*workers, return_exceptions=True)

    def _added(self, sub: Subscription, *, first: bool) -> None:
        sub._activate()

    def _removed(self, channel: str) -> None:
        pass
