"""Shared fixtures for the stash tests: one ``backend`` fixture parametrised over the stores.

Import the fixtures into a test module with
``from tests.stash_support import anyio_backend, backend  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stube.stash import FileStashStore, InMemoryStashStore, SQLiteStashStore, Stash, StashConflict

SECRET = "test-secret"


class Counting:
    """A store wrapper that counts what reaches the store (writes, loads, lost CAS races)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.persistent = inner.persistent
        self.loads = self.saves = self.deletes = self.conflicts = 0

    @property
    def writes(self) -> int:
        return self.saves + self.deletes

    async def load(self, key: str) -> Any:
        self.loads += 1
        return await self.inner.load(key)

    async def save(self, key: str, state: dict, expected: str | None, *, ttl: float | None = None) -> str:
        self.saves += 1
        try:
            return await self.inner.save(key, state, expected, ttl=ttl)
        except StashConflict:
            self.conflicts += 1
            raise

    async def delete(self, key: str, expected: str) -> bool:
        self.deletes += 1
        ok = await self.inner.delete(key, expected)
        if not ok:
            self.conflicts += 1
        return ok

    async def sweep(self, cutoff_ms: int) -> int:
        return await self.inner.sweep(cutoff_ms)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Backend:
    """One storage location; every ``store()`` is a new client on it (a 'process')."""

    def __init__(self, name: str, tmp_path: Path, redis_url: str | None) -> None:
        self.name = name
        self.folder = tmp_path / "stash"
        self.database = tmp_path / "stash.sqlite"
        self.redis_url = redis_url
        self._memory = InMemoryStashStore()
        self._stashes: list[Stash] = []
        self._sync = None
        if name == "redis":
            import redis

            self._sync = redis.Redis.from_url(redis_url)
            self._sync.flushdb()

    def store(self) -> Any:
        if self.name == "memory":
            return self._memory
        if self.name == "file":
            return FileStashStore(self.folder)
        if self.name == "sqlite":
            return SQLiteStashStore(self.database)
        from stube.stash_redis import RedisStashStore

        return RedisStashStore(self.redis_url)

    def stash(self, *, count: bool = False, **kw: Any) -> Stash:
        store = self.store()
        if count:
            store = Counting(store)
        kw.setdefault("secret", SECRET)
        st = Stash(store, **kw)
        self._stashes.append(st)
        return st

    def keys(self) -> list[str]:
        """Storage keys at rest."""
        if self.name == "memory":
            return self._memory.keys()
        if self.name == "file":
            return sorted(p.name[:-5] for p in self.folder.glob("*.json"))
        if self.name == "sqlite":
            if not self.database.exists():  # opened lazily: nothing written yet
                return []
            return sorted(k for k, in self._sql("SELECT key FROM stube_stash"))
        prefix = b"stube:stash:"
        return sorted(k[len(prefix):].decode() for k in self._sync.scan_iter(prefix + b"*"))

    def dump(self) -> bytes:
        """Every name and byte at rest, for leak checks."""
        out = []
        if self.name == "memory":
            for k in self._memory.keys():
                out += [k.encode(), (self._memory.raw(k) or "").encode()]
        elif self.name == "file":
            for p in sorted(self.folder.rglob("*")):
                out.append(str(p.relative_to(self.folder)).encode())
                if p.is_file():
                    out.append(p.read_bytes())
        elif self.name == "sqlite":
            for p in sorted(self.database.parent.glob(self.database.name + "*")):  # the file, its WAL
                if not p.name.endswith("-shm"):  # the WAL's index: no data, and readers touch it
                    out += [p.name.encode(), p.read_bytes()]
        else:
            for k in self._sync.scan_iter(b"*"):
                out.append(k)
                for f, v in self._sync.hgetall(k).items():
                    out += [f, v]
        return b"\n".join(out)

    def corrupt(self, key: str) -> None:
        """Overwrite ``key``'s stored value with garbage (keeping a version where there is one)."""
        if self.name == "memory":
            raise NotImplementedError("the in-memory store only holds JSON it wrote itself")
        if self.name == "file":
            (self.folder / f"{key}.json").write_text("{not json")
        elif self.name == "sqlite":
            self._sql("UPDATE stube_stash SET state = '{not json' WHERE key = ?", key)
        else:
            self._sync.hset(b"stube:stash:" + key.encode(), b"s", b"{not json")

    def _sql(self, query: str, *args: Any) -> list[Any]:
        """Run ``query`` on the sqlite backend's file directly (another client, as a test would)."""
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.database, timeout=30)) as conn, conn:
            return conn.execute(query, args).fetchall()

    async def aclose(self) -> None:
        for st in self._stashes:
            await st.aclose()
        if self._sync is not None:
            self._sync.close()


BACKENDS = ["memory", "file", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str) -> AsyncIterator[Backend]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    b = Backend(request.param, tmp_path, url)
    try:
        yield b
    finally:
        await b.aclose()
