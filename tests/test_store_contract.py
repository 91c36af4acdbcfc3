"""The conversation store contract, once, over every backend (memory, file, sqlite, redis)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from stube import StubeError
from stube.conversation import new_cid
from stube.store import ConversationStore, StaleWrite
from tests.store_support import BACKENDS, DURABLE, SHARED, StoreBackend, backend, clone, counter_conversation  # noqa: F401

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def store_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the stores logged about refused writes (INFO: a conflict is how processes take turns)."""
    return [r.getMessage() for r in caplog.records
            if r.name == "stube.store" and r.levelno >= logging.INFO and "not saved" in r.getMessage()]


# -- every backend --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_store_satisfies_the_protocol_and_is_writable(backend: StoreBackend) -> None:
    store = backend.store()
    assert isinstance(store, ConversationStore)
    await store.check()
    await store.check()  # leaves nothing behind that a load would see
    assert await backend.store().load_all() == {}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_delete_is_idempotent(backend: StoreBackend) -> None:
    store = backend.store()
    conv = counter_conversation()
    await store.save(conv)
    await store.delete(conv["id"])
    await store.delete(conv["id"])
    await store.delete(new_cid())  # never saved
    assert await store.load_all() == {}
    assert await backend.store().load_all() == {}


# -- every backend that keeps what it is given ---------------------------------------------------


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
async def test_round_trip_of_a_real_conversation(backend: StoreBackend) -> None:
    conv = counter_conversation()
    await backend.store().save(conv)
    restored = await backend.store().load_all()  # a fresh store, as after a restart
    assert restored == {conv["id"]: conv}
    assert restored[conv["id"]] is not conv


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
async def test_a_save_replaces_the_previous_one(backend: StoreBackend) -> None:
    store = backend.store()
    conv = counter_conversation()
    await store.save(conv)
    newer = clone(conv, conv["id"], version=conv["version"] + 1, last_url="/after")
    await store.save(newer)
    assert await store.load_all() == {conv["id"]: newer}
    assert await backend.store().load_all() == {conv["id"]: newer}


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
async def test_many_conversations(backend: StoreBackend) -> None:
    store = backend.store()
    base = counter_conversation()
    convs = [clone(base, version=i) for i in range(200)]
    await asyncio.gather(*(store.save(c) for c in convs))
    assert await backend.store().load_all() == {c["id"]: c for c in convs}


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
@pytest.mark.parametrize("bad", ["../x", "cv-../../etc", "/etc/passwd", "", "cv-aaaaaaaa\n", "cv-a*", None, 42])
async def test_crafted_ids_are_refused(backend: StoreBackend, bad: object) -> None:
    store = backend.store()
    conv = counter_conversation()
    conv["id"] = bad
    with pytest.raises(ValueError):
        await store.save(conv)
    with pytest.raises(ValueError):
        await store.delete(bad)  # type: ignore[arg-type]
    assert await backend.store().load_all() == {}


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
async def test_non_json_values_and_non_dicts_are_refused(backend: StoreBackend) -> None:
    store = backend.store()
    conv = counter_conversation()
    conv["result"] = float("nan")
    with pytest.raises(ValueError):
        await store.save(conv)
    with pytest.raises(ValueError):
        await store.save(["cv-aaaaaaaaaa"])
    assert await backend.store().load_all() == {}


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
async def test_concurrent_saves_of_one_conversation_keep_the_newest(backend: StoreBackend) -> None:
    store = backend.store()
    conv = counter_conversation()
    versions = [clone(conv, conv["id"], version=v) for v in range(1, 51)]
    # Saves started in order never trip over each other (nor a version check).
    await asyncio.gather(*(store.save(c) for c in versions))
    assert (await backend.store().load_all())[conv["id"]]["version"] == 50


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
async def test_write_behind_saves_finish_before_aclose_returns(backend: StoreBackend) -> None:
    store = backend.store()
    base = counter_conversation()
    convs = [clone(base) for _ in range(10)]
    tasks = [asyncio.ensure_future(store.save(clone(c, c["id"], version=v))) for v in range(1, 6) for c in convs]
    await asyncio.sleep(0)  # the saves have started
    await store.aclose()
    loaded = await backend.store().load_all()
    assert {cid: c["version"] for cid, c in loaded.items()} == {c["id"]: 5 for c in convs}
    await asyncio.gather(*tasks)  # none of them failed
    await store.aclose()
    assert len(await store.load_all()) == 10  # a closed store can still be used


@pytest.mark.parametrize("backend", DURABLE, indirect=True)
async def test_a_write_that_cannot_become_durable_raises_for_every_caller(
        backend: StoreBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full, database locked, Redis not answering: the save raises, also every coalesced one."""
    store = backend.store()
    conv = counter_conversation()
    await store.save(conv)
    await store.check()
    newer = [clone(conv, conv["id"], version=conv["version"] + k) for k in range(1, 6)]
    async with backend.broken(store, monkeypatch):
        results = await asyncio.gather(*(store.save(c) for c in newer), return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results), results
        with pytest.raises(Exception):  # noqa: B017 - each backend raises its own error
            await store.check()
        with pytest.raises(Exception):  # noqa: B017
            await store.delete(conv["id"])
    # Once the fault is gone, saving works again, and what is stored is the newest save.
    latest = clone(conv, conv["id"], version=conv["version"] + 9, last_url="/after-the-fault")
    await store.check()
    await store.save(latest)
    assert await backend.store().load_all() == {conv["id"]: latest}


# -- backends several processes share --------------------------------------------------------


@pytest.mark.parametrize("backend", SHARED, indirect=True)
async def test_another_process_changes_are_never_overwritten(
        backend: StoreBackend, caplog: pytest.LogCaptureFixture) -> None:
    """A compare-and-set on the version this process last saw: an older copy never wins."""
    store, other = backend.store(), backend.store()
    conv = counter_conversation()
    await store.save(conv)
    [copy] = (await other.load_all()).values()
    theirs = clone(copy, conv["id"], version=conv["version"] + 2, last_url="/theirs")
    await other.save(theirs)  # builds on what it loaded: accepted

    caplog.set_level(logging.INFO, logger="stube.store")
    ours = clone(conv, conv["id"], version=conv["version"] + 1, last_url="/ours")
    with pytest.raises(StaleWrite) as info:
        await store.save(ours)  # builds on version 1, but 3 is stored
    assert isinstance(info.value, StubeError)
    assert (info.value.cid, info.value.version, info.value.stored) == (conv["id"], ours["version"], theirs["version"])
    # A copy that jumps past the stored version is refused too: versions are not a race to win.
    with pytest.raises(StaleWrite):
        await store.save(clone(ours, conv["id"], version=theirs["version"] + 5))
    errors = store_errors(caplog)
    assert len(errors) == 2 and all(conv["id"] in e for e in errors)
    assert await other.load_all() == {conv["id"]: theirs}

    # The process that wrote a version may write it again (a retried write, the final
    # save at shutdown with a newer touched time) and move on from it.
    await other.save(theirs)
    repainted = clone(theirs, conv["id"], painted=None, touched=theirs["touched"] + 1)
    await other.save(repainted)
    assert await store.load_all() == {conv["id"]: repainted}
    # Having read the newest copy, the first process can build on it again.
    mine = clone(repainted, conv["id"], version=theirs["version"] + 1, last_url="/mine")
    await store.save(mine)
    assert await store.load(conv["id"]) == mine
    with pytest.raises(StaleWrite):  # and now the other one is behind
        await other.save(clone(repainted, conv["id"], version=theirs["version"] + 1, last_url="/late"))
    assert len(store_errors(caplog)) == 3


@pytest.mark.parametrize("backend", SHARED, indirect=True)
async def test_a_conversation_deleted_elsewhere_is_not_resurrected(backend: StoreBackend) -> None:
    store, other = backend.store(), backend.store()
    conv = counter_conversation()
    await store.save(conv)
    await other.load_all()
    await other.delete(conv["id"])  # it ended in the other process
    with pytest.raises(StaleWrite):
        await store.save(clone(conv, conv["id"], version=conv["version"] + 1))
    assert await store.load_all() == {}


@pytest.mark.parametrize("backend", SHARED, indirect=True)
async def test_a_restored_conversation_saved_again_unchanged_is_not_a_conflict(
        backend: StoreBackend, caplog: pytest.LogCaptureFixture) -> None:
    store = backend.store()
    conv = counter_conversation()
    await store.save(conv)
    restarted = backend.store()  # the same app after a restart: a new writer
    caplog.set_level(logging.INFO, logger="stube.store")
    [restored] = (await restarted.load_all()).values()
    await restarted.save(restored)  # e.g. the final save at shutdown
    await restarted.save(clone(restored, conv["id"], version=conv["version"] + 1))
    assert store_errors(caplog) == []
    with pytest.raises(StaleWrite):  # the old process, still holding version 1, is refused
        await store.save(clone(conv, conv["id"], version=conv["version"] + 1, last_url="/elsewhere"))
    # A copy this store never read, equal to what is stored, is harmless too.
    errors = len(store_errors(caplog))
    stranger = backend.store()
    await stranger.save(clone(restored, conv["id"], version=conv["version"] + 1))
    assert len(store_errors(caplog)) == errors


@pytest.mark.parametrize("backend", SHARED, indirect=True)
async def test_big_versions_compare_as_numbers(backend: StoreBackend) -> None:
    store, late = backend.store(), backend.store()
    conv = counter_conversation()
    await store.save(clone(conv, conv["id"], version=9))
    await late.load_all()  # has seen 9
    await store.save(clone(conv, conv["id"], version=10))  # "10" < "9" as strings
    with pytest.raises(StaleWrite):
        await late.save(clone(conv, conv["id"], version=10, last_url="/late"))
    await store.save(clone(conv, conv["id"], version=2**52))
    assert (await store.load_all())[conv["id"]]["version"] == 2**52


@pytest.mark.parametrize("backend", SHARED, indirect=True)
async def test_version_must_be_an_int(backend: StoreBackend) -> None:
    store = backend.store()
    for bad in (None, "3", 2.0, True, -1):
        with pytest.raises(ValueError):
            await store.save(clone(counter_conversation(), version=bad))


@pytest.mark.parametrize("backend", SHARED, indirect=True)
async def test_load_reads_what_another_process_saved(backend: StoreBackend) -> None:
    store, other = backend.store(), backend.store()
    conv = counter_conversation()
    assert await other.load(conv["id"]) is None
    await store.save(conv)
    assert await other.load(conv["id"]) == conv
    newer = clone(conv, conv["id"], version=conv["version"] + 1)
    await other.save(newer)  # it read the stored copy, so it may build on it
    assert await store.load(conv["id"]) == newer
