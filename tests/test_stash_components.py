"""Components with ``stash = (...)``: recovery on instantiation, writes of changed keys, migration."""

from __future__ import annotations

from typing import Any

import pytest

from stube import Component, call, event, kernel
from stube.kernel import Env, Event, StashWrite
from stube.stash import InMemoryStashStore, Stash
from stube.testing import Harness

VIEW = "test/stash-table"


class Table(Component):
    name = VIEW
    stash = ("sort", "page")
    template_string = '<div {{ root() }}><b class="sort">{{ self.sort }}</b> {{ self.page }} {{ self.query }}</div>'

    def __init__(self, sort: str = "name", page: int = 1) -> None:
        self.sort = sort
        self.page = page
        self.query = ""

    @event
    def sort_by(self, key: str) -> None:
        self.sort = key

    @event
    def turn(self, sort: str, page: int) -> None:
        self.sort = sort
        self.page = page

    @event
    def search(self, q: str) -> None:
        self.query = q

    @event
    def nothing(self) -> None:
        self.sort = self.sort


class TableV2(Component):
    """Version 2 of the same view: ``sort`` became ``order = [key, direction]``."""

    name = "test/stash-table-v2"
    stash = ("order", "page")
    stash_vsn = 2
    template_string = "<div {{ root() }}>{{ self.order }} {{ self.page }}</div>"
    migrated: list[tuple[int, dict]] = []

    def __init__(self) -> None:
        self.order = ["name", "asc"]
        self.page = 1

    def migrate_stash(self, old_vsn: int, data: dict[str, Any]) -> dict[str, Any] | None:
        TableV2.migrated.append((old_vsn, dict(data)))
        if "sort" not in data:
            return None
        return {"order": [data["sort"], "asc"], "page": data.get("page", 1), "junk": 1}

    @event
    def flip(self) -> None:
        self.order = [self.order[0], "desc" if self.order[1] == "asc" else "asc"]


class Page(Component):
    """A parent that embeds a stashed table and can call one."""

    template_string = "<div {{ root() }}>{{ slot('table') }}</div>"

    def children(self) -> dict[str, Component]:
        return {"table": Table(sort="parent-default")}

    @event
    def open_table(self) -> Any:
        return call(Table())


def stash_writes(out: kernel.Outcome) -> list[StashWrite]:
    return [c.effect for c in out.commands if c.kind == "stash"]


@pytest.fixture(autouse=True)
def _reset_migrations() -> None:
    TableV2.migrated.clear()


def test_recovered_values_overwrite_init_defaults() -> None:
    stash = {VIEW: {"vsn": 1, "data": {"sort": "date", "page": 3}}}
    h = Harness(Table(sort="size", page=9), stash=stash)
    assert (h.top.sort, h.top.page, h.top.query) == ("date", 3, "")
    assert '<b class="sort">date</b>' in h.html()


def test_only_stash_keys_are_recovered() -> None:
    stash = {VIEW: {"vsn": 1, "data": {"sort": "date", "query": "injected", "other": 1}}}
    h = Harness(Table(), stash=stash)
    assert (h.top.sort, h.top.page, h.top.query) == ("date", 1, "")


def test_a_page_view_that_changes_nothing_writes_nothing() -> None:
    stash = {VIEW: {"vsn": 1, "data": {"sort": "date"}}}
    env = Env(stash=stash)
    out = kernel.boot(Table(), env)
    assert stash_writes(out) == []
    out = kernel.boot(Table(), Env(stash={}))  # nothing stashed yet: still nothing written
    assert stash_writes(out) == []


def test_a_dispatch_writes_only_the_changed_keys() -> None:
    stash = {VIEW: {"vsn": 1, "data": {"sort": "date", "page": 3}}}
    h = Harness(Table(), stash=stash)
    out = kernel.run(h.conversation, Event(h.top.iid, "sort_by", {"key": "size"}), h.env)
    assert stash_writes(out) == [StashWrite(VIEW, {"sort": "size"}, 1)]
    h.dispatch("sort_by", key="size")
    assert stash == {VIEW: {"vsn": 1, "data": {"sort": "size", "page": 3}}}
    out = kernel.run(h.conversation, Event(h.top.iid, "turn", {"sort": "size", "page": 4}), h.env)
    assert stash_writes(out) == [StashWrite(VIEW, {"page": 4}, 1)]


def test_changes_outside_the_stash_keys_write_nothing() -> None:
    h = Harness(Table(), stash={})
    out = kernel.run(h.conversation, Event(h.top.iid, "search", {"q": "x"}), h.env)
    assert out.changed and stash_writes(out) == []
    out = kernel.run(h.conversation, Event(h.top.iid, "nothing", {}), h.env)
    assert stash_writes(out) == []
    h.dispatch("search", q="x")
    h.dispatch("nothing")
    assert h.stash == {}


def test_a_failed_dispatch_writes_nothing() -> None:
    class Fails(Table):
        name = "test/stash-fails"

        @event
        def boom(self) -> None:
            self.sort = "changed"
            raise RuntimeError("boom")

    stash: dict = {}
    h = Harness(Fails(), stash=stash)
    out = kernel.run(h.conversation, Event(h.top.iid, "boom", {}), h.env)
    assert out.error is not None and stash_writes(out) == []


def test_without_a_stash_nothing_is_recovered_or_written() -> None:
    h = Harness(Table(sort="size"))
    assert h.top.sort == "size"
    out = kernel.run(h.conversation, Event(h.top.iid, "sort_by", {"key": "x"}), h.env)
    assert stash_writes(out) == []


def test_embedded_and_called_children_recover_too() -> None:
    stash = {VIEW: {"vsn": 1, "data": {"sort": "date"}}}
    h = Harness(Page(), stash=stash)
    assert h.find(Table).sort == "date"
    h.dispatch("sort_by", target=Table, key="size")
    assert stash[VIEW]["data"] == {"sort": "size"}
    h.dispatch("open_table", target=Page)
    assert h.frames[-1] == VIEW and h.top.sort == "size"


def test_a_vsn_mismatch_calls_migrate_stash() -> None:
    stash = {"test/stash-table-v2": {"vsn": 1, "data": {"sort": "date", "page": 4}}}
    out = kernel.boot(TableV2(), Env(stash=stash))
    assert TableV2.migrated == [(1, {"sort": "date", "page": 4})]
    h = Harness(TableV2(), stash=stash)
    assert (h.top.order, h.top.page) == (["date", "asc"], 4)
    # The slice is rewritten wholesale at the new vsn, with the full migrated key set only.
    assert stash_writes(out) == [StashWrite("test/stash-table-v2", {"order": ["date", "asc"], "page": 4}, 2)]
    assert stash == {"test/stash-table-v2": {"vsn": 2, "data": {"order": ["date", "asc"], "page": 4}}}
    TableV2.migrated.clear()
    h2 = Harness(TableV2(), stash=stash)  # migrated once: no second migration
    assert TableV2.migrated == [] and h2.top.order == ["date", "asc"]
    h2.dispatch("flip")
    assert stash["test/stash-table-v2"] == {"vsn": 2, "data": {"order": ["date", "desc"], "page": 4}}


def test_migrate_returning_none_discards_to_defaults() -> None:
    stash = {"test/stash-table-v2": {"vsn": 1, "data": {"unrelated": True, "page": 7}}}
    h = Harness(TableV2(), stash=stash)
    assert TableV2.migrated == [(1, {"unrelated": True, "page": 7})]
    assert (h.top.order, h.top.page) == (["name", "asc"], 1)
    assert stash == {"test/stash-table-v2": {"vsn": 2, "data": {"order": ["name", "asc"], "page": 1}}}


def test_the_base_migrate_stash_discards() -> None:
    stash = {VIEW: {"vsn": 7, "data": {"sort": "date", "page": 3}}}
    h = Harness(Table(), stash=stash)
    assert (h.top.sort, h.top.page) == ("name", 1)
    assert stash == {VIEW: {"vsn": 1, "data": {"sort": "name", "page": 1}}}


def test_migrated_values_that_are_not_json_are_ignored() -> None:
    class Odd(TableV2):
        name = "test/stash-odd"

        def migrate_stash(self, old_vsn: int, data: dict[str, Any]) -> dict[str, Any] | None:
            return {"order": ("a", "tuple"), "page": 5}

    stash = {"test/stash-odd": {"vsn": 1, "data": {"x": 1}}}
    h = Harness(Odd(), stash=stash)
    assert h.error is None
    assert (h.top.order, h.top.page) == (["name", "asc"], 5)
    assert stash == {"test/stash-odd": {"vsn": 2, "data": {"order": ["name", "asc"], "page": 5}}}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_runtime_loop_with_a_real_stash(anyio_backend: str) -> None:
    """Preload ``views()``, fold with ``Env.with_stash``, apply the writes: what the runtime does."""
    stash = Stash(InMemoryStashStore())
    session = stash.session("browser-1")
    base = Env()

    env = base.with_stash(await session.views())
    out = kernel.boot(Table(), env)
    assert stash_writes(out) == []
    out = kernel.run(out.conversation, Event(out.conversation["stack"][0], "turn", {"sort": "size", "page": 2}), env)
    assert await session.apply(stash_writes(out)) is True

    # Another tab of the same session (a new conversation) starts from the stashed values.
    env = base.with_stash(await session.views())
    conv = kernel.boot(Table(), env).conversation
    root = conv["instances"][conv["stack"][0]]["state"]
    assert (root["sort"], root["page"]) == ("size", 2)
    assert await session.fetch_view(VIEW) == {"vsn": 1, "data": {"sort": "size", "page": 2}}
    await stash.aclose()


def test_a_failing_migration_discards_instead_of_breaking_the_page(caplog) -> None:
    class Broken(TableV2):
        name = "test/stash-broken"

        def migrate_stash(self, old_vsn: int, data: dict[str, Any]) -> dict[str, Any] | None:
            raise KeyError("sort")

    stash = {"test/stash-broken": {"vsn": 1, "data": {"x": 1}}}
    h = Harness(Broken(), stash=stash)
    assert (h.top.order, h.top.page) == (["name", "asc"], 1)
    assert "migrate_stash failed" in caplog.text
    assert stash == {"test/stash-broken": {"vsn": 2, "data": {"order": ["name", "asc"], "page": 1}}}
