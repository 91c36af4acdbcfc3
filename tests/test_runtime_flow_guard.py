"""A conversation holding a live non-durable flow is not saved, with one WARNING per conversation.

The policy lives in the runtime's save path, so every store gets it, a user's own too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import stube
from stube.runtime import Runtime
from tests.runtime_support import MemoryStore, Tally, click, mint, run, runtime


def guard_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "stube.store" and r.levelno == logging.WARNING]


def pretend_live(monkeypatch: pytest.MonkeyPatch, live: dict[str, str], rt: Runtime) -> None:
    """``stube.flows.live_continuations`` reports a live flow named ``live[cid]`` for those conversations.

    A real one keeps its continuation in the runtime's ``env.live``, which the save path looks at first.
    """
    rt.env.live[("tests", "pretend")] = object()
    def live_continuations(conv: dict[str, Any]) -> list[tuple[str, str]]:
        name = live.get(conv["id"])
        return [(conv["stack"][-1], name), ("ix-00000000ff", name)] if name else []

    monkeypatch.setattr(stube.flows, "live_continuations", live_continuations)


def test_live_flows_are_skipped_with_one_warning_per_conversation(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()  # not one of stube's stores: the guard comes from the runtime
    rt = runtime(store)
    live: dict[str, str] = {}
    pretend_live(monkeypatch, live, rt)
    caplog.set_level(logging.WARNING, logger="stube.store")

    async def scenario(rt: Runtime) -> None:
        flowing, other, plain = [await mint(rt, Tally) for _ in range(3)]
        live.update({flowing: "app.onboard", other: "app.checkout"})
        for _ in range(5):
            for cid in (flowing, other, plain):
                assert await click(rt, cid, "inc") is not None  # the live conversation keeps working
        assert list(store.data) == [plain]
        warnings = guard_warnings(caplog)
        assert len(warnings) == 2
        assert flowing in warnings[0] and "app.onboard" in warnings[0]
        assert other in warnings[1] and "app.checkout" in warnings[1]
        assert warnings[0] == (
            f"conversation {flowing} not saved: it holds a live flow (app.onboard) that cannot be serialised; "
            "it keeps working in memory but will not survive a restart or move to another process. "
            "Use @stube.flow(durable=True) or a task component to persist it.")

        # Once the flow has finished, the conversation is saved again, still without a new warning.
        del live[flowing]
        await click(rt, flowing, "inc")
        assert store.data[flowing] is rt.conversations[flowing]
        assert len(guard_warnings(caplog)) == 2

    run(rt, scenario)
    assert len(guard_warnings(caplog)) == 2  # the shutdown save warns no more


def test_a_skipped_conversation_is_not_dropped_from_memory_to_make_room(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    rt = runtime(store, max_conversations=2)
    live: dict[str, str] = {}
    pretend_live(monkeypatch, live, rt)

    async def scenario(rt: Runtime) -> None:
        flowing = await mint(rt, Tally)
        await click(rt, flowing, "inc")           # saved: the store has version 2
        live[flowing] = "app.wizard"
        await click(rt, flowing, "inc")           # skipped: the store's copy is older now
        saved = await mint(rt, Tally)
        await click(rt, saved, "inc")
        await mint(rt, Tally)                     # full: the least recent (flowing) must go
        # It could not be reloaded from the store without losing a step: it ended instead.
        assert flowing not in rt.conversations
        for _ in range(100):  # the store's stale copy is deleted in the background
            if flowing not in store.data:
                break
            await asyncio.sleep(0.01)
        assert flowing not in store.data and saved in store.data

    run(rt, scenario)


def test_the_default_in_memory_store_warns_about_nothing(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    rt = runtime()
    pretend_live(monkeypatch, {}, rt)
    caplog.set_level(logging.WARNING, logger="stube.store")

    async def scenario(rt: Runtime) -> None:
        cid = await mint(rt, Tally)
        monkeypatch.setattr(stube.flows, "live_continuations", lambda conv: [("ix-1", "app.flow")])
        await click(rt, cid, "inc")

    run(rt, scenario)
    assert guard_warnings(caplog) == []
