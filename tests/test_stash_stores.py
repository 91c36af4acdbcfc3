"""The stash stores' own contract: compare-and-set, atomic files, expiry, odd data at rest."""

from __future__ import annotations

import logging
import os
import stat

import anyio
import pytest

from stube.stash import CORRUPT, FileStashStore, Stash, StashConflict, StashStore
from tests.stash_support import Backend, anyio_backend, backend  # noqa: F401

pytestmark = pytest.mark.anyio

KEY = "a" * 64
STATE = {"views": {"v": {"vsn": 1, "data": {"k": 1}}}, "last_seen_at": 1}


async def test_compare_and_set(backend: Backend) -> None:
    store = backend.store()
    assert isinstance(store, StashStore)
    assert await store.load(KEY) is None
    v1 = await store.save(KEY, STATE, None)
    assert await store.load(KEY) == (STATE, v1)
    with pytest.raises(StashConflict):
        await store.save(KEY, STATE, None)           # it exists now
    with pytest.raises(StashConflict):
        await store.save(KEY, STATE, "not-the-version")
    other = {**STATE, "last_seen_at": 2}
    v2 = await store.save(KEY, other, v1)
    assert v2 != v1
    with pytest.raises(StashConflict):
        await store.save(KEY, STATE, v1)             # stale
    assert await store.load(KEY) == (other, v2)
    assert await store.delete(KEY, v1) is False
    assert await store.load(KEY) == (other, v2)
    assert await store.delete(KEY, v2) is True
    assert await store.delete(KEY, v2) is False
    assert await store.load(KEY) is None


async def test_versions_are_never_reused(backend: Backend) -> None:
    """A key deleted and created again must not accept a writer holding the old version (ABA)."""
    store = backend.store()
    seen = set()
    for _ in range(20):
        v = await store.save(KEY, STATE, None)
        assert v not in seen
        seen.add(v)
        assert await store.delete(KEY, v)
    v = await store.save(KEY, STATE, None)
    for old in seen:
        with pytest.raises(StashConflict):
            await store.save(KEY, STATE, old)
    assert (await store.load(KEY))[1] == v


@pytest.mark.parametrize("key", ["../evil", "a/b", "", "x" * 129, "sp ace", "dot.dot"])
async def test_storage_keys_are_checked(backend: Backend, key: str) -> None:
    store = backend.store()
    with pytest.raises(ValueError):
        await store.save(key, STATE, None)
    assert backend.keys() == []


@pytest.mark.parametrize("backend", ["file", "sqlite", pytest.param("redis", marks=pytest.mark.redis)],
                         indirect=True)
async def test_a_corrupt_value_reads_as_empty_and_can_be_overwritten(backend: Backend, caplog) -> None:
    st = backend.stash()
    s = st.session("sid")
    await s.merge("v", {"k": 1})
    backend.corrupt(s.key)
    with caplog.at_level(logging.WARNING, logger="stube.stash"):
        assert await s.views() == {}
    assert "corrupt" in caplog.text
    assert await s.merge("v", {"k": 2}) is True
    assert await backend.stash().session("sid").views() == {"v": {"vsn": 1, "data": {"k": 2}}}


async def test_malformed_slices_are_ignored(backend: Backend, caplog) -> None:
    st = backend.stash()
    s = st.session("sid")
    state = {"views": {"good": {"vsn": 1, "data": {"k": 1}}, "bad": {"vsn": "1", "data": {}},
                       "worse": [1, 2]}, "last_seen_at": None}
    await st.store.save(s.key, state, None)
    with caplog.at_level(logging.WARNING, logger="stube.stash"):
        assert await s.views() == {"good": {"vsn": 1, "data": {"k": 1}}}
    assert "malformed" in caplog.text
    await s.merge("good", {"k": 2})
    assert await s.views() == {"good": {"vsn": 1, "data": {"k": 2}}}


# -- the file store --


async def test_file_saves_are_atomic_and_private(tmp_path) -> None:
    store = FileStashStore(tmp_path)
    v = None
    for i in range(30):
        v = await store.save(KEY, {**STATE, "last_seen_at": i}, v)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".locks", f"{KEY}.json"]  # no temp file left behind
    mode = stat.S_IMODE(os.stat(tmp_path / f"{KEY}.json").st_mode)
    assert mode & 0o077 == 0
    assert (await store.load(KEY))[0]["last_seen_at"] == 29


async def test_a_failed_file_save_leaves_the_old_state(tmp_path, monkeypatch) -> None:
    store = FileStashStore(tmp_path)
    v = await store.save(KEY, STATE, None)

    def boom(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk on fire"):
        await store.save(KEY, {**STATE, "last_seen_at": 2}, v)
    monkeypatch.undo()
    assert await store.load(KEY) == (STATE, v)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".locks", f"{KEY}.json"]


async def test_a_failed_save_leaves_the_actor_consistent(tmp_path, monkeypatch) -> None:
    st = Stash(FileStashStore(tmp_path), secret="s")
    s = st.session("sid")
    await s.merge("v", {"k": 1})

    def boom(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        await s.merge("v", {"k": 2})
    monkeypatch.undo()
    assert await s.get_view("v") == {"k": 1}
    assert await s.merge("v", {"k": 3}) is True
    assert await Stash(FileStashStore(tmp_path), secret="s").session("sid").get_view("v") == {"k": 3}
    await st.aclose()


async def test_a_foreign_file_is_corrupt(tmp_path) -> None:
    store = FileStashStore(tmp_path)
    (tmp_path / f"{KEY}.json").write_text('{"hello": "world"}')
    state, version = await store.load(KEY)
    assert version == CORRUPT and state["views"] == {}
    with pytest.raises(StashConflict):
        await store.save(KEY, STATE, None)
    await store.save(KEY, STATE, CORRUPT)


async def test_file_sweep_removes_old_temp_files_and_ignores_strangers(tmp_path) -> None:
    store = FileStashStore(tmp_path)
    tmp = tmp_path / ".tmp-crashed.json"
    tmp.write_text("half")
    os.utime(tmp, (1, 1))
    young = tmp_path / ".tmp-in-flight.json"
    young.write_text("half")
    stranger = tmp_path / "README.txt"
    stranger.write_text("not ours")
    os.utime(stranger, (1, 1))
    assert await store.sweep(10**15) == 0
    assert not tmp.exists() and young.exists() and stranger.exists()


# -- Redis --


@pytest.mark.redis
async def test_redis_keys_expire_with_the_ttl(redis_url: str) -> None:
    import redis.asyncio as aioredis

    from stube.stash_redis import RedisStashStore

    client = aioredis.from_url(redis_url)
    await client.flushdb()
    st = Stash(RedisStashStore(redis_url), secret="s", ttl=3600)
    s = st.session("sid")
    await s.merge("v", {"k": 1})
    rkey = st.store.redis_key(s.key)
    assert 3_590_000 < await client.pttl(rkey) <= 3_600_000
    await client.pexpire(rkey, 1)
    while await client.exists(rkey):  # Redis expires it within a millisecond or two
        await anyio.sleep(0.002)
    assert await st.session("sid").fetch_view("v") is None
    assert await client.exists(rkey) == 0
    await st.aclose()
    await client.aclose()


@pytest.mark.redis
async def test_redis_store_on_a_shared_client_and_prefix(redis_url: str) -> None:
    import redis.asyncio as aioredis

    from stube.stash_redis import RedisStashStore

    client = aioredis.from_url(redis_url)
    await client.flushdb()
    st = Stash(RedisStashStore(client, prefix="app1:stash:"), secret="s")
    await st.session("sid").merge("v", {"k": 1})
    assert await client.keys("*") == [f"app1:stash:{st.key_for('sid')}".encode()]
    await st.aclose()
    assert await client.ping()  # a client given to the store stays open
    await client.aclose()
