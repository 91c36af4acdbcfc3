"""Store faults: a write that did not become durable always raises, and a lost reply is not a conflict."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import stube._sqlite as database
from stube.stash import FileStashStore, InMemoryStashStore, SQLiteStashStore, Stash
from stube.store import FileStore, InMemoryStore, Lanes, StaleWrite
from stube.store.sqlite import SQLiteStore
from tests.store_support import clone, counter_conversation

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fail_with(code: int) -> Any:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))
    return broken


@pytest.mark.parametrize("call", ["write", "fsync"])
async def test_a_full_disk_fails_the_file_save_and_keeps_the_previous_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    store = FileStore(tmp_path)
    conv = counter_conversation()
    await store.save(conv)
    monkeypatch.setattr(os, call, fail_with(errno.ENOSPC))
    with pytest.raises(OSError) as info:
        await store.save(clone(conv, conv["id"], version=conv["version"] + 1))
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        await store.check()
    monkeypatch.undo()
    assert await store.load_all() == {conv["id"]: conv}
    assert os.listdir(tmp_path) == [f"{conv['id']}.json"]  # no temporary file left behind
    await store.check()


async def test_a_read_only_folder_fails_file_saves_deletes_and_the_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path)
    conv = counter_conversation()
    await store.save(conv)
    if os.geteuid() == 0:  # root writes through permission bits: make the folder refuse as a read-only mount
        real_open = os.open

        def read_only_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
            return real_open(path, flags, *args, **kw)

        def read_only_unlink(path: Any, *args: Any, **kw: Any) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

        monkeypatch.setattr(os, "open", read_only_open)
        monkeypatch.setattr(os, "unlink", read_only_unlink)
    else:
        tmp_path.chmod(0o500)
        monkeypatch.setattr(os, "unlink", os.unlink)  # undo below restores the mode too
    try:
        with pytest.raises(OSError):
            await store.save(clone(conv, conv["id"], version=conv["version"] + 1))
        with pytest.raises(OSError):
            await store.delete(conv["id"])
        with pytest.raises(OSError):
            await store.check()
    finally:
        monkeypatch.undo()
        tmp_path.chmod(0o700)
    assert await store.load_all() == {conv["id"]: conv}


async def test_every_coalesced_caller_gets_the_error() -> None:
    lanes = Lanes()
    started = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def slow_ok() -> None:
        started.set()
        await release.wait()

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise OSError(errno.ENOSPC, "No space left on device")

    first = asyncio.ensure_future(lanes.submit("k", slow_ok))
    await started.wait()
    queued = [asyncio.ensure_future(lanes.submit("k", failing)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    await first
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert calls == 1  # coalesced into one write...
    assert all(isinstance(r, OSError) for r in results)  # ...whose failure reaches every caller
    assert len(lanes) == 0


async def test_the_in_memory_store_is_always_writable() -> None:
    await InMemoryStore().check()
    await InMemoryStashStore().check()


# -- a write whose reply was lost --------------------------------------------------------------


async def test_a_sqlite_save_that_failed_but_landed_is_not_taken_for_another_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    conv = counter_conversation()
    await store.save(conv)
    real_commit = database._commit

    def landed_then_failed(conn: sqlite3.Connection) -> None:
        real_commit(conn)  # the COMMIT (and its fsync) happened; its reply is lost
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(database, "_commit", landed_then_failed)
    lost = clone(conv, conv["id"], version=conv["version"] + 1, last_url="/lost-reply")
    with pytest.raises(sqlite3.OperationalError):
        await store.save(lost)
    monkeypatch.undo()
    caplog.set_level(logging.ERROR, logger="stube.store")
    after = clone(conv, conv["id"], version=conv["version"] + 2, last_url="/after")
    await store.save(after)  # the stored version 2 is this store's own: no StaleWrite
    assert caplog.records == []
    assert await SQLiteStore(tmp_path / "db.sqlite").load_all() == {conv["id"]: after}

    # Another process's write is still one.
    other = SQLiteStore(tmp_path / "db.sqlite")
    [theirs] = (await other.load_all()).values()
    await other.save(clone(theirs, conv["id"], version=theirs["version"] + 1))
    with pytest.raises(StaleWrite):
        await store.save(clone(after, conv["id"], version=after["version"] + 1, last_url="/mine"))
    await other.aclose()
    await store.aclose()


@pytest.mark.redis
async def test_a_redis_save_that_timed_out_but_landed_is_not_taken_for_another_process(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    import redis.asyncio
    import redis.exceptions

    from stube.redis_store import RedisStore

    raw = redis.asyncio.from_url(redis_url)
    await raw.flushdb()
    store, other = RedisStore(redis_url), RedisStore(redis_url)
    try:
        conv = counter_conversation()
        await store.save(conv)
        real = store._script  # the registered save script

        class LateReply:
            """The script runs on the server, but the reply never arrives (a socket timeout)."""

            async def __call__(self, **kw: Any) -> Any:
                await real(**kw)
                raise redis.exceptions.TimeoutError("Timeout reading from socket")

        store._script = LateReply()
        lost = clone(conv, conv["id"], version=conv["version"] + 1, last_url="/lost-reply")
        with pytest.raises(redis.exceptions.TimeoutError):
            await store.save(lost)
        store._script = real
        caplog.set_level(logging.ERROR, logger="stube.store")
        after = clone(conv, conv["id"], version=conv["version"] + 2, last_url="/after")
        await store.save(after)  # version 2 in Redis carries this store's token: its own write
        assert caplog.records == []
        assert await other.load(conv["id"]) == after

        await other.save(clone(after, conv["id"], version=after["version"] + 1))  # another process moves on
        with pytest.raises(StaleWrite):
            await store.save(clone(after, conv["id"], version=after["version"] + 1, last_url="/mine"))
    finally:
        await store.aclose()
        await other.aclose()
        await raw.aclose()


async def test_redis_down_fails_saves_and_the_check() -> None:
    pytest.importorskip("redis")
    from stube.redis_store import RedisStore

    store = RedisStore("redis://127.0.0.1:1/0?socket_connect_timeout=1")  # nothing listens there
    conv = counter_conversation()
    with pytest.raises(Exception) as info:  # noqa: B017 - redis-py's ConnectionError
        await store.save(conv)
    assert "connect" in str(info.value).lower()
    with pytest.raises(Exception):  # noqa: B017
        await store.check()
    with pytest.raises(Exception):  # noqa: B017
        await store.delete(conv["id"])
    await store.aclose()


# -- the stash side: durable before return, or it raises -----------------------------------------


async def test_a_stash_write_on_a_full_disk_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stash = Stash(FileStashStore(tmp_path), secret="s")
    s = stash.session("sid")
    await s.merge("v", {"k": 1})
    await stash.store.check()  # type: ignore[attr-defined]
    monkeypatch.setattr(os, "fsync", fail_with(errno.ENOSPC))
    with pytest.raises(OSError):
        await s.merge("v", {"k": 2})
    with pytest.raises(OSError):
        await stash.store.check()  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert await Stash(FileStashStore(tmp_path), secret="s").session("sid").get_view("v") == {"k": 1}
    await stash.aclose()


async def test_a_sqlite_stash_write_to_a_locked_database_raises(tmp_path: Path) -> None:
    store = SQLiteStashStore(tmp_path / "stash.sqlite", timeout=0.1)
    stash = Stash(store, secret="s")
    s = stash.session("sid")
    await s.merge("v", {"k": 1})
    await store.check()
    other = sqlite3.connect(tmp_path / "stash.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process keeps the write lock
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await s.merge("v", {"k": 2})
        with pytest.raises(sqlite3.OperationalError):
            await store.check()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await s.get_view("v") == {"k": 1}
    await stash.aclose()
