"""set_keyed_children: ordered, key-addressed child lists with minimal fragments."""

from __future__ import annotations

from typing import Any

import pytest

from stube import Component, EffectError, answer, event, set_keyed_children
from stube.testing import Harness

LOG: list[str] = []


class Row(Component):
    template_string = '<li {{ root() }}>{{ self.label }}#{{ self.n }}</li>'

    def __init__(self, label: str, n: int = 0) -> None:
        self.label = label
        self.n = n

    def start(self) -> None:
        LOG.append(f"start {self.label}")

    def stop(self) -> None:
        LOG.append(f"stop {self.label}")

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def done(self) -> Any:
        return answer(self.label)


class Fancy(Component):
    """Another type for the same key; it has an eager child of its own."""

    template_string = '<li {{ root() }}>fancy {{ self.label }} {{ slot("badge") }}</li>'

    def __init__(self, label: str) -> None:
        self.label = label

    def children(self) -> dict[str, Component]:
        return {"badge": Row(f"{self.label}-badge")}

    def stop(self) -> None:
        LOG.append(f"stop fancy {self.label}")


class Table(Component):
    template_string = '<div {{ root() }}><h3>{{ self.labels|length }} rows</h3>{{ keyed("rows", tag="ul") }}</div>'

    def __init__(self, labels: list[str] | None = None) -> None:
        self.labels = labels if labels is not None else ["a", "b", "c"]
        self.fancy: list[str] = []
        self.bump = 0

    def start(self) -> Any:
        return self._sync()

    def _sync(self) -> Any:
        return set_keyed_children("rows", [
            (x, Fancy(x) if x in self.fancy else Row(x, self.bump)) for x in self.labels
        ])

    @event
    def set_labels(self, labels: list[str]) -> Any:
        self.labels = labels
        return self._sync()

    @event
    def make_fancy(self, label: str) -> Any:
        self.fancy = self.fancy + [label]
        return self._sync()

    @event
    def rebuild_all(self) -> Any:
        self.bump += 1
        return self._sync()

    @event
    def add_then_remove(self) -> Any:
        return [set_keyed_children("rows", [(x, Row(x)) for x in self.labels + ["z"]]),
                set_keyed_children("rows", [(x, Row(x)) for x in self.labels])]

    @event
    def retitle(self) -> None:
        self.bump = self.bump  # state untouched
        self.fancy = self.fancy + []
        self.labels = list(self.labels)
        self.extra = "changed"


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


def table(labels: list[str] | None = None, *, raise_errors: bool = True) -> Harness:
    """A mounted Table; the log starts empty after its first paint."""
    h = Harness(Table(labels), raise_errors=raise_errors)
    LOG.clear()
    return h


def group(h: Harness) -> dict[str, Any]:
    return h.conversation["instances"][h.conversation["stack"][0]]["keyed"]["rows"]


def iids(h: Harness) -> dict[str, str]:
    return dict(group(h)["iids"])


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    LOG.clear()


def test_before_the_first_paint_only_bookkeeping_and_one_page_fragment() -> None:
    h = Harness(Table())
    assert group(h)["order"] == ["a", "b", "c"]
    assert kinds(h.fragments) == ["page"]
    ids = iids(h)
    html = h.fragments[0].html
    container = f'<ul id="{h.top.iid}--rows" class="stube-keyed">'
    assert container in html
    positions = [html.index(f'<li id="{ids[k]}"') for k in "abc"]
    assert positions == sorted(positions)
    assert LOG == ["start a", "start b", "start c"]


def test_unchanged_keys_are_untouched() -> None:
    h = table()
    h.dispatch("inc", target=iids(h)["b"])
    before = dict(h.conversation["instances"])
    frags = h.dispatch("set_labels", labels=["a", "b", "c"])
    assert [f for f in frags if f.target in iids(h).values()] == []
    for iid in iids(h).values():
        assert h.conversation["instances"][iid] is before[iid]
    assert h.component(iids(h)["b"]).n == 1          # the child's own state survived
    assert LOG == []


def test_a_new_last_key_is_one_append_into_the_container() -> None:
    h = table()
    old = iids(h)
    frags = h.dispatch("set_labels", labels=["a", "b", "c", "d"])
    new = iids(h)
    assert {k: new[k] for k in "abc"} == old
    inserts = [f for f in frags if f.kind == "insert"]
    assert [(f.mode, f.target) for f in inserts] == [("append", f"{h.top.iid}--rows")]
    assert inserts[0].html.startswith(f'<li id="{new["d"]}"') and "d#0" in inserts[0].html
    assert LOG == ["start d"]


def test_new_keys_are_inserted_in_place() -> None:
    h = table(["b", "d"])
    frags = h.dispatch("set_labels", labels=["a", "b", "c", "d"])
    ids = iids(h)
    container = f"{h.top.iid}--rows"
    assert [(f.kind, f.mode, f.target) for f in frags if f.kind == "insert"] == [
        ("insert", "prepend", container),
        ("insert", "after", ids["b"]),
    ]
    html = h.html()
    positions = [html.index(f'<li id="{ids[k]}"') for k in "abcd"]
    assert positions == sorted(positions)


def test_a_removed_key_is_stopped_removed_and_one_remove_fragment() -> None:
    h = table()
    gone = iids(h)["b"]
    frags = h.dispatch("set_labels", labels=["a", "c"])
    assert [(f.kind, f.target) for f in frags if f.kind != "morph"] == [("remove", gone)]
    assert gone not in h.conversation["instances"]
    assert group(h)["order"] == ["a", "c"]
    assert LOG == ["stop b"]


def test_a_changed_embed_is_rebuilt_under_the_same_id_as_one_morph() -> None:
    h = table()
    h.dispatch("inc", target=iids(h)["a"])
    old = iids(h)
    frags = h.dispatch("rebuild_all")
    assert iids(h) == old
    assert sorted((f.kind, f.target) for f in frags) == sorted(("morph", old[k]) for k in "abc")
    assert [h.component(old[k]).n for k in "abc"] == [1, 1, 1]   # fresh state from the new spec
    assert LOG == ["stop a", "stop b", "stop c", "start a", "start b", "start c"]


def test_a_changed_type_under_the_same_key_rebuilds_its_descendants() -> None:
    h = table()
    b = iids(h)["b"]
    h.dispatch("make_fancy", label="b")
    assert iids(h)["b"] == b
    rec = h.conversation["instances"][b]
    assert rec["type"] == Fancy._stube_type
    badge = rec["children"]["badge"]
    assert kinds(h.fragments) == ["morph"] and h.fragments[0].target == b
    assert "fancy b" in h.fragments[0].html and "b-badge#0" in h.fragments[0].html
    LOG.clear()
    h.dispatch("set_labels", labels=["a", "c"])
    assert badge not in h.conversation["instances"] and b not in h.conversation["instances"]
    assert LOG == ["stop b-badge", "stop fancy b"]


def test_a_pure_reorder_is_one_fragment_that_keeps_every_id() -> None:
    h = table()
    old = iids(h)
    frags = h.dispatch("set_labels", labels=["c", "a", "b"])
    assert iids(h) == old
    assert len(frags) == 1 and frags[0].kind == "morph"
    html = frags[0].html
    positions = [html.index(f'<li id="{old[k]}"') for k in "cab"]
    assert positions == sorted(positions)
    assert LOG == []


def test_reorder_with_additions_repaints_the_parent_once_in_the_new_order() -> None:
    h = table()
    frags = h.dispatch("set_labels", labels=["c", "x", "a"])
    ids = iids(h)
    assert kinds(frags) == ["morph"] and frags[0].target == h.top.iid
    html = frags[0].html
    positions = [html.index(f'<li id="{ids[k]}"') for k in ["c", "x", "a"]]
    assert positions == sorted(positions)


def test_add_then_remove_in_one_handler_leaves_the_list_unchanged() -> None:
    h = table()
    before = iids(h)
    frags = h.dispatch("add_then_remove")
    assert iids(h) == before
    assert not [f for f in frags if f.kind in ("insert", "remove")]   # z never reached the page
    assert LOG == ["start z", "stop z"]


def test_keyed_metadata_survives_parent_state_changes() -> None:
    h = table()
    before = iids(h)
    h.dispatch("retitle")
    assert iids(h) == before and group(h)["order"] == ["a", "b", "c"]
    assert all(f'id="{i}"' in h.html() for i in before.values())


def test_a_keyed_child_event_rerenders_only_that_child() -> None:
    h = table()
    b = iids(h)["b"]
    frags = h.dispatch("inc", target=b)
    assert [(f.kind, f.target) for f in frags] == [("morph", b)]
    assert "b#1" in frags[0].html


def test_a_keyed_child_cannot_answer() -> None:
    h = table(raise_errors=False)
    before = h.conversation
    h.dispatch("done", target=iids(h)["a"])
    assert isinstance(h.error, EffectError) and "keyed" in str(h.error)
    assert h.conversation is before


def test_an_empty_list_removes_every_child_and_the_group() -> None:
    h = table()
    old = iids(h)
    frags = h.dispatch("set_labels", labels=[])
    assert sorted(f.target for f in frags if f.kind == "remove") == sorted(old.values())
    rec = h.conversation["instances"][h.top.iid]
    assert "keyed" not in rec
    assert f'id="{h.top.iid}--rows"' in h.html()


def test_keys_are_strings_and_unique() -> None:
    eff = set_keyed_children("rows", [(1, Row("one")), ("2", Row("two"))])
    assert [k for k, _ in eff.pairs] == ["1", "2"]
    with pytest.raises(ValueError, match="duplicate"):
        set_keyed_children("rows", [(1, Row("a")), ("1", Row("b"))])
    with pytest.raises(TypeError):
        set_keyed_children("rows", [(True, Row("a"))])


def test_history_undoes_a_reconcile() -> None:
    h = table()
    old = iids(h)
    h.dispatch("set_labels", labels=["a"])
    h.back()
    assert iids(h) == old
    assert all(i in h.conversation["instances"] for i in old.values())
    assert h.roundtrip() == h.conversation


def test_rerender_parent_morphs_the_parent_once_instead_of_inserting() -> None:
    from stube import Component, event, set_keyed_children
    from stube.testing import Harness

    class Item(Component):
        template_string = '<li {{ root() }}>{{ self.label }}</li>'

        def __init__(self, label: str) -> None:
            self.label = label

    class Shelf(Component):
        template_string = ('<div {{ root() }}><p class="count">{{ self.names|length }} items</p>'
                           '{{ keyed("items", tag="ul") }}</div>')

        def __init__(self) -> None:
            self.names = ["a"]

        def start(self):  # type: ignore[no-untyped-def]
            return set_keyed_children("items", [(n, Item(n)) for n in self.names])

        @event
        def add(self, name: str, whole: bool = False):  # type: ignore[no-untyped-def]
            self.names.append(name)
            return set_keyed_children("items", [(n, Item(n)) for n in self.names], rerender_parent=whole)

    h = Harness(Shelf())
    frags = h.dispatch("add", name="b")
    assert [f.kind for f in frags] == ["insert"]  # the count outside the list stays stale, by design
    frags = h.dispatch("add", name="c", whole=True)
    assert [f.kind for f in frags] == ["morph"] and "3 items" in frags[0].html and ">c</li>" in frags[0].html
