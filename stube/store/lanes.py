"""Per-key write ordering with coalescing, shared by the stores that write in the background.

A failed write raises for every caller whose save it covered: coalescing never
turns a lost write into a success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

__all__ = ["Lanes"]

#: Starts a write and returns the future it completes: the write proceeds whatever its callers do.
Start = Callable[[], "asyncio.Future[None]"]


class _Lane:
    __slots__ = ("running", "waiters", "start", "queued")

    def __init__(self) -> None:
        self.running: asyncio.Future[None] | None = None
        self.waiters: list[asyncio.Future[None]] = []  # callers of the running write
        self.start: Start | None = None  # the newest write queued behind it
        self.queued: list[asyncio.Future[None]] = []  # its callers (and those of the writes it replaced)


class Lanes:
    """Per-key write ordering with coalescing.

    Writes for one key run one at a time, in call order; while one runs, the
    next queued write replaces any older queued one (only the newest value
    matters), and every caller returns when a write at least as new as theirs
    has finished (or gets its exception). Different keys run concurrently.
    Nothing is kept for idle keys.

    The lanes run no task of their own: a write is a future (:meth:`start`),
    and the next one starts from its completion callback. A cancelled caller
    never abandons a write.
    """

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    def start(self, key: str, start: Start) -> asyncio.Future[None]:
        """Queue ``start`` on ``key``'s lane; the future this caller awaits (the write's outcome)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
            self._run(key, lane, start, [waiter])
        else:
            lane.start = start
            lane.queued.append(waiter)
        return waiter

    async def submit(self, key: str, op: Callable[[], Awaitable[None]]) -> None:
        """:meth:`start` for a coroutine write (run as a task of its own)."""
        await self.start(key, lambda: asyncio.ensure_future(op()))

    def _run(self, key: str, lane: _Lane, start: Start, waiters: list[asyncio.Future[None]]) -> None:
        lane.waiters = waiters
        try:
            running = start()
        except Exception as exc:  # failed before it began: the same outcome, one callback later
            running = asyncio.get_running_loop().create_future()
            running.set_exception(exc)
        lane.running = running
        running.add_done_callback(partial(self._done, key, lane))

    def _done(self, key: str, lane: _Lane, running: asyncio.Future[None]) -> None:
        cancelled = running.cancelled()
        exc = None if cancelled else running.exception()
        for waiter in lane.waiters:
            if waiter.done():
                continue
            if cancelled:  # the loop is shutting down
                waiter.cancel()
            elif exc is not None:
                waiter.set_exception(exc)
            else:
                waiter.set_result(None)
        if lane.start is not None and not cancelled:
            start, waiters = lane.start, lane.queued
            lane.start, lane.queued = None, []
            self._run(key, lane, start, waiters)
            return
        for waiter in lane.queued:  # queued behind a cancelled write
            waiter.cancel()
        lane.running = None
        if self._lanes.get(key) is lane:
            del self._lanes[key]

    async def wait_idle(self) -> None:
        """Return once every submitted write has finished (for shutdown after write-behind saves)."""
        while self._lanes:
            running = [lane.running for lane in self._lanes.values() if lane.running is not None]
            if not running:
                return
            await asyncio.wait(running)
            await asyncio.sleep(0)  # the completion callbacks run (and start what was queued)

    def __len__(self) -> int:
        return len(self._lanes)
