"""``publish`` to many conversations: order, a failing or busy subscriber, slow stores, the SSE body."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from stube import Component, event, subscribe, wire
from stube.runtime import GC_YOUNG_THRESHOLD, Runtime, tune_gc
from stube.streams import Stream
from tests.runtime_support import MemoryStore, click, mint, run, runtime, state

TOPIC = "fan-news"


class Listener(Component):
    """Hears the topic; a ``fragile`` one fails on every message."""

    name = "fan/listener"
    template_string = '<div {{ root() }}>{{ self.heard|join(",") }}</div>'

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.fragile = False
        self.pokes = 0

    def start(self):  # type: ignore[no-untyped-def]
        return subscribe(TOPIC, "hear")

    def hear(self, message: str) -> None:
        if self.fragile:
            raise RuntimeError("this subscriber fails")
        self.heard.append(message)

    @event
    def break_it(self) -> None:
        self.fragile = True

    @event
    def poke(self) -> None:
        self.pokes += 1


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.005)


async def listeners(rt: Runtime, n: int) -> tuple[list[str], list[Stream]]:
    cids, streams = [], []
    for _ in range(n):
        cid = await mint(rt, Listener)
        await click(rt, cid, "poke")  # used: its subscription is live
        stream = await rt.open_stream(cid, "p", rt.conversations[cid]["version"])
        assert stream is not None
        cids.append(cid)
        streams.append(stream)
    return cids, streams


def ids(stream: Stream) -> list[str]:
    out = []
    while not stream.queue.empty():
        message = stream.queue.get_nowait()
        assert message is not None
        out.append(message.decode().split("\n", 1)[0])
    return out


def test_a_publish_reaches_every_subscriber_in_order_and_one_that_fails_stops_none() -> None:
    rt = runtime(max_streams_per_session=50)

    async def scenario(rt: Runtime) -> None:
        cids, streams = await listeners(rt, 6)
        await click(rt, cids[2], "break_it")
        versions = {cid: rt.conversations[cid]["version"] for cid in cids}
        for s in streams:
            ids(s)
        assert rt.publish(TOPIC, "a") == 6 and rt.publish(TOPIC, "b") == 6
        others = [c for c in cids if c != cids[2]]
        await until(lambda: all(state(rt, c)["heard"] == ["a", "b"] for c in others))
        assert state(rt, cids[2])["heard"] == []  # its turns came before the last ones: they failed, and only they
        for cid, stream in zip(cids, streams, strict=True):
            if cid == cids[2]:
                continue
            v = versions[cid]
            assert ids(stream) == [f"id: {v}-{v + 1}", f"id: {v + 1}-{v + 2}"]  # the version chain, in order

    run(rt, scenario)


def test_a_busy_subscriber_holds_up_no_other_and_still_hears_everything_in_order() -> None:
    rt = runtime(max_streams_per_session=50)

    async def scenario(rt: Runtime) -> None:
        cids, _ = await listeners(rt, 5)
        busy, others = cids[0], cids[1:]
        async with rt.locked(busy):  # an event of its own is being folded
            rt.publish(TOPIC, "x")
            await until(lambda: all(state(rt, c)["heard"] == ["x"] for c in others))
            rt.publish(TOPIC, "y")
            await until(lambda: all(state(rt, c)["heard"] == ["x", "y"] for c in others))
            assert state(rt, busy)["heard"] == []
        await until(lambda: state(rt, busy)["heard"] == ["x", "y"])

    run(rt, scenario)


class SlowStore(MemoryStore):
    """Every save waits on the loop, as a durable store's does; counts the saves in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most_in_flight = 0

    async def save(self, conv: dict[str, Any]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.002)
            await super().save(conv)
        finally:
            self.in_flight -= 1


def test_deliveries_whose_saves_wait_overlap_and_each_conversation_hears_in_order() -> None:
    store = SlowStore()
    rt = runtime(store, max_streams_per_session=50)

    async def scenario(rt: Runtime) -> None:
        cids, streams = await listeners(rt, 12)
        for s in streams:
            ids(s)
        store.most_in_flight = 0
        for message in ("1", "2", "3"):
            rt.publish(TOPIC, message)
        await until(lambda: all(state(rt, c)["heard"] == ["1", "2", "3"] for c in cids))
        assert store.most_in_flight == len(cids)  # every conversation's save waited at once, none behind another
        for cid, stream in zip(cids, streams, strict=True):
            chain = [line.removeprefix("id: ").split("-") for line in ids(stream)]
            assert len(chain) == 3 and all(int(a[1]) == int(b[0]) for a, b in zip(chain, chain[1:], strict=False))
            assert int(chain[-1][1]) == rt.conversations[cid]["version"]

    run(rt, scenario)


def test_a_quiet_stream_body_sends_keepalives_and_each_fold_once() -> None:
    rt = runtime(keepalive=0.02)

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Listener)
        await click(rt, cid, "poke")
        stream = await rt.open_stream(cid, "p", rt.conversations[cid]["version"])
        assert stream is not None
        body: AsyncIterator[bytes] = rt.events(stream)

        async def next_chunk() -> bytes:
            return await asyncio.wait_for(body.__anext__(), 5)

        assert await next_chunk() == wire.KEEPALIVE
        assert await next_chunk() == wire.KEEPALIVE  # nothing happened for a while: the page hears it is alive
        v = rt.conversations[cid]["version"]
        rt.publish(TOPIC, "hello")
        chunk = await next_chunk()
        while chunk == wire.KEEPALIVE:
            chunk = await next_chunk()
        assert chunk.startswith(f"id: {v}-{v + 1}\n".encode()) and b"hello" in chunk
        assert await next_chunk() == wire.KEEPALIVE  # and again once it is quiet
        await rt.end(cid)
        rest = [c async for c in body]
        assert rest and b"hx-partial" in rest[-1]
        assert rt.streams.get(cid) is None

    run(rt, scenario)


def test_the_first_start_freezes_what_the_process_holds_and_lets_the_young_generation_grow() -> None:
    rt = runtime()

    async def scenario(rt: Runtime) -> None:
        assert gc.get_freeze_count() > 0  # modules, the application: frozen when the first runtime started
        assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD
        assert tune_gc() is False  # once per process: later starts do not collect or freeze again

    run(rt, scenario)
