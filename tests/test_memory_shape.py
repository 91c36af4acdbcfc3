"""The compact conversation value the runtime holds (issue 13, memory) keeps every guarantee.

The runtime holds a conversation without the keys whose value is their default
and lets roots that start alike share their initial spec and record. These
tests pin what that must not change: a conversation stored by 0.2 (every key
spelled out) loads and works, a page view a shared store saved without its
history loads in another process, going back and "Start again" still work,
and nothing one user's page does shows up in another's.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

import stube
from stube import Component, back, event, kernel
from stube import conversation as cv
from stube.kernel import Env, Event
from stube.paint import RESTART
from stube.runtime import Runtime, Settings
from stube.store import FileStore
from stube.store.sqlite import SQLiteStore
from stube.testing import Harness
from tests.test_backtrack_http import HX, cid_of, event_url, step_of


class Count(Component):
    name = "memshape/count"
    template_string = '<div {{ root() }}><button {{ on("inc") }}>+</button><span class="n">{{ self.n }}</span></div>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def undo(self) -> Any:
        return back()


class Grabby(Component):
    """Its render appends to its own list (renders share the stored containers)."""

    name = "memshape/grabby"
    template_string = '<div {{ root() }}>{{ self.grab() }}<span class="n">{{ self.items|length }}</span></div>'

    def __init__(self) -> None:
        self.items: list[str] = []

    def grab(self) -> str:
        self.items.append("x")
        return ""


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def n_of(rt: Runtime, cid: str) -> int:
    conv = rt.conversations[cid]
    return conv["instances"][conv["stack"][-1]]["state"]["n"]  # type: ignore[no-any-return]


async def click(rt: Runtime, cid: str, name: str) -> kernel.Outcome | None:
    return await rt.apply(cid, Event(rt.conversations[cid]["stack"][-1], name))


def old_shaped(events: int) -> dict[str, Any]:
    """A counter conversation as stube 0.2 stored it: every key spelled out, ``created`` included."""
    h = Harness(Count())
    for _ in range(events):
        h.dispatch("inc")
    conv: dict[str, Any] = json.loads(json.dumps(h.conversation))
    full = {
        "id": conv["id"], "format": 1, "stack": conv["stack"], "instances": conv["instances"],
        "history": conv["history"], "history_limit": 50, "created": time.time() - 5, "touched": time.time(),
        "version": conv["version"], "owner": "session-hash", "principal": None, "mount": "/", "base": "",
        "last_url": None, "painted": conv["painted"], "ended": False, "result": None,
        "root_spec": conv["root_spec"], "step": conv["step"],
    }
    assert set(full) >= set(conv)  # nothing the kernel writes is missing from the 0.2 shape
    return full


def test_a_conversation_stored_by_0_2_loads_serves_events_goes_back_and_is_saved_again(tmp_path: Path) -> None:
    old = old_shaped(events=2)
    cid = old["id"]

    async def first() -> None:
        store = FileStore(tmp_path)
        await store.save(old)
        rt = Runtime(env=Env(), store=store, settings=Settings(ttl=60.0))
        await rt.start()
        held = rt.conversations[cid]
        assert "created" not in held and "principal" not in held  # held compactly, read the same
        assert n_of(rt, cid) == 2
        found = await rt.page(cid)
        assert found is not None and '<span class="n">2</span>' in found[1]
        out = await click(rt, cid, "inc")
        assert out is not None and out.error is None and n_of(rt, cid) == 3
        out = await rt.apply(cid, kernel.rewind)  # back over the new step ...
        assert out is not None and n_of(rt, cid) == 2
        out = await rt.apply(cid, kernel.rewind)  # ... and over one stored by 0.2
        assert out is not None and n_of(rt, cid) == 1
        await rt.shutdown()

    async def second() -> None:
        rt = Runtime(env=Env(), store=FileStore(tmp_path), settings=Settings(ttl=60.0))
        await rt.start()
        assert n_of(rt, cid) == 1 and rt.conversations[cid]["owner"] == "session-hash"
        out = await rt.apply(cid, kernel.rewind)
        assert out is not None and n_of(rt, cid) == 0
        assert await rt.reap(time.time() + 61) == [cid]  # the reaper reads its ``touched``
        assert cid not in await FileStore(tmp_path).load_all()  # ended: the store forgot it
        await rt.shutdown()

    run(first())
    run(second())


def test_a_page_view_a_shared_store_saved_without_history_loads_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"

    async def scenario() -> None:
        a = Runtime(env=Env(), store=SQLiteStore(path))
        await a.start()
        minted = await a.mint(Count, owner="s1", principal=None, mount="/", base="")
        cid = minted.conversation["id"]
        assert "history" not in a.conversations[cid]  # a page view: no steps yet
        b = Runtime(env=Env(), store=SQLiteStore(path))
        await b.start()
        out = await click(b, cid, "inc")
        assert out is not None and out.error is None and n_of(b, cid) == 1
        out = await b.apply(cid, kernel.rewind)
        assert out is not None and n_of(b, cid) == 0
        await b.shutdown()
        await a.shutdown()

    run(scenario())


def test_page_views_hold_no_key_at_its_default_and_the_kernel_reads_them_as_before() -> None:
    async def scenario() -> None:
        rt = Runtime(env=Env(), store=FileStoreless())
        await rt.start()
        minted = await rt.mint(Count, owner="s1", principal=None, mount="/", base="")
        cid = minted.conversation["id"]
        held = rt.conversations[cid]
        assert minted.conversation is held
        assert not [k for k in held if k in cv.DEFAULTS and held[k] == cv.DEFAULTS[k]]
        assert "version" in held and "format" in held and held["owner"] == "s1" and held["mount"] == "/"
        out = await click(rt, cid, "undo")  # back() with no steps yet: nothing happens, nothing fails
        assert out is not None and out.error is None and n_of(rt, cid) == 0
        await click(rt, cid, "inc")
        assert len(rt.conversations[cid]["history"]) == 1 and n_of(rt, cid) == 1
        await rt.shutdown()

    run(scenario())


class FileStoreless:
    """The default store (keeps nothing), spelled out so the test does not depend on the default."""

    async def load_all(self) -> dict[str, Any]:
        return {}

    async def save(self, conv: dict[str, Any]) -> None:
        json.dumps(conv)  # what the runtime hands a store is a JSON value

    async def delete(self, cid: str) -> None:
        return None


def test_roots_that_start_alike_share_their_start_and_each_still_starts_again_on_its_own() -> None:
    async def scenario() -> None:
        rt = Runtime(env=Env(), store=FileStoreless())
        await rt.start()
        a = (await rt.mint(Count, owner="a", principal=None, mount="/", base="")).conversation["id"]
        b = (await rt.mint(Count, owner="b", principal=None, mount="/", base="")).conversation["id"]
        assert rt.conversations[a]["root_spec"] is rt.conversations[b]["root_spec"]
        for _ in range(3):
            await click(rt, a, "inc")
        await click(rt, b, "inc")
        assert (n_of(rt, a), n_of(rt, b)) == (3, 1)
        out = await click(rt, a, RESTART)  # "Start again": the shared start, not a's current state
        assert out is not None and out.error is None
        assert (n_of(rt, a), n_of(rt, b)) == (0, 1)
        await click(rt, b, RESTART)
        await click(rt, a, "inc")
        assert (n_of(rt, a), n_of(rt, b)) == (1, 0)
        await rt.shutdown()

    run(scenario())


def test_what_one_users_render_does_to_its_state_does_not_reach_the_next_page_view() -> None:
    async def scenario() -> None:
        rt = Runtime(env=Env(), store=FileStoreless())
        await rt.start()
        first = await rt.mint(Grabby, owner="a", principal=None, mount="/", base="")
        a = first.conversation["id"]
        for _ in range(3):
            assert await rt.page(a) is not None  # each render appends to a's own list
        second = await rt.mint(Grabby, owner="b", principal=None, mount="/", base="")
        (page,) = second.fragments
        assert '<span class="n">1</span>' in page.html  # b's own first render, nothing of a's
        out = await click(rt, second.conversation["id"], RESTART)
        assert out is not None and '<span class="n">1</span>' in out.fragments[0].html
        await rt.shutdown()

    run(scenario())


def test_the_notice_for_a_step_past_the_default_history_limit_names_the_limit() -> None:
    app = stube.Stube(secret_key="memshape", backtrack=True)
    app.mount("/", Count)
    with TestClient(app) as client:
        page = client.get("/").text
        cid = cid_of(page)
        for _ in range(cv.DEFAULT_HISTORY_LIMIT + 1):
            assert client.post(event_url(page, "inc"), headers=HX).status_code == 200
        r = client.get(f"/?cv={cid}&step={step_of(page)}")
        assert r.status_code == 200 and "data-stube-step-gone" in r.text
        assert f"last {cv.DEFAULT_HISTORY_LIMIT} steps" in r.text
