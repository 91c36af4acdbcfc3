"""Property test: the stash behaves like a plain dict model of DurableStash.Session.

Random sequences of merge / drop / reset_view, issued through two Stash
objects sharing one store (two processes, so the CAS-retry path runs), must
leave exactly what applying them one after another to the model leaves.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stube.stash import FileStashStore, InMemoryStashStore, Stash

VIEWS = ["a", "b"]
KEYS = ["x", "y", "z"]
values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=3), st.lists(st.integers(0, 2), max_size=2))
op = st.one_of(
    st.tuples(st.just("merge"), st.sampled_from(VIEWS), st.dictionaries(st.sampled_from(KEYS), values, max_size=3),
              st.integers(1, 2)),
    st.tuples(st.just("drop"), st.sampled_from(VIEWS), st.lists(st.sampled_from(KEYS + ["nope"]), max_size=3)),
    st.tuples(st.just("reset"), st.sampled_from(VIEWS)),
)
#: (operation, which of the two processes issues it)
ops = st.lists(st.tuples(op, st.integers(0, 1)), max_size=25)


def strict(value: Any) -> str:
    """JSON text, so ``1``, ``1.0`` and ``True`` do not compare equal."""
    return json.dumps(value, sort_keys=True)


def model(seq: list[tuple[tuple, int]]) -> dict[str, Any]:
    views: dict[str, Any] = {}
    for op, _ in seq:
        if op[0] == "merge":
            _, view, changes, vsn = op
            cur = views.get(view)
            if cur is None or cur["vsn"] != vsn:
                views[view] = {"vsn": vsn, "data": dict(changes)}
            else:
                cur["data"].update(changes)
        elif op[0] == "drop":
            _, view, keys = op
            if view in views:
                for k in keys:
                    views[view]["data"].pop(k, None)
        else:
            views.pop(op[1], None)
    return views


async def play(stores: list[Any], seq: list[tuple[tuple, int]]) -> list[dict[str, Any]]:
    stashes = [Stash(store, secret="model") for store in stores]
    sessions = [s.session("sid") for s in stashes]
    for op, who in seq:
        s = sessions[who]
        if op[0] == "merge":
            await s.merge(op[1], op[2], vsn=op[3])
        elif op[0] == "drop":
            await s.drop(op[1], op[2])
        else:
            await s.reset_view(op[1])
    out = [await s.views() for s in sessions]
    fresh = Stash(stores[0], secret="model")
    out.append(await fresh.session("sid").views())
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_two_processes_on_memory_match_the_model(seq) -> None:
    store = InMemoryStashStore()
    want = model(seq)
    assert strict(asyncio.run(play([store, store], seq))) == strict([want, want, want])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_two_processes_on_files_match_the_model(seq) -> None:
    with tempfile.TemporaryDirectory() as folder:
        stores = [FileStashStore(folder, durable=False), FileStashStore(folder, durable=False)]
        want = model(seq)
        assert strict(asyncio.run(play(stores, seq))) == strict([want, want, want])


@settings(max_examples=60, deadline=None)
@given(ops)
def test_concurrent_calls_apply_in_issue_order(seq) -> None:
    async def go() -> dict[str, Any]:
        s = Stash(InMemoryStashStore()).session("sid")
        calls = []
        for op, _ in seq:
            if op[0] == "merge":
                calls.append(s.merge(op[1], op[2], vsn=op[3]))
            elif op[0] == "drop":
                calls.append(s.drop(op[1], op[2]))
            else:
                calls.append(s.reset_view(op[1]))
        await asyncio.gather(*calls)
        return await s.views()

    assert strict(asyncio.run(go())) == strict(model(seq))
