"""A save that fails is never acknowledged: the runtime keeps the last durable value (issue 12, item 5)."""

from __future__ import annotations

import asyncio
import errno

import pytest

from stube.errors import NotSaved, StubeError
from stube.kernel import Event
from stube.runtime import Runtime
from tests.runtime_support import TICKS, MemoryStore, Tally, click, mint, run, runtime, state, top


def test_a_failed_save_raises_not_saved_and_keeps_the_durable_value() -> None:
    store = MemoryStore()
    rt = runtime(store)

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Tally)
        await click(rt, cid, "inc")
        assert state(rt, cid)["n"] == 1 and store.saves == 1
        durable = rt.conversations[cid]
        store.failing = True
        with pytest.raises(NotSaved) as caught:
            await click(rt, cid, "inc")
        assert caught.value.cid == cid and isinstance(caught.value, StubeError)
        assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == errno.ENOSPC
        assert rt.conversations[cid] is durable and state(rt, cid)["n"] == 1
        # The store comes back: the next event starts from the durable value, nothing was half-applied.
        store.failing = False
        out = await click(rt, cid, "inc")
        assert out is not None and out.since == durable["version"]
        assert state(rt, cid)["n"] == 2 and store.data[cid]["version"] == out.conversation["version"]

    run(rt, scenario)


def test_a_fold_that_was_not_saved_runs_no_commands_and_pushes_nothing() -> None:
    store = MemoryStore()
    rt = runtime(store)
    TICKS.clear()

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Tally)
        other = await rt.open_stream(cid, "other-page", 0)
        assert other is not None
        while not other.queue.empty():
            other.queue.get_nowait()
        store.failing = True
        with pytest.raises(NotSaved):
            await rt.apply(cid, Event(top(rt, cid), "arm"), page="this-page")
        assert rt.pending_timers(cid) == 0
        await asyncio.sleep(0.05)
        assert TICKS == [] and other.queue.empty()  # the timer never armed, the other page heard nothing

    run(rt, scenario)


def test_a_restored_conversation_that_fails_to_save_wakes_again_next_time() -> None:
    store = MemoryStore()

    async def first(rt: Runtime) -> str:
        cid = await mint(rt, Tally)
        await click(rt, cid, "inc")
        return cid

    cid = run(runtime(store), first)
    rt = runtime(store)

    async def second(rt: Runtime) -> None:
        assert cid in rt.restored
        store.failing = True
        with pytest.raises(NotSaved):
            await click(rt, cid, "inc")
        assert cid in rt.restored and state(rt, cid)["n"] == 1
        store.failing = False
        out = await click(rt, cid, "inc")
        assert out is not None and state(rt, cid)["n"] == 2
        assert out.fragments[0].kind == "page"  # the wakeup's repaint comes first, in the same answer

    run(rt, second)


def test_an_internal_event_that_fails_to_save_is_dropped_without_an_error_escaping() -> None:
    store = MemoryStore()
    rt = runtime(store)

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Tally)
        await click(rt, cid, "inc")
        store.failing = True
        assert await rt.deliver(cid, Event(top(rt, cid), "inc", internal=True)) is None
        assert state(rt, cid)["n"] == 1

    run(rt, scenario)
