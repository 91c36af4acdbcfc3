"""Scale-out with several ``Stube`` apps in one test process, each with its own RedisBus and
RedisStore on one Redis: fast checks of the reload-and-retry and follow logic."""

from __future__ import annotations

import asyncio
import html as htmllib
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx2
import pytest

import stube
from tests.scale_app import Counter

pytest.importorskip("redis")

pytestmark = [pytest.mark.redis]

HX = {"HX-Request": "true"}


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def url_of(html: str, name: str) -> str:
    return htmllib.unescape(re.search(rf'hx-post="([^"]+/{name})"', html).group(1))  # type: ignore[union-attr]


def shown(html: str) -> int:
    return int(re.findall(r'class="n">(-?\d+)<', html)[-1])


def make(url: str) -> stube.Stube:
    app = stube.Stube(secret_key="inprocess", store=stube.RedisStore(url), bus=stube.RedisBus(url))
    app.mount("/", Counter)
    return app


Scenario = Callable[[list[httpx2.AsyncClient], list[stube.Stube]], Awaitable[None]]


def run(redis_url: str, n: int, scenario: Scenario, factory: Callable[[str], stube.Stube] = make) -> None:
    """``scenario`` against ``n`` apps made by ``factory`` (each a "process"), sharing one flushed redis."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()

    async def main() -> None:
        apps = [factory(redis_url) for _ in range(n)]
        async with AsyncExitStack() as stack:
            clients = []
            for app in apps:
                await stack.enter_async_context(app.lifespan())
                clients.append(await stack.enter_async_context(httpx2.AsyncClient(
                    transport=httpx2.ASGITransport(app=app), base_url="http://t")))
            await scenario(clients, apps)

    asyncio.run(main())


def test_reloads_and_events_alternating_over_processes_never_lose_a_click(redis_url: str) -> None:
    async def scenario(clients: list[httpx2.AsyncClient], apps: list[stube.Stube]) -> None:
        page = (await clients[0].get("/")).text
        cid, inc = cid_of(page), url_of(page, "inc")
        for c in clients[1:]:
            c.cookies = clients[0].cookies
        expected = 0
        for step in range(12):
            c = clients[step % len(clients)]
            if step % 4 == 3:
                r = await c.get(f"/?cv={cid}")
                assert r.status_code == 200 and shown(r.text) == expected
                continue
            r = await c.post(inc, headers=HX)
            expected += 1
            assert r.status_code == 200 and shown(r.text) == expected, step
        for c in clients:
            assert shown((await c.get(f"/?cv={cid}")).text) == expected

    run(redis_url, 3, scenario)


def test_a_reload_on_every_process_then_events_keep_counting(redis_url: str) -> None:
    async def scenario(clients: list[httpx2.AsyncClient], apps: list[stube.Stube]) -> None:
        page = (await clients[0].get("/")).text
        cid, inc = cid_of(page), url_of(page, "inc")
        for c in clients[1:]:
            c.cookies = clients[0].cookies
        n = len(clients)
        for i in range(5):
            assert shown((await clients[i % n].post(inc, headers=HX)).text) == i + 1
        for i in range(n):
            assert shown((await clients[(5 + i) % n].get(f"/?cv={cid}")).text) == 5
        for i in range(6):
            r = await clients[(5 + n + i) % n].post(inc, headers=HX)
            assert r.status_code == 200 and shown(r.text) == 6 + i

    run(redis_url, 3, scenario)


class Listens(stube.Component):
    """Subscribes (and arms a timer) in ``start`` and again in ``wakeup``, as components must when
    several processes may pick the conversation up."""

    name = "inprocess/listens"
    template_string = ('<div {{ root() }}><button {{ on("hello") }}>hi</button>'
                       '<span class="n">{{ self.ticks }}</span></div>')

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.ticks = 0

    def start(self) -> Any:
        return stube.subscribe("inprocess.topic", "on_message")

    def wakeup(self) -> Any:
        return [stube.subscribe("inprocess.topic", "on_message"), stube.after(0.3, "tick", kind="once")]

    @stube.event
    def hello(self) -> Any:
        return stube.after(0.3, "tick", kind="once")

    def on_message(self, msg: dict[str, str]) -> None:
        self.heard = self.heard + [msg["text"]]

    def tick(self, kind: str) -> None:
        self.ticks += 1


def make_listens(url: str) -> stube.Stube:
    app = stube.Stube(secret_key="inprocess", store=stube.RedisStore(url), bus=stube.RedisBus(url))
    app.mount("/", Listens)
    return app


def test_publish_crosses_processes_and_a_subscription_held_twice_delivers_once(redis_url: str) -> None:
    async def scenario(clients: list[httpx2.AsyncClient], apps: list[stube.Stube]) -> None:
        a, b = clients
        page = (await a.get("/")).text
        cid = cid_of(page)
        b.cookies = a.cookies
        assert (await a.post(url_of(page, "hello"), headers=HX)).status_code in (200, 204)  # A subscribes
        assert (await b.get(f"/?cv={cid}")).status_code == 200  # B picks it up: wakeup subscribes in B too
        assert apps[0].runtime.subscribers("inprocess.topic") == 1
        assert apps[1].runtime.subscribers("inprocess.topic") == 1

        # Host code on B publishes twice (delivered in some order: two processes deliver).
        apps[1].publish("inprocess.topic", {"text": "one"})
        apps[1].publish("inprocess.topic", {"text": "two"})

        async def stored_heard() -> list[str]:
            conv = await apps[0].runtime.store.load(cid)
            return conv["instances"][conv["stack"][0]]["state"]["heard"]  # type: ignore[no-any-return]

        for _ in range(500):
            got = await stored_heard()
            if {"one", "two"} <= set(got):
                break
            await asyncio.sleep(0.01)
        # Once each, although two processes hold the subscription.
        assert sorted(got) == ["one", "two"]

    run(redis_url, 2, scenario, make_listens)


def test_a_timer_armed_in_two_processes_fires_in_one(redis_url: str) -> None:
    async def scenario(clients: list[httpx2.AsyncClient], apps: list[stube.Stube]) -> None:
        a, b = clients
        page = (await a.get("/")).text
        cid = cid_of(page)
        b.cookies = a.cookies
        await a.post(url_of(page, "hello"), headers=HX)  # A arms the timer
        assert (await b.get(f"/?cv={cid}")).status_code == 200  # B picks it up: its wakeup arms it too
        assert apps[0].runtime.pending_timers(cid) == 1 and apps[1].runtime.pending_timers(cid) == 1

        async def ticks() -> int:
            conv = await apps[0].runtime.store.load(cid)
            return int(conv["instances"][conv["stack"][0]]["state"]["ticks"])

        for _ in range(500):
            if await ticks() >= 1:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # both timers are due by now
        assert await ticks() == 1
        assert apps[0].runtime.pending_timers(cid) == 0 and apps[1].runtime.pending_timers(cid) == 0

    run(redis_url, 2, scenario, make_listens)


def test_with_a_redis_bus_a_published_message_must_be_json(redis_url: str) -> None:
    async def scenario(clients: list[httpx2.AsyncClient], apps: list[stube.Stube]) -> None:
        with pytest.raises(stube.StateError, match="published on 'x'"):
            apps[0].publish("x", {"when": object()})
        assert apps[0].publish("x", {"fine": [1, "two"]}) == 0

    run(redis_url, 1, scenario)


def test_a_stream_that_may_have_missed_folds_while_the_bus_was_down_gets_a_snapshot(tmp_path: Any) -> None:
    from tests.cluster import RedisProcess

    server = RedisProcess(tmp_path / "redis", persistent=True).start()

    async def main() -> None:
        a, b = make(server.url), make(server.url)
        async with a.lifespan(), b.lifespan():
            minted = await a.runtime.mint(Counter, owner=None, principal=None, mount="/", base="")
            cid = minted.conversation["id"]
            version = minted.conversation["version"]
            stream = await a.runtime.open_stream(cid, "page-1", version)
            assert stream is not None
            while not stream.queue.empty():
                stream.queue.get_nowait()
            await asyncio.to_thread(server.restart)  # the bus loses its subscriptions for a moment
            for _ in range(1000):
                if not stream.queue.empty():
                    break
                await asyncio.sleep(0.01)
            message = stream.queue.get_nowait()
            assert message is not None and message.startswith(b"id: s-")  # a whole page: applies over anything

    try:
        asyncio.run(main())
    finally:
        server.stop()


class Opens(stube.Component):
    name = "inprocess/opens"
    template_string = '<div {{ root() }}><button {{ on("open") }}>open</button></div>'

    @stube.event
    def open(self) -> Any:
        return stube.call(Counter())  # a new frame: an instance B's copy does not have


def test_an_event_for_an_instance_another_process_created_is_applied(tmp_path: Any) -> None:
    """No bus (``--workers N`` on one SQLite file): the second process's copy lacks the new instance."""

    def app() -> stube.Stube:
        made = stube.Stube(secret_key="inprocess", store=stube.SQLiteStore(tmp_path / "s.db"))
        made.mount("/", Opens)
        return made

    async def main() -> None:
        a, b = app(), app()
        async with a.lifespan(), b.lifespan():
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=a), base_url="http://t") as ca, \
                    httpx2.AsyncClient(transport=httpx2.ASGITransport(app=b), base_url="http://t") as cb:
                page = (await ca.get("/")).text
                cid = cid_of(page)
                cb.cookies = ca.cookies
                await cb.get(f"/?cv={cid}")  # B holds a copy without the counter
                opened = await ca.post(url_of(page, "open"), headers=HX)  # A opens it
                r = await cb.post(url_of(opened.text, "inc"), headers=HX)  # the click lands on B
                assert r.status_code == 200 and shown(r.text) == 1

    asyncio.run(main())


def test_300_concurrent_events_over_three_processes_all_apply(redis_url: str) -> None:
    async def scenario(clients: list[httpx2.AsyncClient], apps: list[stube.Stube]) -> None:
        page = (await clients[0].get("/")).text
        cid, inc = cid_of(page), url_of(page, "inc")
        for c in clients[1:]:
            c.cookies = clients[0].cookies
        statuses = await asyncio.gather(*(clients[k % 3].post(inc, headers=HX) for k in range(300)))
        assert [r.status_code for r in statuses] == [200] * 300
        assert sorted(shown(r.text) for r in statuses) == list(range(1, 301))  # each saw its own step
        for c in clients:
            assert shown((await c.get(f"/?cv={cid}")).text) == 300
        print("stale retries:", [app.runtime.stale_retries for app in apps])

    run(redis_url, 3, scenario)
