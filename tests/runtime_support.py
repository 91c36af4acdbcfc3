"""Shared pieces of the runtime tests: small components, stores and a Runtime built without HTTP."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from typing import Any

from stube import Component, after, event, io, subscribe
from stube.kernel import Env, Event
from stube.runtime import Runtime, Settings
from stube.store import InMemoryStore

TICKS: list[str] = []


class Tally(Component):
    """A counter whose ``arm`` event starts a timer (so a failed save can show it never ran)."""

    name = "rtt/tally"
    template_string = '<div {{ root() }}><span class="n">{{ self.n }}</span></div>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def arm(self):  # type: ignore[no-untyped-def]
        self.n += 1
        return after(0.01, "tick")

    def tick(self) -> None:
        TICKS.append("tally")


class Ticker(Component):
    """A page whose ``start()`` arms a 50 ms timer, the clock a crawler must not keep running."""

    name = "rtt/ticker"
    template_string = '<div {{ root() }}>{{ self.n }}</div>'

    def __init__(self) -> None:
        self.n = 0

    def start(self):  # type: ignore[no-untyped-def]
        return after(0.05, "tick")

    def tick(self):  # type: ignore[no-untyped-def]
        TICKS.append("ticker")
        self.n += 1
        return after(0.05, "tick")

    @event
    def poke(self) -> None:
        pass


class Hearer(Component):
    """Subscribes and starts an ``io`` job in ``start()``: both held for a page view."""

    name = "rtt/hearer"
    template_string = '<div {{ root() }}>{{ self.heard|join(",") }}</div>'

    def __init__(self) -> None:
        self.heard: list[str] = []

    def start(self):  # type: ignore[no-untyped-def]
        return [subscribe("rtt-news", "hear"), io(lambda: "io-ran", then="hear")]

    def hear(self, message: str) -> None:
        self.heard.append(message)

    @event
    def poke(self) -> None:
        pass


class MemoryStore:
    """A store that keeps copies (so evicted conversations can come back) and can be made to fail."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.saves = 0
        self.failing = False

    async def load_all(self) -> dict[str, dict[str, Any]]:
        return dict(self.data)

    async def load(self, cid: str) -> dict[str, Any] | None:
        return self.data.get(cid)

    async def save(self, conv: dict[str, Any]) -> None:
        if self.failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.saves += 1
        self.data[conv["id"]] = conv

    async def delete(self, cid: str) -> None:
        self.data.pop(cid, None)


def runtime(store: Any = None, **settings: Any) -> Runtime:
    """A Runtime over ``store`` (a forgetting in-memory one by default)."""
    return Runtime(env=Env(), store=store if store is not None else InMemoryStore(), settings=Settings(**settings))


def run(rt: Runtime, scenario: Callable[[Runtime], Awaitable[Any]]) -> Any:
    """Start ``rt``, run ``scenario(rt)``, shut it down."""
    async def main() -> Any:
        await rt.start()
        try:
            return await scenario(rt)
        finally:
            await rt.shutdown()
    return asyncio.run(main())


async def mint(rt: Runtime, root: type[Component], owner: str | None = "owner-1") -> str:
    out = await rt.mint(root, owner=owner, principal=None, mount="/", base="")
    return str(out.conversation["id"])


def top(rt: Runtime, cid: str) -> str:
    conv = rt.conversations[cid]
    return str(conv["stack"][-1])


def state(rt: Runtime, cid: str) -> dict[str, Any]:
    conv = rt.conversations[cid]
    return dict(conv["instances"][conv["stack"][-1]]["state"])


def click(rt: Runtime, cid: str, name: str) -> Awaitable[Any]:
    """What the HTTP layer does for a browser event."""
    return rt.apply(cid, Event(top(rt, cid), name))
