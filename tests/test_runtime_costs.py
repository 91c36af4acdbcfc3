"""What a fold that changes nothing costs the runtime: no render, no save, no version."""

from __future__ import annotations

import asyncio
from typing import Any

from stube import Component, after, event

from .runtime_support import MemoryStore, click, mint, run, runtime

RENDERS: list[str] = []
TICKS: list[int] = []


class Idle(Component):
    """A page whose timer ticks and re-arms without touching its state."""

    name = "rtc/idle"

    def __init__(self) -> None:
        self.n = 0

    def start(self):  # type: ignore[no-untyped-def]
        return after(0.005, "tick")

    def tick(self):  # type: ignore[no-untyped-def]
        TICKS.append(self.n)
        return after(0.005, "tick")

    def render(self) -> str:
        RENDERS.append(self.iid or "")
        return f'<div id="{self.iid}">{self.n}</div>'

    @event
    def poke(self) -> None:
        self.n += 1


def test_a_timer_tick_that_changes_nothing_renders_nothing_and_saves_nothing() -> None:
    store = MemoryStore()
    rt = runtime(store)

    async def scenario(rt: Any) -> None:
        cid = await mint(rt, Idle)
        await click(rt, cid, "poke")  # used: the held timer starts, the conversation is saved once
        saves, renders, version = store.saves, len(RENDERS), rt.conversations[cid]["version"]
        TICKS.clear()
        for _ in range(400):  # bounded: at most 2 s
            if len(TICKS) >= 5:
                break
            await asyncio.sleep(0.005)
        assert len(TICKS) >= 5
        assert store.saves == saves
        assert len(RENDERS) == renders
        assert rt.conversations[cid]["version"] == version
        assert rt.pending_timers(cid) == 1  # it still re-arms

    run(rt, scenario)
