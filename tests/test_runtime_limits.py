"""Page views must not pin memory or CPU (issue 10, item 2), at the runtime's level.

A conversation with neither an event nor an SSE stream is *unused*: its
timers, subscriptions and ``io`` wait for its first use, it expires after
``unused_ttl`` and it goes first when ``max_conversations`` is reached.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc

from stube import Component, event, publish
from stube.kernel import Env, Event
from stube.runtime import Runtime
from stube.stash import InMemoryStashStore, Stash
from stube.store import InMemoryStore
from tests.runtime_support import TICKS, Hearer, MemoryStore, Tally, Ticker, click, mint, run, runtime, state, top


def test_timers_armed_while_rendering_a_page_view_wait_for_its_first_use() -> None:
    rt = runtime()
    TICKS.clear()

    async def scenario(rt: Runtime) -> None:
        cids = [await mint(rt, Ticker) for _ in range(1_000)]
        await asyncio.sleep(0.2)  # four periods of the page's 50 ms timer
        assert TICKS == []
        assert sum(rt.pending_timers(c) for c in cids) == 0
        await click(rt, cids[0], "poke")  # the first event starts what start() armed
        assert rt.pending_timers(cids[0]) == 1
        deadline = time.monotonic() + 5
        while not TICKS and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert set(TICKS) == {"ticker"} and state(rt, cids[0])["n"] >= 1
        assert sum(rt.pending_timers(c) for c in cids[1:]) == 0

    run(rt, scenario)


def test_a_first_stream_also_starts_the_held_commands() -> None:
    rt = runtime()

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Ticker)
        assert rt.pending_timers(cid) == 0 and rt.scheduler.held(cid) == 1
        assert await rt.open_stream(cid, "p", 0) is not None
        assert rt.pending_timers(cid) == 1 and rt.scheduler.held(cid) == 0

    run(rt, scenario)


def test_subscriptions_and_io_of_a_page_view_are_held_too() -> None:
    rt = runtime()

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Hearer)
        assert publish("rtt-news", "early") == 0
        await asyncio.sleep(0.05)
        assert state(rt, cid)["heard"] == []  # the io job did not run either
        await click(rt, cid, "poke")
        assert publish("rtt-news", "late") == 1
        deadline = time.monotonic() + 5
        while len(state(rt, cid)["heard"]) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert sorted(state(rt, cid)["heard"]) == ["io-ran", "late"]

    run(rt, scenario)


def test_unused_conversations_expire_after_unused_ttl_used_ones_after_ttl() -> None:
    rt = runtime(ttl=3600.0, unused_ttl=60.0)

    async def scenario(rt: Runtime) -> None:
        unused = await mint(rt, Tally)
        used = await mint(rt, Tally)
        await click(rt, used, "inc")
        now = time.time()
        assert await rt.reap(now + 30) == []
        assert await rt.reap(now + 61) == [unused]
        assert list(rt.conversations) == [used]
        assert await rt.reap(now + 3601) == [used]

    run(rt, scenario)


def test_beyond_max_conversations_the_oldest_unused_go_first_then_the_least_recent() -> None:
    rt = runtime(max_conversations=3)

    async def scenario(rt: Runtime) -> None:
        a = await mint(rt, Tally)
        b = await mint(rt, Tally)
        await click(rt, a, "inc")
        await click(rt, b, "inc")
        c = await mint(rt, Tally)
        ids = {x: top(rt, x) for x in (a, b, c)}
        d = await mint(rt, Tally)  # full: the only unused one (c) makes room
        assert set(rt.conversations) == {a, b, d}
        await click(rt, a, "inc")  # b is now the least recently used
        await click(rt, d, "inc")
        e = await mint(rt, Tally)
        assert set(rt.conversations) == {a, d, e}
        for gone in (b, c):  # an event on an evicted page finds nothing: 410 over HTTP
            assert await rt.apply(gone, Event(ids[gone], "inc")) is None

    run(rt, scenario)


def test_an_evicted_conversation_the_store_holds_comes_back_on_its_next_event() -> None:
    store = MemoryStore()
    rt = runtime(store, max_conversations=2)

    async def scenario(rt: Runtime) -> None:
        a = await mint(rt, Tally)
        iid = top(rt, a)
        await click(rt, a, "inc")
        b = await mint(rt, Tally)
        await click(rt, b, "inc")
        await mint(rt, Tally)
        await mint(rt, Tally)  # evicts the unused one, then a (least recent, but the store has it)
        assert a not in rt.conversations and a in store.data
        out = await rt.apply(a, Event(iid, "inc"))
        assert out is not None and state(rt, a)["n"] == 2

    run(rt, scenario)


def test_memory_for_20000_page_views_stays_bounded_by_max_conversations() -> None:
    rt = runtime(max_conversations=1_000)

    async def scenario(rt: Runtime) -> tuple[int, int]:
        for _ in range(2_000):
            await mint(rt, Ticker)
        gc.collect()
        tracemalloc.start()
        try:
            for _ in range(2_000):
                await mint(rt, Ticker)
            gc.collect()
            at_4k = tracemalloc.get_traced_memory()[0]
            for _ in range(16_000):
                await mint(rt, Ticker)
            gc.collect()
            at_20k = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(rt.conversations) == 1_000 and rt.live.unused() == 1_000
        assert sum(rt.scheduler.held(c) for c in rt.conversations) == 1_000  # one timer each, none more
        assert len(rt.env.live) == 0 and not rt.streams.items()
        return at_4k, at_20k

    at_4k, at_20k = run(rt, scenario)
    print(f"traced memory after 4,000 views: {at_4k / 1024:.0f} KiB, after 20,000: {at_20k / 1024:.0f} KiB")
    # Past the cap, 16,000 more views leave the traced memory where 2,000 left it (not 8x more).
    assert at_20k < at_4k * 1.5 + 256 * 1024


def test_at_most_max_streams_per_conversation_the_oldest_is_told_to_stop() -> None:
    rt = runtime(max_streams=4)

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Tally)
        seen = rt.conversations[cid]["version"]  # the pages are up to date: no snapshot first
        streams = [await rt.open_stream(cid, f"page-{i}", seen) for i in range(5)]
        assert len(rt.streams.get(cid) or []) == 4
        first = streams[0]
        assert first is not None and first not in (rt.streams.get(cid) or [])
        last = first.queue.get_nowait()
        assert last is not None and f'hx-target="#{cid}-sse" hx-swap="delete"' in last.decode()
        assert first.queue.get_nowait() is None  # the body ends after that message

    run(rt, scenario)


def test_at_most_max_streams_per_session_across_its_conversations() -> None:
    rt = runtime(max_streams_per_session=3)

    async def scenario(rt: Runtime) -> None:
        cids = [await mint(rt, Tally, owner="one-session") for _ in range(4)]
        other = await mint(rt, Tally, owner="another-session")
        streams = [await rt.open_stream(c, "p", 0) for c in cids]
        assert await rt.open_stream(other, "p", 0) is not None
        assert rt.streams.get(cids[0]) is None and streams[0] is not None
        assert all(rt.streams.get(c) for c in cids[1:]) and rt.streams.get(other)

    run(rt, scenario)


def test_a_conversation_whose_only_activity_is_a_silent_stream_is_reaped_by_ttl() -> None:
    rt = runtime(ttl=60.0)

    async def scenario(rt: Runtime) -> None:
        quiet = await mint(rt, Tally)
        busy = await mint(rt, Tally)
        silent = await rt.open_stream(quiet, "p", 0)
        heard = await rt.open_stream(busy, "p", 0)
        assert silent is not None and heard is not None
        rt.conversations[quiet]["touched"] -= 120
        rt.conversations[busy]["touched"] -= 120
        await click(rt, busy, "inc")  # pushed to its stream (another page): that page is active
        assert await rt.reap() == [quiet]
        assert rt.streams.get(quiet) is None
        messages = []
        while not silent.queue.empty():
            messages.append(silent.queue.get_nowait())
        assert messages[-1] is None  # the stream was closed

    run(rt, scenario)


class Sorted(Component):
    name = "rtt/sorted"
    stash = ("sort",)
    template_string = '<div {{ root() }}>{{ self.sort }}</div>'

    def __init__(self) -> None:
        self.sort = "name"

    @event
    def by_date(self) -> None:
        self.sort = "date"

    @event
    def poke(self) -> None:
        pass


def test_the_stash_env_is_reused_until_the_session_views_change() -> None:
    rt = Runtime(env=Env(), store=InMemoryStore(), stash=Stash(InMemoryStashStore(), secret=b"k"))

    async def scenario(rt: Runtime) -> None:
        one = await mint(rt, Sorted, owner="session-a")
        first = await rt.views.env_for("session-a")
        await click(rt, one, "poke")
        assert await rt.views.env_for("session-a") is first  # nothing changed: no new Env per event
        await click(rt, one, "by_date")
        assert await rt.views.env_for("session-a") is not first
        # What the session stashed is what its next page view starts from.
        two = await mint(rt, Sorted, owner="session-a")
        assert state(rt, two)["sort"] == "date"
        assert state(rt, await mint(rt, Sorted, owner="session-b"))["sort"] == "name"

    run(rt, scenario)
