"""The runtime's asynchronous machinery: timers, io, pub/sub, dispatch_to, shutdown."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import httpx2

import stube
from stube import Component, after, call, dispatch_to, end, event, io, subscribe, unsubscribe

HX = {"HX-Request": "true"}
LOG: list[Any] = []


class Clock(Component):
    name = "rt/clock"
    template_string = ('<div {{ root() }}><span class="t">{{ self.ticks }}</span>'
                       '<form><button {{ on("stop_it") }}>Stop</button></form></div>')

    def __init__(self) -> None:
        self.ticks = 0
        self.running = True

    def start(self):  # type: ignore[no-untyped-def]
        return after(0.02, "tick")

    def tick(self):  # type: ignore[no-untyped-def]
        if not self.running:
            return None
        self.ticks += 1
        return after(0.02, "tick")

    @event
    def stop_it(self):  # type: ignore[no-untyped-def]
        return end()

    def stop(self) -> None:
        LOG.append(("stopped", self.ticks))


class Worker(Component):
    name = "rt/worker"
    template_string = ('<div {{ root() }}><span class="r">{{ self.result }}</span>'
                       '<form><button {{ on("go") }}>Go</button></form></div>')

    def __init__(self) -> None:
        self.result = ""

    @event
    def go(self):  # type: ignore[no-untyped-def]
        def job() -> str:
            return f"{threading.current_thread() is threading.main_thread()}:{stube.app()}:{stube.conversation_id()}"
        return io(job, then="done")

    def done(self, result: str) -> None:
        self.result = result


class Listener(Component):
    name = "rt/listener"
    template_string = ('<div {{ root() }}>{{ self.heard|join(",") }}'
                       '<form><button {{ on("mute") }}>Mute</button></form></div>')

    def __init__(self) -> None:
        self.heard: list[str] = []

    def start(self):  # type: ignore[no-untyped-def]
        return subscribe("news", "hear")

    def hear(self, message: str) -> None:
        self.heard.append(message)

    @event
    def mute(self):  # type: ignore[no-untyped-def]
        return unsubscribe("news")


class Pair(Component):
    name = "rt/pair"
    template_string = '<div {{ root() }}>{{ slot("a") }}{{ slot("b") }}</div>'

    def children(self) -> dict[str, Component]:
        return {"a": Poker(), "b": Listener()}


class Poker(Component):
    name = "rt/poker"
    template_string = '<div {{ root() }}></div>'

    @event
    def poke(self):  # type: ignore[no-untyped-def]
        parent = stube_conversation_sibling()
        return dispatch_to(parent, "hear", message="poked")


def stube_conversation_sibling() -> str:
    return SIBLING["iid"]


SIBLING: dict[str, str] = {}


class Host(Component):
    """Calls a Clock as a dialog: answering it must cancel the dialog's timer."""

    name = "rt/host"
    template_string = '<div {{ root() }}><form><button {{ on("open") }}>Open</button></form></div>'

    @event
    def open(self):  # type: ignore[no-untyped-def]
        return call(Clock())


def make_app(**options: Any) -> stube.Stube:
    app = stube.Stube(secret_key="rt", app={"db": "fake"}, **options)
    app.mount("/clock", Clock)
    app.mount("/worker", Worker)
    app.mount("/listen", Listener)
    app.mount("/pair", Pair)
    app.mount("/host", Host)
    return app


def event_url(html: str, name: str, iid: str | None = None) -> str:
    m = re.search(rf'hx-post="([^"]+/{name})"', html)
    if m:
        return m.group(1)
    cid = re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    return f"/_stube/event/{cid}/{iid}/{name}"


async def wait_for(predicate, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def run(app: stube.Stube, scenario) -> Any:  # type: ignore[no-untyped-def]
    async def main() -> Any:
        async with app.lifespan():
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as c:
                return await scenario(c)
    return asyncio.run(main())


def state(app: stube.Stube, cid: str, iid: str | None = None) -> dict[str, Any]:
    conv = app.runtime.conversations[cid]
    return conv["instances"][iid or conv["stack"][-1]]["state"]


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def test_timers_fire_and_are_cancelled_when_the_conversation_ends():
    app = make_app()
    LOG.clear()

    async def scenario(c):  # type: ignore[no-untyped-def]
        page = (await c.get("/clock")).text
        cid = cid_of(page)
        await app.runtime.open_stream(cid, "p", 0)  # a page view's timers start with its first stream
        await wait_for(lambda: state(app, cid)["ticks"] >= 3)
        assert app.runtime.pending_timers(cid) == 1
        await c.post(event_url(page, "stop_it"), headers=HX)
        assert cid not in app.runtime.conversations
        assert app.runtime.pending_timers(cid) == 0
        assert LOG and LOG[-1][0] == "stopped"

    run(app, scenario)


def test_a_removed_instance_loses_its_timers():
    app = make_app()

    async def scenario(c):  # type: ignore[no-untyped-def]
        page = (await c.get("/host")).text
        cid = cid_of(page)
        await c.post(event_url(page, "open"), headers=HX)
        await wait_for(lambda: app.runtime.pending_timers(cid) == 1)
        clock = app.runtime.conversations[cid]["stack"][-1]
        # The dialog goes away (its caller's frame is replaced): its timer must not outlive it.
        from stube import kernel, replace

        class Swap(Component):
            name = "rt/swap"

            @event
            def swap(self):  # type: ignore[no-untyped-def]
                return replace(Worker())

        await app.runtime.apply(cid, lambda conv, env: kernel.run(
            {**conv, "instances": {**conv["instances"], clock: {**conv["instances"][clock], "type": "rt/swap"}}},
            kernel.Event(clock, "swap"), env))
        conv = app.runtime.conversations[cid]
        assert conv["instances"][conv["stack"][-1]]["type"] == "rt/worker"
        assert app.runtime.pending_timers(cid) == 0

    run(app, scenario)


def test_io_runs_off_the_loop_with_the_ambient_context_and_delivers_its_result():
    app = make_app()

    async def scenario(c):  # type: ignore[no-untyped-def]
        page = (await c.get("/worker")).text
        cid = cid_of(page)
        await c.post(event_url(page, "go"), headers=HX)
        await wait_for(lambda: state(app, cid)["result"] != "")
        assert state(app, cid)["result"] == f"False:{{'db': 'fake'}}:{cid}"

    run(app, scenario)


def test_publish_reaches_every_subscriber_until_it_unsubscribes():
    app = make_app()

    async def scenario(c):  # type: ignore[no-untyped-def]
        one = (await c.get("/listen")).text
        two = (await c.get("/listen")).text
        assert stube.publish("news", "unheard") == 0  # page views nobody uses subscribe to nothing
        for page in (one, two):
            await app.runtime.open_stream(cid_of(page), "p", 0)
        assert stube.publish("news", "first") == 2
        await wait_for(lambda: state(app, cid_of(one))["heard"] == ["first"]
                       and state(app, cid_of(two))["heard"] == ["first"])
        await c.post(event_url(one, "mute"), headers=HX)
        assert app.publish("news", "second") == 1
        await wait_for(lambda: state(app, cid_of(two))["heard"] == ["first", "second"])
        assert state(app, cid_of(one))["heard"] == ["first"]
        # From another thread (what io() functions do).
        count = await asyncio.to_thread(stube.publish, "news", "third")
        assert count == 1
        await wait_for(lambda: state(app, cid_of(two))["heard"][-1] == "third")

    run(app, scenario)


def test_dispatch_to_another_instance_after_the_handler():
    app = make_app()

    async def scenario(c):  # type: ignore[no-untyped-def]
        page = (await c.get("/pair")).text
        cid = cid_of(page)
        conv = app.runtime.conversations[cid]
        root = conv["instances"][conv["stack"][0]]
        SIBLING["iid"] = root["children"]["b"]
        poker = root["children"]["a"]
        r = await c.post(f"/_stube/event/{cid}/{poker}/poke", headers=HX)
        assert r.status_code in (200, 204)
        await wait_for(lambda: state(app, cid, SIBLING["iid"])["heard"] == ["poked"])

    run(app, scenario)


def test_shutdown_runs_stop_hooks_closes_streams_and_refuses_new_pages():
    app = make_app()
    LOG.clear()

    async def main() -> None:
        await app.startup()
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as c:
            page = (await c.get("/clock")).text
            cid = cid_of(page)
            stream = app.runtime.attach(cid, "p")
            await app.shutdown()
            assert LOG and LOG[-1][0] == "stopped"
            assert stream.queue.get_nowait() is None or stream.queue.qsize() >= 0
            assert app.runtime.pending_timers(cid) == 0
            r = await c.get("/clock")
            assert r.status_code == 503 and r.headers["retry-after"] == "5"

    asyncio.run(main())
