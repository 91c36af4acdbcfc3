"""Eager children() and call_in_slot: composition without leaving the page."""

from __future__ import annotations

from typing import Any

import pytest

from stube import Component, EffectError, answer, answer_error, call, call_in_slot, event, replace
from stube import conversation as cv
from stube.render import has_slot, root, slot
from stube.testing import Harness
from tests.components import debugging

STOPPED: list[str] = []


class Cell(Component):
    template_string = '<span {{ root() }}>{{ self.label }}:{{ self.n }}</span>'

    def __init__(self, label: str = "cell") -> None:
        self.label = label
        self.n = 0

    def stop(self) -> None:
        STOPPED.append(self.label)

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def done(self, value: Any = None) -> Any:
        return answer(value if value is not None else f"{self.label} done")

    @event
    def fail(self) -> Any:
        return answer_error("cell broke")

    @event
    def swap(self, label: str) -> Any:
        return replace(Cell(label))

    @event
    def edit_inside(self) -> Any:
        return call_in_slot("inner", Cell(f"{self.label}/inner"), resume="on_inner")

    def on_inner(self, value: Any) -> None:
        self.label = f"{self.label} <- {value}"


class Board(Component):
    """A parent with two eager children; editors are called into its slots."""

    template_string = (
        '<section {{ root() }}><h2>{{ self.title }}</h2>'
        '<div class="a">{{ slot("a") }}</div><div class="b">{{ slot("b") }}</div>'
        '<p class="log">{{ self.log|join(";") }}</p></section>'
    )

    def __init__(self, title: str = "Board", size: int = 2) -> None:
        self.title = title
        self.size = size
        self.log: list[str] = []

    def children(self) -> dict[str, Component]:
        return {name: Cell(name) for name in ["a", "b", "c", "d"][: self.size]}

    def stop(self) -> None:
        STOPPED.append("board")

    @event
    def rename(self, title: str) -> None:
        self.title = title

    @event
    def edit(self, slot: str = "a", label: str = "editor") -> Any:
        return call_in_slot(slot, Cell(label), resume="on_edited", on_error="on_edit_failed")

    @event
    def edit_bare(self, label: str = "bare") -> Any:
        return call_in_slot("a", Cell(label))

    @event
    def edit_unhandled(self) -> Any:
        return call_in_slot("a", Cell("unhandled"), resume="on_edited")

    @event
    def open_dialog(self) -> Any:
        return call(Board("Dialog"), resume="on_edited")

    @event
    def close(self) -> Any:
        return answer("closed")

    def on_edited(self, value: Any) -> None:
        self.log = self.log + [f"edited:{value}"]

    def on_edit_failed(self, error: Any) -> None:
        self.log = self.log + [f"failed:{error}"]


class Drawer(Component):
    """Its slot exists only while something is called into it."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    def render(self) -> str:
        inner = str(slot("panel")) if has_slot("panel") else "<em>closed</em>"
        return f"<div {root()}>{inner}|{self.got}</div>"

    @event
    def open(self) -> Any:
        return call_in_slot("panel", Cell("panel"), resume="on_closed")

    def on_closed(self, value: Any) -> None:
        self.got = self.got + [value]


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


def rec(h: Harness, iid: str) -> dict[str, Any]:
    return h.conversation["instances"][iid]


def child(h: Harness, name: str, of: str | None = None) -> str:
    return rec(h, of or h.conversation["stack"][-1])["children"][name]


@pytest.fixture(autouse=True)
def _clear_stops() -> None:
    STOPPED.clear()


# -- eager children ---------------------------------------------------------------------------


def test_eager_children_are_created_with_the_parent_and_inlined_in_its_first_paint() -> None:
    h = Harness(Board())
    board = h.top.iid
    a, b = child(h, "a"), child(h, "b")
    assert rec(h, a) == {"type": Cell._stube_type, "state": {"label": "a", "n": 0}, "parent": board,
                         "kind": "eager", "slot": "a"}
    assert rec(h, b)["parent"] == board
    assert h.conversation["stack"] == [board]
    [page] = h.fragments
    assert page.kind == "page"
    assert f'<span id="{a}"' in page.html and f'<span id="{b}"' in page.html


def test_children_may_depend_on_the_initial_state() -> None:
    h = Harness(Board(size=4))
    assert sorted(rec(h, h.top.iid)["children"]) == ["a", "b", "c", "d"]


def test_a_childs_own_event_rerenders_only_the_child() -> None:
    h = Harness(Board())
    a = child(h, "a")
    frags = h.dispatch("inc", target=a)
    assert kinds(frags) == ["morph"] and frags[0].target == a
    assert frags[0].html.startswith(f'<span id="{a}"') and "a:1" in frags[0].html


def test_a_parent_rerender_shows_its_childrens_current_state() -> None:
    h = Harness(Board())
    h.dispatch("inc", target=child(h, "a"))
    frags = h.dispatch("rename", title="Renamed")
    assert kinds(frags) == ["morph"] and frags[0].target == h.top.iid
    assert "Renamed" in frags[0].html and "a:1" in frags[0].html


# -- call_in_slot -------------------------------------------------------------------------------------


def test_call_in_slot_keeps_the_stack_and_swaps_only_that_child() -> None:
    h = Harness(Board())
    board, old = h.top.iid, child(h, "a")
    frags = h.dispatch("edit", label="editor")
    new = child(h, "a")
    assert h.conversation["stack"] == [board]
    assert new != old
    assert rec(h, new)["prev"] == old and rec(h, new)["kind"] == "slot"
    assert rec(h, new)["resume"] == "on_edited"
    assert old in h.conversation["instances"]             # kept alive, off the page
    assert kinds(frags) == ["morph"] and frags[0].target == old
    assert frags[0].html.startswith(f'<span id="{new}"')
    assert "editor:0" in h.html() and "a:0" not in h.html()


def test_answer_from_a_slot_child_restores_the_previous_occupant() -> None:
    h = Harness(Board())
    h.dispatch("inc", target=child(h, "a"))
    old = child(h, "a")
    h.dispatch("edit")
    temp = child(h, "a")
    frags = h.dispatch("done", target=temp, value="saved")
    assert child(h, "a") == old and rec(h, old)["state"]["n"] == 1
    assert temp not in h.conversation["instances"]
    assert h.top.log == ["edited:saved"]
    assert kinds(frags) == ["morph"] and frags[0].target == h.top.iid
    assert "a:1" in frags[0].html and "edited:saved" in frags[0].html
    assert STOPPED == ["editor"]


def test_repeated_calls_into_a_slot_stack_and_unwind_one_level_per_answer() -> None:
    h = Harness(Board())
    orig = child(h, "a")
    h.dispatch("edit", label="first")
    first = child(h, "a")
    h.dispatch("edit", label="second")
    second = child(h, "a")
    assert rec(h, second)["prev"] == first and rec(h, first)["prev"] == orig
    assert "second:0" in h.html()
    h.dispatch("done", target=second)
    assert child(h, "a") == first and second not in h.conversation["instances"]
    assert "first:0" in h.html()
    h.dispatch("done", target=first)
    assert child(h, "a") == orig
    assert h.top.log == ["edited:second done", "edited:first done"]
    assert "a:0" in h.html()


def test_a_displaced_occupant_cannot_answer_or_be_replaced() -> None:
    h = Harness(Board(), raise_errors=False)
    h.dispatch("edit", label="first")
    first = child(h, "a")
    h.dispatch("edit", label="second")
    before = h.conversation
    for name, payload in (("done", {}), ("swap", {"label": "x"})):
        frags = h.deliver(first, name, **payload)  # a click could not reach it (204); a timer can
        assert isinstance(h.error, EffectError)
        assert h.conversation is before
        assert kinds(frags) == ["error"]


def test_answer_from_a_slot_child_without_resume_rerenders_the_parent() -> None:
    h = Harness(Board())
    h.dispatch("edit_bare")
    frags = h.dispatch("done", target=child(h, "a"))
    assert h.top.log == []
    assert kinds(frags) == ["morph"] and frags[0].target == h.top.iid and "a:0" in frags[0].html


def test_call_in_slot_into_an_empty_slot_creates_it_and_answer_removes_it() -> None:
    h = Harness(Drawer())
    drawer = h.top.iid
    assert "<em>closed</em>" in h.html()
    frags = h.dispatch("open")
    panel = child(h, "panel")
    assert "prev" not in rec(h, panel)
    assert kinds(frags) == ["morph"] and frags[0].target == drawer and "panel:0" in frags[0].html
    frags = h.dispatch("done", target=panel, value=7)
    assert "children" not in rec(h, drawer)
    assert kinds(frags) == ["morph"] and "<em>closed</em>|[7]" in frags[0].html


def test_answer_error_from_a_slot_child_reaches_on_error() -> None:
    h = Harness(Board())
    h.dispatch("edit")
    h.dispatch("fail", target=child(h, "a"))
    assert h.top.log == ["failed:cell broke"]
    assert "a:0" in h.html()


def test_answer_error_from_a_slot_child_without_on_error_is_a_banner_on_the_parent() -> None:
    h = debugging(Harness(Board()))
    board = h.top.iid
    h.dispatch("edit_unhandled")
    frags = h.dispatch("fail", target=child(h, "a"))
    assert h.error is None and h.top.log == []
    assert kinds(frags) == ["error"] and frags[0].target == board
    assert 'class="stube-error"' in frags[0].html and "cell broke" in frags[0].html


def test_replace_from_a_slot_child_swaps_that_occupant_and_keeps_resume_and_prev() -> None:
    h = Harness(Board())
    orig = child(h, "a")
    h.dispatch("edit", label="first")
    first = child(h, "a")
    frags = h.dispatch("swap", target=first, label="swapped")
    new = child(h, "a")
    assert first not in h.conversation["instances"]
    assert rec(h, new)["prev"] == orig and rec(h, new)["resume"] == "on_edited"
    assert kinds(frags) == ["morph"] and frags[0].target == first
    assert frags[0].html.startswith(f'<span id="{new}"')
    h.dispatch("done", target=new, value="ok")
    assert child(h, "a") == orig and h.top.log == ["edited:ok"]


def test_a_slot_child_can_call_into_its_own_slot() -> None:
    h = Harness(Board())
    a = child(h, "a")
    h.dispatch("edit_inside", target=a)
    inner = child(h, "inner", of=a)
    assert rec(h, inner)["parent"] == a
    h.dispatch("done", target=inner, value="x")
    assert h.component(a).label == "a <- x"


def test_popping_a_frame_sweeps_its_children_and_every_displaced_occupant() -> None:
    h = Harness(Board())
    h.dispatch("open_dialog")
    dialog = h.top.iid
    for label in ("one", "two", "three"):
        h.dispatch("edit", label=label)
    owned = cv.subtree(h.conversation["instances"], dialog)
    assert [h.component(i).label for i in owned[1:]] == ["three", "two", "one", "a", "b"]
    STOPPED.clear()
    frags = h.dispatch("close")
    assert set(owned).isdisjoint(h.conversation["instances"])
    assert STOPPED == ["b", "a", "one", "two", "three", "board"]      # children before parents
    assert h.top.log == ["edited:closed"]
    assert kinds(frags) == ["page"]
