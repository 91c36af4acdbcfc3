"""The conversations one process holds, and in which order they may be let go.

Every GET mints a conversation, so a crawler or a flood of page views must not
pin memory: a conversation that has had neither an event nor an SSE stream is
*unused*, expires sooner (``unused_ttl``) and is the first to go when the map is
full (oldest first); after them the least recently used go.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Container
from typing import Any

from . import conversation as cv

log = logging.getLogger("stube")


class _Lock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Locks:
    """One lock per conversation, existing only while someone holds or waits for it.

    Events on one conversation are strictly ordered; different conversations run
    concurrently. ``cid in locks`` tells whether one is busy.
    """

    def __init__(self) -> None:
        self._locks: dict[str, _Lock] = {}

    def __contains__(self, cid: object) -> bool:
        return cid in self._locks

    def __call__(self, cid: str) -> _Held:
        return _Held(self._locks, cid)


class _Held:
    """``async with locks(cid)``: a class, not ``@asynccontextmanager`` (every event takes one)."""

    __slots__ = ("locks", "cid", "entry")

    def __init__(self, locks: dict[str, _Lock], cid: str) -> None:
        self.locks = locks
        self.cid = cid

    async def __aenter__(self) -> None:
        entry = self.locks.get(self.cid)
        if entry is None:
            entry = self.locks[self.cid] = _Lock()
        self.entry = entry
        entry.users += 1
        try:
            await entry.lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self.entry.lock.release()
        self._leave()

    def _leave(self) -> None:
        entry = self.entry
        entry.users -= 1
        if entry.users == 0 and self.locks.get(self.cid) is entry:
            del self.locks[self.cid]


class LiveMap:
    """``cid → conversation`` with its use order; every id is either unused or in the use order."""

    def __init__(self) -> None:
        self.conversations: dict[str, dict[str, Any]] = {}
        #: Loaded from the store, wakeup hooks not run yet.
        self.restored: set[str] = set()
        self._unused: dict[str, None] = {}                    # mint order
        # Least recently used first. A plain dict (pop and re-insert moves to the end): an OrderedDict
        # costs a linked-list node per conversation on top of the entry.
        self._recent: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self.conversations)

    def get(self, cid: str) -> dict[str, Any] | None:
        return self.conversations.get(cid)

    def add_unused(self, cid: str, conv: dict[str, Any]) -> dict[str, Any]:
        """A page view's new conversation; returns the value held, without keys at their defaults.

        Page views are many and long-lived (``unused_ttl``), so they are held compactly
        (:func:`stube.conversation.compact`: a ten-key dict is 272 bytes, a nineteen-key one 464).
        """
        self.conversations[cid] = held = cv.compact(conv)
        self._unused[cid] = None
        return held

    def adopt(self, cid: str, conv: dict[str, Any]) -> None:
        """A conversation the store had: it was used (only used ones are saved), and wakes first."""
        self.conversations[cid] = conv
        self.restored.add(cid)
        self._recent[cid] = None

    def use(self, cid: str) -> bool:
        """An event or a stream on ``cid``; true when that is its first use."""
        first = self._unused.pop(cid, 0) is None
        recent = self._recent
        recent.pop(cid, None)
        recent[cid] = None
        return first

    def seen(self, cid: str) -> None:
        """A reload of a used conversation: it moves to the recent end."""
        if self._recent.pop(cid, 0) is None:
            self._recent[cid] = None

    def is_unused(self, cid: str) -> bool:
        return cid in self._unused

    def unused(self) -> int:
        return len(self._unused)

    def drop(self, cid: str) -> None:
        self.conversations.pop(cid, None)
        self.restored.discard(cid)
        self._unused.pop(cid, None)
        self._recent.pop(cid, None)

    def victims(self, cap: int, busy: Container[str]) -> list[str]:
        """Who goes so that one more fits under ``cap``: unused oldest first, then least recent."""
        excess = len(self.conversations) + 1 - max(1, cap)
        out: list[str] = []
        for order in (self._unused, self._recent):
            if excess <= len(out):
                break
            out.extend(itertools.islice((c for c in order if c not in busy), excess - len(out)))
        return out

    def idle(self, now: float, ttl: float | None, unused_ttl: float | None) -> list[str]:
        """Conversations untouched longer than their limit (the smaller one for unused ones)."""
        found = []
        for cid, conv in self.conversations.items():
            limits = [t for t in (ttl, unused_ttl if cid in self._unused else None) if t]
            if limits and now - conv.get("touched", now) > min(limits):
                found.append(cid)
        return found


class Reaper:
    """The background task that ends idle conversations and sweeps expired session stashes."""

    def __init__(self, reap: Callable[[], Awaitable[list[str]]], stash: Any) -> None:
        self._reap = reap
        self._stash = stash
        self._task: asyncio.Task[None] | None = None
        self._swept = 0.0

    def start(self, ttls: tuple[float | None, ...], interval: float | None) -> None:
        """Run every ``interval`` seconds (default: a quarter of the shortest TTL, at most a minute)."""
        limits = [t for t in ttls if t]
        if limits:
            every = interval or max(0.05, min(60.0, min(limits) / 4))
            self._task = asyncio.create_task(self._forever(every))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                reaped = await self._reap()
                if reaped:
                    log.info("reaper ended %d idle conversation(s)", len(reaped))
                sweep = getattr(self._stash, "sweep", None)
                if sweep is not None and time.time() - self._swept > 3600:
                    self._swept = time.time()
                    await sweep()  # expired session stashes
            except Exception:
                log.exception("reaper failed")
