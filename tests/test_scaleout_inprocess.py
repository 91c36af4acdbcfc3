"""Scale-out with several ``Stube`` apps in one test process, each with its own RedisBus and
RedisStore on one Redis: fast checks of the reload-and-retry and follow logic."""

from __future__ import annotations

import asyncio
import html as htmllib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
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


def run(redis_url: str, n: int, scenario: Scenario) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()

    async def main() -> None:
        apps = [make(redis_url) for _ in range(n)]
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
