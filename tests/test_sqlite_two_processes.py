"""Two uvicorn processes on one SQLiteStore file (the ``--workers 2`` case): concurrent events all count.

500 clicks on one conversation, sent 50 at a time and alternating between the
two processes, are all applied (each in some order), none is answered 410, and
a fresh process on the same file shows exactly 500.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from pathlib import Path

import httpx2
import pytest

from tests.uvicorn_proc import HX, Uvicorn, page_parts

pytestmark = pytest.mark.slow

EVENTS = 500
CONCURRENCY = 50


def count(html: str) -> int:
    found = re.search(r'<span class="n">(\d+)</span>', html)
    assert found, html[:400]
    return int(found.group(1))


async def click_all(urls: list[str], post: str, cookies: httpx2.Cookies) -> Counter[int]:
    limits = httpx2.Limits(max_connections=CONCURRENCY)
    clients = [httpx2.AsyncClient(base_url=u, cookies=cookies, timeout=60, limits=limits) for u in urls]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> int:
        async with gate:
            return (await clients[i % len(clients)].post(post, headers=HX)).status_code

    try:
        return Counter(await asyncio.gather(*(one(i) for i in range(EVENTS))))
    finally:
        for c in clients:
            await c.aclose()


def test_500_concurrent_events_from_two_processes_on_one_sqlite_file_all_count(tmp_path: Path) -> None:
    env = {"FAULTS_STORE": f"sqlite:{tmp_path / 'stube.db'}"}
    a = Uvicorn("tests.faults_app:plain", tmp_path / "a.log", env=env).start()
    b = Uvicorn("tests.faults_app:plain", tmp_path / "b.log", env=env).start()
    try:
        with httpx2.Client(base_url=a.url, timeout=30) as client:
            page = page_parts(client.get("/counter").text)
            statuses = asyncio.run(click_all([a.url, b.url], page["post"], client.cookies))
            print(f"\n2 processes, one SQLite file, {EVENTS} concurrent events: {dict(statuses)}")
            assert statuses == Counter({200: EVENTS})
            for server in (a, b):
                assert server.stop(signal.SIGTERM)[1]
            fresh = Uvicorn("tests.faults_app:plain", tmp_path / "c.log", env=env).start()
            try:
                shown = client.get(f"{fresh.url}/counter?cv={page['cid']}").text
                assert count(shown) == EVENTS
            finally:
                fresh.kill()
    finally:
        a.kill()
        b.kill()
