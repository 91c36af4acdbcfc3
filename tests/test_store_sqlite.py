"""SQLiteStore specifics: it writes what an event changed, not the page; several processes share a file."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from stube.store.sqlite import SQLiteStore
from tests.store_support import page_harness

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def bytes_per_event(path: Path, size: int, events: int = 20) -> float:
    """Bytes SQLiteStore sends to SQLite per event on one item of a page of ``size`` items."""
    store = SQLiteStore(path)
    h, item = page_harness(size)
    await store.save(h.conversation)
    for _ in range(5):  # fill the history window as a long-lived page has it
        h.dispatch("inc", target=item)
        await store.save(h.conversation)
    before = store.bytes_written
    for _ in range(events):
        h.dispatch("inc", target=item)
        await store.save(h.conversation)
    written = (store.bytes_written - before) / events
    assert await SQLiteStore(path).load_all() == {h.conversation["id"]: h.conversation}  # and it is all there
    await store.aclose()
    return written


async def test_an_event_on_a_page_of_1000_writes_what_a_page_of_one_writes(tmp_path: Path) -> None:
    one = await bytes_per_event(tmp_path / "one.sqlite", 1)
    thousand = await bytes_per_event(tmp_path / "thousand.sqlite", 1000)
    assert thousand <= 1.3 * one, (one, thousand)


async def test_history_rewinds_and_removed_instances_round_trip(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    h, item = page_harness(5)
    for _ in range(60):  # past the history limit: old entries fall off
        h.dispatch("inc", target=item)
        await store.save(h.conversation)
    for _ in range(3):
        h.back()
        await store.save(h.conversation)
    h.dispatch("inc", target=item)
    await store.save(h.conversation)
    assert await SQLiteStore(tmp_path / "db.sqlite").load_all() == {h.conversation["id"]: h.conversation}
    conv = dict(h.conversation)
    page_iid = conv["stack"][0]
    conv["instances"] = {k: v for k, v in conv["instances"].items() if k in (page_iid,)}
    conv["instances"][page_iid] = {**conv["instances"][page_iid], "keyed": {}}
    conv["version"] += 1
    await store.save(conv)  # four items gone at once
    [loaded] = (await SQLiteStore(tmp_path / "db.sqlite").load_all()).values()
    assert loaded == conv and list(loaded["instances"]) == list(conv["instances"])
    await store.aclose()


async def test_the_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "sub" / "db.sqlite"
    store = SQLiteStore(path)
    h, _ = page_harness(1)
    await store.save(h.conversation)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    await store.aclose()


WORKER = textwrap.dedent("""
    import asyncio, sys
    from stube.store import StaleWrite
    from stube.store.sqlite import SQLiteStore

    async def main(path, cid, rounds):
        store = SQLiteStore(path)
        done = 0
        while done < rounds:
            conv = await store.load(cid)
            conv = {**conv, "version": conv["version"] + 1,
                    "result": (conv["result"] or 0) + 1}
            try:
                await store.save(conv)
                done += 1
            except StaleWrite:
                pass  # another process moved it on: reload and retry, as the runtime does
        await store.aclose()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
""")


@pytest.mark.slow
async def test_two_processes_on_one_file_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    store = SQLiteStore(path)
    h, _ = page_harness(3)
    conv = {**h.conversation, "result": 0}
    await store.save(conv)
    rounds = 100
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, str(path), conv["id"], str(rounds),
                                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
             for _ in range(2)]
    codes = [await asyncio.wait_for(p.wait(), 120) for p in procs]
    assert codes == [0, 0]
    final = await store.load(conv["id"])
    assert final is not None
    assert final["result"] == 2 * rounds  # every acknowledged save is there, none overwritten
    assert final["version"] == conv["version"] + 2 * rounds
    await store.aclose()


async def test_conversations_and_the_stash_can_share_one_file(tmp_path: Path) -> None:
    """The deployment guide's ``SQLiteStore("var/stube.db")`` + ``SQLiteStashStore("var/stube.db")``."""
    from stube.stash import SQLiteStashStore, Stash

    path = tmp_path / "stube.db"
    store, stash = SQLiteStore(path), Stash(SQLiteStashStore(path), secret="s")
    h, item = page_harness(2)
    h.dispatch("inc", target=item)
    await store.save(h.conversation)
    await stash.session("sid").merge("v", {"k": 1})
    await store.check()
    assert await SQLiteStore(path).load_all() == {h.conversation["id"]: h.conversation}
    assert await Stash(SQLiteStashStore(path), secret="s").session("sid").get_view("v") == {"k": 1}
    await store.aclose()
    await stash.aclose()


async def test_concurrent_saves_share_transactions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commit: saves of many conversations in flight cost far fewer commits (fsyncs) than saves."""
    import stube.store.sqlite as module

    commits: list[int] = []
    real = module._write_batch

    def counting(conn: object, items: list) -> list[int]:  # type: ignore[type-arg]
        commits.append(len(items))
        return real(conn, items)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_write_batch", counting)
    store = SQLiteStore(tmp_path / "db.sqlite")
    pages = [page_harness(2)[0] for _ in range(100)]
    await asyncio.gather(*(store.save(h.conversation) for h in pages))
    assert sum(commits) == 100 and len(commits) < 50
    assert len(await SQLiteStore(tmp_path / "db.sqlite").load_all()) == 100
    await store.aclose()


async def test_a_save_waits_off_the_loop_for_another_process_holding_the_write_lock(tmp_path: Path) -> None:
    """The statements run on the loop only when the lock is free at once; otherwise the worker waits."""
    import sqlite3

    store = SQLiteStore(tmp_path / "db.sqlite")
    h, item = page_harness(2)
    await store.save(h.conversation)
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def release() -> None:
        assert not saved.done()  # still waiting for the lock
        other.execute("COMMIT")

    task = asyncio.ensure_future(ticker())
    try:
        h.dispatch("inc", target=item)
        saved = asyncio.ensure_future(store.save(h.conversation))
        asyncio.get_running_loop().call_later(0.2, release)
        await saved
    finally:
        task.cancel()
        other.close()
    assert ticks >= 5  # the loop ran while the save waited
    assert (await SQLiteStore(tmp_path / "db.sqlite").load_all()) == {h.conversation["id"]: h.conversation}
    h.dispatch("inc", target=item)
    await store.save(h.conversation)  # and the next save takes the short way again
    assert (await SQLiteStore(tmp_path / "db.sqlite").load_all()) == {h.conversation["id"]: h.conversation}
    await store.aclose()


async def test_a_write_that_fails_on_the_loop_rolls_back_everything(tmp_path: Path) -> None:
    from stube._sqlite import Database

    db = Database(tmp_path / "db.sqlite", "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT)")
    await db.run(lambda conn: None)  # connected: the next write runs its statements here

    def half(conn: object) -> None:
        conn.execute("INSERT INTO t VALUES ('a', '1')")  # type: ignore[attr-defined]
        raise ValueError("half-way")

    with pytest.raises(ValueError):
        await db.write(half)
    assert await db.write(lambda conn: conn.execute("INSERT INTO t VALUES ('b', '2')").rowcount) == 1
    rows = await db.run(lambda conn: conn.execute("SELECT k, v FROM t").fetchall())
    assert rows == [("b", "2")]
    await db.aclose()
    reread = Database(tmp_path / "db.sqlite", "SELECT 1")
    assert await reread.run(lambda conn: conn.execute("SELECT k FROM t").fetchall()) == [("b",)]
    await reread.aclose()
