"""Per-key write ordering with coalescing, shared by the stores that write in the background.

A failed write raises for every caller whose save it covered: coalescing never
turns a lost write into a success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Lanes"]


class _Lane:
    __slots__ = ("op", "waiters", "task")

    def __init__(self) -> None:
        self.op: Callable[[], Awaitable[None]] | None = None
        self.waiters: list[asyncio.Future[None]] = []
        self.task: asyncio.Task[None] | None = None


class Lanes:
    """Per-key write ordering with coalescing.

    Writes for one key run one at a time, in call order; while one runs, the
    next queued write replaces any older queued one (only the newest value
    matters), and every caller returns when a write at least as new as theirs
    has finished (or gets its exception). Different keys run concurrently.
    Nothing is kept for idle keys.
    """

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    async def submit(self, key: str, op: Callable[[], Awaitable[None]]) -> None:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.op = op
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.waiters.append(fut)
        if lane.task is None:
            lane.task = asyncio.get_running_loop().create_task(self._drain(key, lane))
        await fut

    async def _drain(self, key: str, lane: _Lane) -> None:
        try:
            while lane.op is not None:
                op, waiters = lane.op, lane.waiters
                lane.op, lane.waiters = None, []
                try:
                    # Runs in this task, not the caller's: a cancelled caller never abandons a write.
                    await op()
                except Exception as exc:
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                except BaseException:  # this task was cancelled (loop shutdown)
                    for w in waiters:
                        w.cancel()
                    raise
                else:
                    for w in waiters:
                        if not w.done():
                            w.set_result(None)
        finally:
            for w in lane.waiters:  # queued behind a cancelled drain
                w.cancel()
            lane.task = None
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    async def wait_idle(self) -> None:
        """Return once every submitted write has finished (for shutdown after write-behind saves)."""
        while self._lanes:
            tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
            if not tasks:
                return
            await asyncio.wait(tasks)

    def __len__(self) -> int:
        return len(self._lanes)
