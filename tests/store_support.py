"""Real conversations for the store tests and benchmarks, built with the Harness."""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stube import Component, answer, call, event, set_keyed_children
from stube.conversation import new_cid
from stube.store import FileStore, InMemoryStore
from stube.store.sqlite import SQLiteStore
from stube.testing import Harness


class Confirm(Component):
    name = "store-tests/confirm"
    template_string = '<div {{ root() }}>{{ self.question }} <button {{ on("yes") }}>Yes</button></div>'

    def __init__(self, question: str) -> None:
        self.question = question

    @event
    def yes(self) -> Any:
        return answer(True)


class Counter(Component):
    name = "store-tests/counter"
    template_string = (
        '<div {{ root() }}><span class="count">{{ self.n }}</span>'
        '<button {{ on("inc") }}>+</button><button {{ on("reset") }}>reset</button></div>'
    )

    def __init__(self, n: int = 0, notes: list[str] | None = None) -> None:
        self.n = n
        self.notes = notes or []

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def add(self, amount: int, note: str = "") -> None:
        self.n += amount
        if note:
            self.notes.append(note)

    @event
    def reset(self) -> Any:
        return call(Confirm("Reset the counter?"), resume="on_reset")

    def on_reset(self, ok: bool) -> None:
        if ok:
            self.n = 0


def counter_conversation(events: int = 3) -> dict[str, Any]:
    """A counter conversation after ``events`` increments, a call and its answer: real kernel output."""
    h = Harness(Counter(n=1))
    for _ in range(events):
        h.dispatch("inc")
    h.dispatch("add", amount=5, note="ünïcode ✓ \"quoted\" </script>")
    h.dispatch("reset")
    assert h.frames == ["store-tests/confirm", "store-tests/counter"][::-1]
    h.dispatch("yes")
    h.dispatch("inc")
    assert h.top.n == 1
    return h.conversation


def big_conversation(note_size: int) -> dict[str, Any]:
    """A conversation whose state carries ``note_size`` characters, for slow writes."""
    h = Harness(Counter(n=0))
    h.dispatch("add", amount=1, note="x" * note_size)
    h.dispatch("inc")
    return h.conversation


def clone(conv: dict[str, Any], cid: str | None = None, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``conv`` under a fresh id (or ``cid``), with top-level ``changes``."""
    out = copy.deepcopy(conv)
    out["id"] = cid or new_cid()
    out.update(changes)
    return out


# -- one fixture over every conversation store -----------------------------------------------


class StoreBackend:
    """One storage location; every ``store()`` is a new store on it (another process, for Redis/SQLite)."""

    def __init__(self, name: str, tmp_path: Path, redis_url: str | None) -> None:
        self.name = name
        self.folder = tmp_path / "conversations"
        self.database = tmp_path / "conversations.sqlite"
        self.redis_url = redis_url
        self.shared = name in ("sqlite", "redis")  # several processes may use one location
        self._stores: list[Any] = []
        self._memory = InMemoryStore()

    def store(self) -> Any:
        if self.name == "memory":
            return self._memory
        if self.name == "file":
            s: Any = FileStore(self.folder)
        elif self.name == "sqlite":
            s = SQLiteStore(self.database)
        else:
            from stube.redis_store import RedisStore

            s = RedisStore(f"{self.redis_url}?socket_timeout=1")
        self._stores.append(s)
        return s

    @contextlib.asynccontextmanager
    async def broken(self, store: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
        """While inside, writes cannot become durable: a full disk, a locked database, a paused Redis."""
        if self.name == "file":
            def no_space(fd: int) -> None:
                raise OSError(errno.ENOSPC, "No space left on device")
            with monkeypatch.context() as m:
                m.setattr(os, "fsync", no_space)
                yield
        elif self.name == "sqlite":
            # A write waits for the lock up to the store's busy timeout: 0.1 s while inside.
            timeout, store._db.timeout = store._db.timeout, 0.1
            await store._db.run(lambda c: c.execute("PRAGMA busy_timeout=100"))
            other = sqlite3.connect(self.database, isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock for too long
            try:
                yield
            finally:
                other.execute("ROLLBACK")
                other.close()
                store._db.timeout = timeout
                await store._db.run(lambda c: c.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}"))
        else:
            import redis

            raw = redis.Redis.from_url(self.redis_url)
            # Writes wait, the client times out (1 s); long enough for every step inside, lifted on the way out.
            raw.execute_command("CLIENT", "PAUSE", "30000", "WRITE")
            try:
                yield
            finally:
                raw.execute_command("CLIENT", "UNPAUSE")
                raw.close()

    async def aclose(self) -> None:
        for s in self._stores:
            await s.aclose()


BACKENDS = ["memory", "file", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]
DURABLE = ["file", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]
SHARED = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreBackend]:
    """Parametrise with ``@pytest.mark.parametrize("backend", DURABLE, indirect=True)``."""
    url = None
    if request.param == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        with redis.Redis.from_url(url) as raw:
            raw.flushdb()
    b = StoreBackend(request.param, tmp_path, url)
    try:
        yield b
    finally:
        await b.aclose()


class Item(Component):
    name = "store-tests/item"
    template_string = '<li {{ root() }}>{{ self.label }} {{ self.n }} <button {{ on("inc") }}>+</button></li>'

    def __init__(self, label: str) -> None:
        self.label = label
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


class Page(Component):
    """A page of ``size`` keyed items: an event on one item changes that item only."""

    name = "store-tests/page"
    template_string = '<div {{ root() }}>{{ keyed("items", tag="ul") }}</div>'

    def __init__(self, size: int) -> None:
        self.size = size

    def start(self) -> Any:
        return set_keyed_children("items", [(f"k{i}", Item(f"item {i}")) for i in range(self.size)])


def page_harness(size: int) -> tuple[Harness, str]:
    """A mounted page of ``size`` items and the instance id of its first item."""
    h = Harness(Page(size))
    group = h.conversation["instances"][h.conversation["stack"][0]]["keyed"]["items"]
    return h, group["iids"]["k0"]
