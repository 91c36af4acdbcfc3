"""The message bus: LocalBus in one process, RedisBus between processes over a real redis-server."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from stube import LocalBus, StateError
from stube.bus import Bus, Message
from tests.cluster import RedisProcess, redis_process  # noqa: F401
from tests.redis_server import free_port
from tests.servers import ROOT

redis = pytest.importorskip("redis")
pytest.importorskip("redis.asyncio")

from stube import RedisBus  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait (bounded) for ``check()``; the bound only keeps a broken bus from hanging the suite."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)
    assert check(), what


@pytest.fixture
async def flushed(redis_url: str) -> AsyncIterator[Any]:
    client = redis.asyncio.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    """(publisher, subscriber): one LocalBus twice, or two RedisBus instances (two "processes")."""
    if request.param == "local":
        bus = LocalBus()
        await bus.start()
        yield bus, bus
        await bus.close()
        return
    url = request.getfixturevalue("redis_url")
    raw = redis.asyncio.from_url(url)
    await raw.flushdb()
    await raw.aclose()
    a, b = RedisBus(url), RedisBus(url)
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


# -- what both buses promise -----------------------------------------------------------------------

async def test_publish_returns_before_handlers_and_each_subscriber_gets_its_own_copy(pair: tuple[Bus, Bus]) -> None:
    pub, sub_bus = pair
    first: list[Message] = []
    second: list[Message] = []
    s1 = sub_bus.subscribe("news", first.append)
    s2 = sub_bus.subscribe("news", second.append)
    await s1.ready()
    await s2.ready()
    sent = {"items": [1, 2.5, "three", None, True], "nested": {"k": "v"}}
    await pub.publish("news", sent)
    assert first == [] and second == []  # delivery happens on the loop, after publish returned
    await until(lambda: len(first) == len(second) == 1, "both subscribers got the message")
    assert first[0].data == sent == second[0].data
    assert first[0].channel == "news" and first[0].sender == pub.node_id
    assert first[0].own is (pub is sub_bus)
    first[0].data["items"].append("mutated")
    assert sent["items"] == [1, 2.5, "three", None, True]
    assert second[0].data["items"] == [1, 2.5, "three", None, True]


async def test_messages_on_a_channel_arrive_in_publish_order_even_to_a_slow_async_handler(
        pair: tuple[Bus, Bus]) -> None:
    pub, sub_bus = pair
    got: list[int] = []
    other: list[int] = []

    async def slow(message: Message) -> None:
        await asyncio.sleep(0.001 * (message.data["n"] % 3))
        got.append(message.data["n"])

    sub = sub_bus.subscribe("seq", slow)
    other_sub = sub_bus.subscribe("elsewhere", lambda m: other.append(m.data["n"]))
    await sub.ready()
    await other_sub.ready()
    for n in range(100):
        await pub.publish("seq", {"n": n})
    await pub.publish("elsewhere", {"n": -1})
    await until(lambda: len(got) == 100 and other == [-1], "all 100 messages and the other channel's one")
    assert got == list(range(100))


async def test_unsubscribed_handlers_hear_nothing_more(pair: tuple[Bus, Bus]) -> None:
    pub, sub_bus = pair
    kept: list[int] = []
    dropped: list[int] = []
    keep = sub_bus.subscribe("c", lambda m: kept.append(m.data["n"]))
    with sub_bus.subscribe("c", lambda m: dropped.append(m.data["n"])) as gone:
        await keep.ready()
        await gone.ready()
        await pub.publish("c", {"n": 1})
        await until(lambda: kept == [1] and dropped == [1], "both heard the first")
    assert gone.closed and not gone.active
    gone.close()  # twice is harmless
    await pub.publish("c", {"n": 2})
    await until(lambda: kept == [1, 2], "the remaining subscriber heard the second")
    keep.close()
    last = sub_bus.subscribe("c", lambda m: kept.append(m.data["n"] * 10))
    await last.ready()
    await pub.publish("c", {"n": 3})
    await until(lambda: kept == [1, 2, 30], "a new subscriber on the channel hears the third")
    assert dropped == [1]


async def test_a_failing_handler_is_logged_and_the_subscription_carries_on(
        pair: tuple[Bus, Bus], caplog: pytest.LogCaptureFixture) -> None:
    pub, sub_bus = pair
    got: list[int] = []

    def picky(message: Message) -> None:
        if message.data["n"] == 1:
            raise RuntimeError("boom")
        got.append(message.data["n"])

    sub = sub_bus.subscribe("p", picky)
    await sub.ready()
    with caplog.at_level(logging.ERROR, logger="stube.bus"):
        for n in range(3):
            await pub.publish("p", {"n": n})
        await until(lambda: got == [0, 2], "the messages around the failing one")
    assert any("a handler on 'p' failed" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("bad, culprit", [
    ({"t": (1, 2)}, "tuples do not survive JSON"),
    ({"x": math.nan}, "not a finite number"),
    ({"d": {1: "one"}}, "dict key 1 is a int"),
    ({"o": object()}, "a object is not JSON"),
    ([1, 2], "a list is not a JSON object"),
])
async def test_a_message_that_is_not_a_json_object_is_refused_and_nothing_is_sent(
        pair: tuple[Bus, Bus], bad: Any, culprit: str) -> None:
    pub, sub_bus = pair
    got: list[Message] = []
    sub = sub_bus.subscribe("j", got.append)
    await sub.ready()
    with pytest.raises(StateError, match="bus message on 'j'") as refused:
        await pub.publish("j", bad)
    assert culprit in str(refused.value)
    await pub.publish("j", {"fine": True})
    await until(lambda: len(got) == 1, "the valid message after the refused one")
    assert got[0].data == {"fine": True}


async def test_bad_channels_and_claims_are_refused(pair: tuple[Bus, Bus]) -> None:
    pub, _ = pair
    with pytest.raises(ValueError, match="non-empty str"):
        await pub.publish("", {})
    with pytest.raises(ValueError, match="non-empty str"):
        pub.subscribe(b"x", print)  # type: ignore[arg-type]
    for ttl in (0, -1, math.inf, True, "5"):
        with pytest.raises(ValueError, match="positive number of seconds"):
            await pub.claim("k", ttl)  # type: ignore[arg-type]


async def test_local_bus_claims_always_and_drain_waits_for_handlers() -> None:
    bus = LocalBus()
    assert isinstance(bus, Bus)
    assert await bus.claim("timer:abc", 5) and await bus.claim("timer:abc", 5)
    got: list[int] = []

    async def handler(message: Message) -> None:
        await asyncio.sleep(0)
        got.append(message.data["n"])

    bus.subscribe("c", handler)
    for n in range(5):
        await bus.publish("c", {"n": n})
    await bus.drain()
    assert got == [0, 1, 2, 3, 4]
    await bus.close()
    with pytest.raises(RuntimeError, match="closed"):
        await bus.publish("c", {"n": 9})


# -- RedisBus between processes --------------------------------------------------------------------

@pytest.mark.redis
async def test_each_process_receives_only_the_channels_it_follows(redis_url: str, flushed: Any) -> None:
    a, b = RedisBus(redis_url), RedisBus(redis_url)
    try:
        at_a: list[Message] = []
        at_b: list[Message] = []
        sa = a.subscribe("room", at_a.append)
        sb = b.subscribe("room", at_b.append)
        sb2 = b.subscribe("only-b", at_b.append)
        for s in (sa, sb, sb2):
            await s.ready()
        assert await flushed.pubsub_numsub("stube:bus:room", "stube:bus:only-b") == [
            (b"stube:bus:room", 2), (b"stube:bus:only-b", 1)]
        await a.publish("room", {"hi": "all"})
        await a.publish("only-b", {"hi": "b"})
        await until(lambda: len(at_a) == 1 and len(at_b) == 2, "room to both, only-b to b")
        assert (at_a[0].own, at_b[0].own) == (True, False)
        assert {m.sender for m in at_a + at_b} == {a.node_id} != {b.node_id}
        assert [m.channel for m in at_b] == ["room", "only-b"]
        sb2.close()
        async with asyncio.timeout(10):
            while (await flushed.pubsub_numsub("stube:bus:only-b"))[0][1] != 0:
                await asyncio.sleep(0.01)  # the last local subscriber gone: the server forgets b too
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis
async def test_a_foreign_message_on_a_channel_is_dropped_with_a_warning(
        redis_url: str, flushed: Any, caplog: pytest.LogCaptureFixture) -> None:
    bus = RedisBus(redis_url)
    try:
        got: list[Message] = []
        sub = bus.subscribe("c", got.append)
        await sub.ready()
        with caplog.at_level(logging.WARNING, logger="stube.bus"):
            await flushed.publish("stube:bus:c", b"not json")
            await flushed.publish("stube:bus:c", b'{"v": 99, "data": {}}')
            await bus.publish("c", {"ok": 1})
            await until(lambda: len(got) == 1, "the real message after the foreign ones")
        assert got[0].data == {"ok": 1}
        warnings = [r.getMessage() for r in caplog.records if r.name == "stube.bus"]
        assert any("not JSON" in w for w in warnings) and any("not a stube bus envelope" in w for w in warnings)
    finally:
        await bus.close()


@pytest.mark.redis
async def test_claim_lets_exactly_one_process_act_until_it_expires_or_is_released(
        redis_url: str, flushed: Any) -> None:
    a, b, c = RedisBus(redis_url), RedisBus(redis_url), RedisBus(redis_url)
    try:
        results = await asyncio.gather(*(bus.claim("timer:conv1:7", 30) for bus in (a, b, c) for _ in range(3)))
        winners = {bus for bus, won in zip([a] * 3 + [b] * 3 + [c] * 3, results, strict=True) if won}
        assert len(winners) == 1  # every attempt of the winner succeeds, every other one fails
        (winner,) = winners
        assert sum(results) == 3
        loser = b if winner is not b else c
        assert await flushed.get("stube:claim:timer:conv1:7") == winner.node_id.encode()
        await flushed.pexpire("stube:claim:timer:conv1:7", 1000)
        assert await winner.claim("timer:conv1:7", 60)  # renewing its own claim extends it
        assert await flushed.pttl("stube:claim:timer:conv1:7") > 30_000
        await loser.release("timer:conv1:7")  # not the loser's to release
        assert not await loser.claim("timer:conv1:7", 30)
        await winner.release("timer:conv1:7")
        assert await loser.claim("timer:conv1:7", 30)
        assert not await winner.claim("timer:conv1:7", 30)
        assert await a.claim("short", 0.05)
        async with asyncio.timeout(10):
            while not await b.claim("short", 30):  # a's claim lapses by itself
                await asyncio.sleep(0.02)
    finally:
        for bus in (a, b, c):
            await bus.close()


@pytest.mark.redis
async def test_start_fails_clearly_when_redis_cannot_be_reached() -> None:
    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    with pytest.raises(ConnectionError, match="cannot reach Redis"):
        await bus.start()
    await bus.close()


@pytest.mark.redis
async def test_a_bus_on_an_existing_client_leaves_that_client_open(redis_url: str, flushed: Any) -> None:
    client = redis.asyncio.from_url(redis_url)
    bus = RedisBus(client, prefix="app2:")
    got: list[Message] = []
    sub = bus.subscribe("c", got.append)
    await sub.ready()
    assert await flushed.pubsub_numsub("app2:bus:c") == [(b"app2:bus:c", 1)]
    await bus.publish("c", {"n": 1})
    await until(lambda: len(got) == 1, "delivered through the given client")
    await bus.close()
    assert await client.ping()
    await client.aclose()


CHILD = textwrap.dedent("""
    import asyncio, os, sys
    from stube.bus import RedisBus

    async def main():
        bus = RedisBus(sys.argv[1])
        done = asyncio.Event()

        async def echo(message):
            if message.data.get("stop"):
                done.set()
                return
            await bus.publish("pong", {"n": message.data["n"], "pid": os.getpid()})

        sub = bus.subscribe("ping", echo)
        await sub.ready()
        await bus.publish("pong", {"ready": True, "node": bus.node_id, "pid": os.getpid()})
        await asyncio.wait_for(done.wait(), 30)
        await bus.close()

    asyncio.run(main())
""")


@pytest.mark.redis
@pytest.mark.slow
async def test_messages_cross_to_a_real_subprocess_and_back_in_order(redis_url: str, flushed: Any) -> None:
    bus = RedisBus(redis_url)
    pongs: list[Message] = []
    sub = bus.subscribe("pong", pongs.append)
    await sub.ready()
    child = subprocess.Popen([sys.executable, "-c", CHILD, redis_url], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        await until(lambda: len(pongs) == 1, "the child's hello", timeout=20)
        hello = pongs.pop()
        assert hello.data["ready"] and hello.data["pid"] == child.pid != os.getpid()
        assert hello.sender == hello.data["node"] != bus.node_id and not hello.own
        for n in range(50):
            await bus.publish("ping", {"n": n})
        await until(lambda: len(pongs) == 50, "50 answers")
        assert [m.data["n"] for m in pongs] == list(range(50))
        assert {m.sender for m in pongs} == {hello.sender}
        await bus.publish("ping", {"stop": True})
        assert await asyncio.to_thread(child.wait, 20) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        await bus.close()


@pytest.mark.redis
@pytest.mark.slow
async def test_subscriptions_come_back_after_redis_restarts_with_one_gap_notice_and_one_log(
        redis_process: RedisProcess, caplog: pytest.LogCaptureFixture) -> None:
    pub, listener = RedisBus(redis_process.url), RedisBus(redis_process.url)
    got: list[int] = []
    gaps: list[str] = []
    sub = listener.subscribe("c", lambda m: got.append(m.data["n"]), on_gap=lambda: gaps.append("gap"))
    quiet = listener.subscribe("d", lambda m: None)  # no on_gap: nothing to call
    try:
        with caplog.at_level(logging.INFO, logger="stube.bus"):
            await sub.ready()
            await quiet.ready()
            await pub.publish("c", {"n": 1})
            await until(lambda: got == [1], "before the outage")
            redis_process.kill9()
            await until(lambda: not sub.active, "the listener noticed the drop")
            with pytest.raises(redis.exceptions.ConnectionError):
                await pub.publish("c", {"n": 2})  # a publish that cannot reach Redis raises
            await asyncio.sleep(0.5)  # several reconnection attempts fail meanwhile
            redis_process.start()  # same port, empty
            await sub.ready(timeout=15)
            await quiet.ready(timeout=15)
            await until(lambda: gaps == ["gap"], "one gap notice")
            await pub.publish("c", {"n": 3})
            await until(lambda: got == [1, 3], "after the outage")
        records = [r.getMessage() for r in caplog.records if r.name == "stube.bus"]
        assert len([m for m in records if "lost the Redis subscription connection" in m]) == 1
        assert len([m for m in records if "is back after" in m and "resubscribing 2 channels" in m]) == 1
        assert gaps == ["gap"]
    finally:
        await pub.close()
        await listener.close()


@pytest.mark.redis
@pytest.mark.slow
async def test_a_redis_that_stops_answering_is_noticed_by_the_keepalive_ping(
        redis_process: RedisProcess) -> None:
    listener = RedisBus(redis_process.url, keepalive=0.2)
    gaps: list[str] = []
    got: list[int] = []
    sub = listener.subscribe("c", lambda m: got.append(m.data["n"]), on_gap=lambda: gaps.append("gap"))
    try:
        await sub.ready()
        redis_process.pause()  # the TCP connection stays open; nothing answers
        try:
            await until(lambda: not sub.active, "the unanswered PING ended the connection")
        finally:
            redis_process.resume()
        await sub.ready(timeout=15)
        await until(lambda: gaps == ["gap"], "the gap notice")
        pub = RedisBus(redis_process.url)
        await pub.publish("c", {"n": 1})
        await until(lambda: got == [1], "delivery after the hang")
        await pub.close()
    finally:
        await listener.close()
