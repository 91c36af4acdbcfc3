"""The actor under load: total order per session, CAS across 'processes', idle release."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from stube.stash import InMemoryStashStore, Stash
from tests.stash_support import Backend, anyio_backend, backend  # noqa: F401

pytestmark = pytest.mark.anyio

V = "app.views.Table"


async def test_200_concurrent_merges_of_distinct_keys(backend: Backend) -> None:
    st = backend.stash()
    s = st.session("sid")
    results = await asyncio.gather(*(s.merge(V, {f"k{i}": i}) for i in range(200)))
    assert all(results)
    want = {f"k{i}": i for i in range(200)}
    assert await s.get_view(V) == want
    assert await backend.stash().session("sid").get_view(V) == want


async def test_writes_to_one_key_land_in_the_order_they_were_issued(backend: Backend) -> None:
    s = backend.stash().session("sid")
    await asyncio.gather(*(s.merge(V, {"sort": i}) for i in range(100)))
    assert await s.get_view(V) == {"sort": 99}


async def test_merges_and_drops_interleave_in_issue_order(backend: Backend) -> None:
    s = backend.stash().session("sid")
    ops = []
    for i in range(50):
        ops.append(s.merge(V, {"a": i, "b": i}))
        ops.append(s.drop(V, ["b"]))
    ops.append(s.merge(V, {"c": 1}, vsn=2))
    await asyncio.gather(*ops)
    assert await s.fetch_view(V) == {"vsn": 2, "data": {"c": 1}}


async def test_many_sessions_run_concurrently(backend: Backend) -> None:
    st = backend.stash()
    sessions = [st.session(f"sid-{n}") for n in range(20)]
    await asyncio.gather(*(s.merge(V, {f"k{i}": n}) for i in range(10) for n, s in enumerate(sessions)))
    fresh = backend.stash()
    for n in range(20):
        assert await fresh.session(f"sid-{n}").get_view(V) == {f"k{i}": n for i in range(10)}


async def test_two_processes_never_lose_each_others_writes(backend: Backend) -> None:
    """Two Stash objects on one store (two processes) write different keys of one view."""
    a, b = backend.stash(count=True), backend.stash(count=True)
    sa, sb = a.session("sid"), b.session("sid")
    await sa.merge(V, {"seed": 0})
    await sb.get_view(V)  # b's actor now holds a version that a's writes will make stale
    ops = []
    for i in range(100):
        ops.append(sa.merge(V, {f"a{i}": i}))
        ops.append(sb.merge(V, {f"b{i}": i}))
    assert all(await asyncio.gather(*ops))
    want = {"seed": 0, **{f"a{i}": i for i in range(100)}, **{f"b{i}": i for i in range(100)}}
    assert await sa.get_view(V) == want
    assert await sb.get_view(V) == want
    assert await backend.stash().session("sid").get_view(V) == want
    assert a.store.conflicts + b.store.conflicts > 0  # the CAS retry path really ran


async def test_a_stale_actor_still_wins_with_a_later_write(backend: Backend) -> None:
    """Per-key LWW across processes: a write equal to a stale cache is not mistaken for a no-op."""
    a, b = backend.stash(), backend.stash()
    sa, sb = a.session("sid"), b.session("sid")
    await sa.merge(V, {"sort": "name", "page": 1})
    await sb.merge(V, {"sort": "date"})
    assert await sa.merge(V, {"sort": "name"}) is True  # a's cache still says "name"
    assert await sb.get_view(V) == {"sort": "name", "page": 1}
    await sb.reset_view(V)
    assert await sa.merge(V, {"page": 1}) is True  # a's cache still has the slice
    assert await backend.stash().session("sid").fetch_view(V) == {"vsn": 1, "data": {"page": 1}}
    await sb.merge(V, {"sort": "x"})
    assert await sa.drop(V, ["sort"]) is True
    assert await sb.get_view(V) == {"page": 1}


async def test_a_new_vsn_from_another_process_is_respected(backend: Backend) -> None:
    a, b = backend.stash(), backend.stash()
    sa, sb = a.session("sid"), b.session("sid")
    await sa.merge(V, {"old": 1}, vsn=1)
    await sb.merge(V, {"new": 1}, vsn=2)
    await sa.merge(V, {"more": 2}, vsn=2)  # a's cached slice is vsn 1: it must merge into b's vsn 2
    assert await backend.stash().session("sid").fetch_view(V) == {"vsn": 2, "data": {"new": 1, "more": 2}}


async def wait_for(cond, timeout: float = 3.0) -> None:
    with anyio.fail_after(timeout):
        while not cond():
            await anyio.sleep(0.005)


async def test_idle_actors_are_released_and_come_back_from_the_store(backend: Backend) -> None:
    st = backend.stash(idle=0.2)
    for n in range(3):
        await st.session(f"sid-{n}").merge(V, {"n": n})
    assert len(st._actors) == 3
    await anyio.sleep(0.1)
    await st.session("sid-0").get_view(V)  # still in use: its idle clock restarts
    await wait_for(lambda: len(st._actors) <= 1)
    assert set(st._actors) == {st.key_for("sid-0")}
    await wait_for(lambda: not st._actors)
    assert await st.session("sid-1").get_view(V) == {"n": 1}
    assert await st.session("sid-1").merge(V, {"n": 10}) is True
    assert await backend.stash().session("sid-1").get_view(V) == {"n": 10}


async def test_a_busy_actor_is_not_released(backend: Backend) -> None:
    st = backend.stash(idle=0.01)
    s = st.session("sid")
    await s.merge(V, {"n": 0})
    actor = st._actors[s.key]
    async with actor.lock:  # a long call in flight
        task = asyncio.ensure_future(s.merge(V, {"n": 1}))
        await anyio.sleep(0.05)
        assert st._actors.get(s.key) is actor
    await task
    assert await s.get_view(V) == {"n": 1}
    await wait_for(lambda: not st._actors)


async def test_aclose_waits_for_calls_in_flight(backend: Backend) -> None:
    st = backend.stash()
    s = st.session("sid")
    tasks = [asyncio.ensure_future(s.merge(V, {f"k{i}": i})) for i in range(20)]
    await asyncio.sleep(0)
    await st.aclose()
    await asyncio.gather(*tasks)
    assert await backend.stash().session("sid").get_view(V) == {f"k{i}": i for i in range(20)}
    with pytest.raises(RuntimeError, match="closed"):
        await s.merge(V, {"late": 1})


def test_a_stash_survives_moving_to_another_event_loop() -> None:
    st = Stash(InMemoryStashStore())
    s = st.session("sid")
    asyncio.run(s.merge(V, {"a": 1}))
    asyncio.run(s.merge(V, {"b": 2}))
    assert asyncio.run(s.get_view(V)) == {"a": 1, "b": 2}
