"""SSE streams as the runtime keeps them: order of pushes, stalled pages, the body a page reads."""

from __future__ import annotations

import asyncio

from stube import wire
from stube.fragments import Fragment
from stube.kernel import Event
from stube.runtime import Runtime
from stube.streams import QUEUE_SIZE, Streams
from tests.runtime_support import Tally, click, mint, run, runtime


def test_a_stalled_page_is_dropped_and_closed_instead_of_growing_without_bound() -> None:
    streams = Streams()

    async def scenario() -> None:
        stream = streams.attach("cv-a", "p")
        frag = [Fragment("morph", target="ix-1", html="<div id='ix-1'></div>")]
        for v in range(QUEUE_SIZE + 10):
            streams.push("cv-a", frag, since=v, to=v + 1)
        assert stream.queue.qsize() == 1 and stream.queue.get_nowait() is None

    asyncio.run(scenario())


def test_a_pages_own_event_is_not_pushed_back_to_it_and_others_get_it_in_order() -> None:
    rt = runtime()

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Tally)
        seen = rt.conversations[cid]["version"]
        mine = await rt.open_stream(cid, "mine", seen)
        other = await rt.open_stream(cid, "other", seen)
        assert mine is not None and other is not None
        iid = rt.conversations[cid]["stack"][-1]
        await rt.apply(cid, Event(iid, "inc"), page="mine")
        await click(rt, cid, "inc")
        assert mine.queue.qsize() == 1  # only the second fold (asked by no page) reaches it
        ids = []
        while not other.queue.empty():
            message = other.queue.get_nowait()
            assert message is not None
            ids.append(message.decode().split("\n", 1)[0])
        assert ids == [f"id: {seen}-{seen + 1}", f"id: {seen + 1}-{seen + 2}"]

    run(rt, scenario)


def test_the_stream_body_starts_with_a_keepalive_and_detaches_when_it_ends() -> None:
    rt = runtime()

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Tally)
        stream = await rt.open_stream(cid, "p", rt.conversations[cid]["version"])
        assert stream is not None
        body = rt.events(stream)
        assert await body.__anext__() == wire.KEEPALIVE
        await rt.end(cid)  # the conversation ends: its page is told, then the body ends
        rest = [chunk async for chunk in body]
        assert rest and b"hx-partial" in rest[0]
        assert rt.streams.get(cid) is None

    run(rt, scenario)
