"""RedisStore against a private redis-server: round trips, the version check, SCAN loading."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from stube.conversation import new_cid
from stube.store import encode
from tests.store_support import clone, counter_conversation

redis = pytest.importorskip("redis")
pytest.importorskip("redis.asyncio")

from stube.redis_store import RedisStore  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client on a flushed database (the server is shared by the session)."""
    client = redis.asyncio.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_url: str, raw) -> AsyncIterator[RedisStore]:
    s = RedisStore(redis_url)
    yield s
    await s.aclose()


def store_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "stube.store" and r.levelno == level]


async def test_round_trip_of_a_real_conversation(store: RedisStore, raw, redis_url: str) -> None:
    conv = counter_conversation()
    await store.save(conv)
    assert await raw.keys("*") == [f"stube:conv:{conv['id']}".encode()]
    other = RedisStore(redis_url)  # another process
    try:
        assert await other.load_all() == {conv["id"]: conv}
    finally:
        await other.aclose()


async def test_an_unreadable_stored_value_does_not_block_saves(store: RedisStore, raw) -> None:
    conv = counter_conversation()
    await raw.set(f"stube:conv:{conv['id']}", b"garbage")
    await store.save(conv)
    assert await store.load_all() == {conv["id"]: conv}


async def test_delete_is_idempotent(store: RedisStore, raw) -> None:
    conv = counter_conversation()
    await store.save(conv)
    await store.delete(conv["id"])
    await store.delete(conv["id"])
    other = new_cid()
    await store.delete(other)
    # Only the tombstones stay (they expire): a late save from another process's copy is told "it ended".
    assert sorted(await raw.keys("*")) == sorted(store.tombstone(c).encode() for c in (conv["id"], other))
    assert 0 < await raw.pttl(store.tombstone(conv["id"])) <= store.tombstone_ttl * 1000
    assert await store.load_all() == {}


async def test_a_conversation_redis_lost_is_written_back_but_an_ended_one_is_not(store: RedisStore, raw) -> None:
    from stube.store import StaleWrite

    lost, ended = counter_conversation(), counter_conversation()
    for conv in (lost, ended):
        await store.save(conv)
    await raw.flushdb()  # Redis came back empty: nothing tells it ended, so it was lost
    lost["version"] += 1
    await store.save(lost)
    assert (await store.load(lost["id"]))["version"] == lost["version"]
    other = RedisStore(store.url)  # another process ends the second one
    try:
        await other.save(ended)
        await other.delete(ended["id"])
    finally:
        await other.aclose()
    ended["version"] += 1
    with pytest.raises(StaleWrite) as info:
        await store.save(ended)
    assert info.value.stored == -2
    assert await store.load(ended["id"]) is None


@pytest.mark.parametrize("bad", ["../x", "cv-../../etc", "/etc/passwd", "", "cv-aaaaaaaa\n", "cv-a*", None])
async def test_crafted_ids_are_refused(store: RedisStore, raw, bad: object) -> None:
    conv = counter_conversation()
    conv["id"] = bad
    with pytest.raises(ValueError):
        await store.save(conv)
    with pytest.raises(ValueError):
        await store.delete(bad)  # type: ignore[arg-type]
    assert await raw.keys("*") == []


async def test_load_all_skips_unreadable_entries_with_a_warning(
        store: RedisStore, raw, caplog: pytest.LogCaptureFixture) -> None:
    good = counter_conversation()
    await store.save(good)
    stored = await raw.get(f"stube:conv:{good['id']}")
    wrong = clone(good)
    mismatch = clone(good)
    entries = {
        "stube:conv:cv-corrupt000": b"{not json",
        "stube:conv:cv-truncated0": stored[: len(stored) // 2],
        "stube:conv:cv-bare000000": encode(clone(good, "cv-bare000000")),  # no envelope
        "stube:conv:cv-foreign000": b'{"v": 1, "w": "a", "conv": {"hello": "world"}}',
        f"stube:conv:{new_cid()}": b'{"v":%d,"w":"a","conv":%s}' % (wrong["version"], encode(wrong)),
        f"stube:conv:{mismatch['id']}": b'{"v":99,"w":"a","conv":%s}' % encode(mismatch),
        "stube:conv:cv-nowriter00": b'{"v":%d,"conv":%s}' % (good["version"], encode(clone(good, "cv-nowriter00"))),
        "stube:conv:not-a-cid": stored,
        "stube:conv:cv-latin10000": b'{"v":1,"conv":"\xe9"}',
    }
    await raw.mset(entries)
    await raw.rpush("stube:conv:cv-alist00000", "x")  # wrong type: MGET gives None, skipped quietly
    await raw.set("elsewhere:cv-aaaaaaaaaa", stored)  # outside the prefix: never looked at
    caplog.set_level(logging.WARNING, logger="stube.store")
    assert await store.load_all() == {good["id"]: good}
    warnings = store_records(caplog, logging.WARNING)
    for key in entries:
        assert sum(key in w for w in warnings) == 1, f"no single warning naming {key}"
    assert len(warnings) == len(entries)


async def test_a_prefix_keeps_apps_apart(redis_url: str, raw) -> None:
    a, b = RedisStore(redis_url, prefix="app[1]:"), RedisStore(redis_url, prefix="app*:")
    try:
        ca, cb = counter_conversation(), counter_conversation()
        await a.save(ca)
        await b.save(cb)
        assert await a.load_all() == {ca["id"]: ca}  # glob characters in prefixes are escaped
        assert await b.load_all() == {cb["id"]: cb}
    finally:
        await a.aclose()
        await b.aclose()


async def test_more_concurrent_saves_than_connections(redis_url: str, raw) -> None:
    store = RedisStore(redis_url, max_connections=4)
    try:
        base = counter_conversation()
        convs = [clone(base) for _ in range(300)]
        await asyncio.gather(*(store.save(c) for c in convs))  # they wait for a connection, never fail
        assert len(await store.load_all()) == 300
    finally:
        await store.aclose()


async def test_load_all_of_many_entries_uses_scan(store: RedisStore, raw) -> None:
    base = counter_conversation()
    convs = [clone(base, version=i) for i in range(2_500)]
    pipe = raw.pipeline(transaction=False)
    for c in convs:
        pipe.set(f"stube:conv:{c['id']}", b'{"v":%d,"w":"x","conv":%s}' % (c["version"], encode(c)))
    await pipe.execute()

    await raw.config_resetstat()
    started = time.perf_counter()
    loaded = await store.load_all()
    assert time.perf_counter() - started < 2.0
    assert loaded == {c["id"]: c for c in convs}
    stats = await raw.info("commandstats")
    assert "cmdstat_keys" not in stats  # KEYS would block the server
    assert stats["cmdstat_scan"]["calls"] >= 3  # batched
    assert stats["cmdstat_mget"]["calls"] >= 3


async def test_a_shared_client_is_not_closed(raw) -> None:
    store = RedisStore(client=raw)
    conv = counter_conversation()
    await store.save(conv)
    await store.aclose()
    assert await raw.ping()  # still usable by its owner
    assert list(await store.load_all()) == [conv["id"]]


def test_a_clear_error_without_the_redis_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "redis.asyncio" or name.startswith("redis"):
            raise ImportError("No module named 'redis'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"stube\[redis\]"):
        RedisStore("redis://127.0.0.1:1/0")
