"""The session stash's semantics (a port of DurableStash.Session), against every backend."""

from __future__ import annotations

import json
import math

import pytest

from stube import StateError
from stube.stash import InMemoryStashStore, Stash
from tests.stash_support import SECRET, Backend, anyio_backend, backend  # noqa: F401

pytestmark = pytest.mark.anyio

V = "app.views.Table"


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- reads --


async def test_reads_of_a_view_that_never_stashed(backend: Backend) -> None:
    st = backend.stash(count=True)
    s = st.session("sid-1")
    assert await s.fetch_view(V) is None
    assert await s.get_view(V) == {}
    assert await s.views() == {}


async def test_reads_never_create_a_stash_object(backend: Backend) -> None:
    st = backend.stash(count=True)
    for i in range(20):  # a crawler loading pages with fresh sessions
        s = st.session(f"crawler-{i}")
        await s.views()
        await s.fetch_view(V)
        await s.get_view(V)
    assert st.store.writes == 0
    assert backend.keys() == []


# -- merge --


async def test_merge_then_read(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    assert await s.merge(V, {"sort": "name", "page": 2}) is True
    assert await s.fetch_view(V) == {"vsn": 1, "data": {"sort": "name", "page": 2}}
    assert await s.get_view(V) == {"sort": "name", "page": 2}
    assert await s.views() == {V: {"vsn": 1, "data": {"sort": "name", "page": 2}}}


async def test_merge_is_per_key_last_write_wins(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    await s.merge(V, {"sort": "name", "page": 1})
    await s.merge(V, {"page": 2, "open": [1, 2]})
    await s.merge(V, {"sort": "date"})
    assert await s.get_view(V) == {"sort": "date", "page": 2, "open": [1, 2]}


async def test_views_are_independent(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    await s.merge("a", {"k": 1})
    await s.merge("b", {"k": 2}, vsn=3)
    assert await s.views() == {"a": {"vsn": 1, "data": {"k": 1}}, "b": {"vsn": 3, "data": {"k": 2}}}


async def test_sessions_are_independent(backend: Backend) -> None:
    st = backend.stash()
    await st.session("alice").merge(V, {"sort": "name"})
    assert await st.session("bob").fetch_view(V) is None
    assert len(backend.keys()) == 1


async def test_merge_with_another_vsn_replaces_the_slice_wholesale(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    await s.merge(V, {"sort": "name", "page": 2}, vsn=1)
    assert await s.merge(V, {"order": ["name", "asc"]}, vsn=2) is True
    assert await s.fetch_view(V) == {"vsn": 2, "data": {"order": ["name", "asc"]}}
    await s.merge(V, {"page": 3}, vsn=2)
    assert await s.fetch_view(V) == {"vsn": 2, "data": {"order": ["name", "asc"], "page": 3}}
    await s.merge(V, {"sort": "x"}, vsn=1)  # going back is a different vsn too
    assert await s.fetch_view(V) == {"vsn": 1, "data": {"sort": "x"}}


async def test_merge_of_nothing_creates_an_empty_slice_once(backend: Backend) -> None:
    st = backend.stash(count=True)
    s = st.session("sid-1")
    assert await s.merge(V, {}) is True
    assert await s.fetch_view(V) == {"vsn": 1, "data": {}}
    assert await s.merge(V, {}) is False
    assert await s.merge(V, {}, vsn=2) is True
    assert await s.fetch_view(V) == {"vsn": 2, "data": {}}
    assert st.store.saves == 2


async def test_a_write_that_changes_nothing_does_not_touch_the_store(backend: Backend) -> None:
    st = backend.stash(count=True)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "name", "page": 2, "f": {"a": [1, 2.5]}})
    before = backend.dump()
    writes = st.store.writes
    assert await s.merge(V, {"sort": "name"}) is False
    assert await s.merge(V, {"page": 2, "f": {"a": [1, 2.5]}}) is False
    assert await s.merge(V, {}) is False
    assert await s.drop(V, ["nope"]) is False
    assert await s.reset_view("other") is False
    assert st.store.writes == writes
    assert backend.dump() == before


async def test_json_types_are_compared_strictly(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    await s.merge(V, {"a": 1, "b": 1, "c": 0})
    assert await s.merge(V, {"a": True}) is True
    assert await s.merge(V, {"b": 1.0}) is True
    assert await s.merge(V, {"c": False}) is True
    data = await s.get_view(V)
    assert data == {"a": True, "b": 1.0, "c": False}
    assert [type(data[k]) for k in "abc"] == [bool, float, bool]


async def test_stored_values_do_not_alias_the_callers_objects(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    changes = {"open": [1, 2], "f": {"x": 1}}
    await s.merge(V, changes)
    changes["open"].append(3)
    changes["f"]["x"] = 2
    got = await s.get_view(V)
    assert got == {"open": [1, 2], "f": {"x": 1}}
    got["open"].append(99)
    (await s.views())[V]["data"]["f"]["x"] = 5
    assert await s.get_view(V) == {"open": [1, 2], "f": {"x": 1}}


# -- drop and reset --


async def test_drop_removes_keys_and_ignores_unknown_ones(backend: Backend) -> None:
    st = backend.stash(count=True)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "name", "page": 2, "q": "x"}, vsn=4)
    assert await s.drop(V, ["page", "unknown"]) is True
    assert await s.fetch_view(V) == {"vsn": 4, "data": {"sort": "name", "q": "x"}}
    saves = st.store.saves
    assert await s.drop(V, ["unknown", "page"]) is False
    assert await s.drop("never-stashed", ["sort"]) is False
    assert st.store.saves == saves
    assert await s.drop(V, "sort") is True  # a single key given as a string
    assert await s.drop(V, ["q"]) is True
    assert await s.fetch_view(V) == {"vsn": 4, "data": {}}  # the slice (and its vsn) stays


async def test_reset_view_drops_the_slice(backend: Backend) -> None:
    st = backend.stash(count=True)
    s = st.session("sid-1")
    await s.merge("a", {"k": 1})
    await s.merge("b", {"k": 2})
    assert await s.reset_view("a") is True
    assert await s.fetch_view("a") is None
    assert await s.views() == {"b": {"vsn": 1, "data": {"k": 2}}}
    writes = st.store.writes
    assert await s.reset_view("a") is False
    assert st.store.writes == writes


async def test_resetting_the_last_view_removes_the_stored_object(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    await s.merge(V, {"k": 1})
    assert len(backend.keys()) == 1
    await s.reset_view(V)
    assert backend.keys() == []
    assert await s.views() == {}
    await s.merge(V, {"k": 2})  # and it comes back from nothing
    assert await s.get_view(V) == {"k": 2}


async def test_apply_runs_kernel_writes_in_order_as_one_save(backend: Backend) -> None:
    from stube.kernel import StashWrite

    st = backend.stash(count=True)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "old", "legacy": 1}, vsn=1)
    saves = st.store.saves
    ok = await s.apply([StashWrite(V, {"sort": "old", "page": 1}, 2), StashWrite(V, {"page": 5}, 2),
                        StashWrite("other", {"x": 1}, 1)])
    assert ok is True
    assert st.store.saves == saves + 1
    assert await s.views() == {V: {"vsn": 2, "data": {"sort": "old", "page": 5}},
                               "other": {"vsn": 1, "data": {"x": 1}}}
    assert await s.apply([StashWrite(V, {"page": 5}, 2)]) is False
    assert await s.apply([]) is False
    assert st.store.saves == saves + 1


# -- refusal of what is not JSON --

BAD_VALUES = [
    {"x": math.nan},
    {"x": math.inf},
    {"x": -math.inf},
    {"x": (1, 2)},
    {"x": {1, 2}},
    {"x": object()},
    {"x": b"bytes"},
    {"x": {1: "int key"}},
    {"x": {"ok": [1, {"deep": math.nan}]}},
    {"x": [1, (2,)]},
    {1: "a non-str key"},
    {None: "a None key"},
    {("a",): "a tuple key"},
]


@pytest.mark.parametrize("changes", BAD_VALUES, ids=lambda c: repr(c)[:40])
async def test_non_json_is_refused_and_nothing_changes(backend: Backend, changes: dict) -> None:
    st = backend.stash(count=True)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "name"})
    before, writes = backend.dump(), st.store.writes
    with pytest.raises(StateError):
        await s.merge(V, {"page": 3, **changes})
    with pytest.raises(StateError):
        await s.merge(V, {"page": 3, **changes}, vsn=2)  # would replace the slice
    with pytest.raises(StateError):
        await s.merge("fresh-view", changes)
    assert st.store.writes == writes
    assert backend.dump() == before
    assert await s.views() == {V: {"vsn": 1, "data": {"sort": "name"}}}
    fresh = backend.stash().session("sid-1")
    assert await fresh.views() == {V: {"vsn": 1, "data": {"sort": "name"}}}


async def test_the_error_names_the_view_and_the_key(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    with pytest.raises(StateError, match=r"app\.views\.Table.*'f'.*not a finite number"):
        await s.merge(V, {"f": math.nan})
    with pytest.raises(StateError, match="dict key 3 is a int"):
        await s.merge(V, {3: "x"})


@pytest.mark.parametrize("call", [
    lambda s: s.merge(None, {"a": 1}),
    lambda s: s.merge("", {"a": 1}),
    lambda s: s.merge(V, {"a": 1}, vsn="1"),
    lambda s: s.merge(V, {"a": 1}, vsn=True),
    lambda s: s.merge(V, [("a", 1)]),
    lambda s: s.fetch_view(3),
], ids=["view-None", "view-empty", "vsn-str", "vsn-bool", "changes-list", "fetch-int"])
async def test_bad_arguments_are_refused(backend: Backend, call) -> None:
    st = backend.stash(count=True)
    with pytest.raises(StateError):
        await call(st.session("sid-1"))
    assert st.store.writes == 0 and backend.keys() == []


# -- durability --


async def test_every_accepted_write_is_durable_when_it_returns(backend: Backend) -> None:
    s = backend.stash().session("sid-1")
    await s.merge(V, {"sort": "name"})
    assert await backend.stash().session("sid-1").get_view(V) == {"sort": "name"}
    await s.merge(V, {"page": 2}, vsn=1)
    assert await backend.stash().session("sid-1").get_view(V) == {"sort": "name", "page": 2}
    await s.drop(V, ["sort"])
    assert await backend.stash().session("sid-1").get_view(V) == {"page": 2}
    await s.reset_view(V)
    assert await backend.stash().session("sid-1").fetch_view(V) is None


async def test_state_shape_at_rest(backend: Backend) -> None:
    clock = Clock()
    st = backend.stash(clock=clock)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "name"}, vsn=2)
    got = await st.store.load(s.key)
    assert got is not None
    state, version = got
    assert isinstance(version, str) and version
    assert state == {"views": {V: {"vsn": 2, "data": {"sort": "name"}}},
                     "last_seen_at": int(clock.t * 1000)}
    assert json.loads(json.dumps(state)) == state


# -- keys and secrets --


async def test_the_session_id_never_reaches_the_store(backend: Backend) -> None:
    sid = "SeCrEt-SeSsIoN-iD-0123456789abcdef"
    st = backend.stash()
    s = st.session(sid)
    await s.merge(V, {"sort": "name"})
    await s.merge("another.View", {"k": sid[:3]})
    dump = backend.dump()
    assert dump
    assert sid.encode() not in dump and sid.lower().encode() not in dump
    assert sid not in repr(s) and sid not in repr(st)
    key = st.key_for(sid)
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert backend.keys() == [key]


def test_storage_keys_are_a_keyed_hash() -> None:
    a, b = Stash(InMemoryStashStore(), secret="one"), Stash(InMemoryStashStore(), secret=b"one")
    c = Stash(InMemoryStashStore(), secret="two")
    assert a.key_for("sid") == b.key_for("sid") == a.session("sid").key
    assert a.key_for("sid") != c.key_for("sid")
    assert a.key_for("sid") != a.key_for("sid2")
    import hashlib

    assert a.key_for("sid") != hashlib.sha256(b"sid").hexdigest()  # not an unkeyed hash
    # Without a secret the in-memory store gets a random key per Stash.
    assert Stash().key_for("sid") != Stash().key_for("sid")


def test_persistent_stores_require_a_secret(tmp_path) -> None:
    from stube.stash import FileStashStore
    from stube.stash_redis import RedisStashStore

    with pytest.raises(ValueError, match="secret"):
        Stash(FileStashStore(tmp_path))
    with pytest.raises(ValueError, match="secret"):
        Stash(RedisStashStore("redis://127.0.0.1:1/0"))
    with pytest.raises(ValueError):
        Stash(FileStashStore(tmp_path), secret="")
    Stash(InMemoryStashStore())  # fine: nothing outlives the process


async def test_another_secret_does_not_see_the_sessions(backend: Backend) -> None:
    await backend.stash().session("sid-1").merge(V, {"k": 1})
    assert await backend.stash(secret="other").session("sid-1").fetch_view(V) is None


# -- expiry --


async def test_an_expired_session_reads_as_absent_and_is_deleted_lazily(backend: Backend) -> None:
    clock = Clock()
    st = backend.stash(clock=clock, ttl=100)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "name"})
    clock.t += 9  # a read this soon does not refresh last_seen_at (that waits for ttl / 10)
    assert await backend.stash(clock=clock, ttl=100).session("sid-1").get_view(V) == {"sort": "name"}
    clock.t += 90
    assert len(backend.keys()) == 1
    clock.t += 2
    assert await s.fetch_view(V) is None
    assert backend.keys() == []


async def test_a_write_to_an_expired_session_starts_from_nothing(backend: Backend) -> None:
    clock = Clock()
    st = backend.stash(clock=clock, ttl=100)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "name", "page": 2})
    await s.merge("other", {"x": 1})
    clock.t += 101
    await s.merge(V, {"page": 3})
    assert await s.views() == {V: {"vsn": 1, "data": {"page": 3}}}
    assert await backend.stash(clock=clock, ttl=100).session("sid-1").views() == {V: {"vsn": 1, "data": {"page": 3}}}


async def test_reading_keeps_a_session_alive(backend: Backend) -> None:
    clock = Clock()
    st = backend.stash(clock=clock, ttl=100, count=True)
    s = st.session("sid-1")
    await s.merge(V, {"sort": "name"})
    saves = st.store.saves
    clock.t += 5
    await s.views()  # recent: no refresh
    assert st.store.saves == saves
    for _ in range(5):
        clock.t += 60  # each step alone is within the ttl, all of them together are not
        assert await s.get_view(V) == {"sort": "name"}
    assert st.store.saves == saves + 5
    state, _ = await st.store.load(s.key)
    assert state["last_seen_at"] == int(clock.t * 1000)


async def test_sweep_removes_expired_sessions(backend: Backend) -> None:
    clock = Clock()
    st = backend.stash(clock=clock, ttl=100)
    await st.session("old").merge(V, {"k": 1})
    clock.t += 50
    await st.session("new").merge(V, {"k": 2})
    clock.t += 60
    if backend.name == "file":  # the file store pre-filters on mtime: age the old file for real
        import os

        path = backend.folder / f"{st.key_for('old')}.json"
        os.utime(path, (clock.t - 200, clock.t - 200))
    removed = await st.sweep()
    if backend.name == "redis":
        assert removed == 0  # Redis expires keys itself
        return
    assert removed == 1
    assert backend.keys() == [st.key_for("new")]
    assert await st.session("new").get_view(V) == {"k": 2}
