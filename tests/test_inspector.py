"""The inspector reads a conversation: type, id, state, slots, keyed children, frames, history."""

from __future__ import annotations

import json

from stube import Component, call, event, set_keyed_children
from stube.inspector import inspect
from stube.testing import Harness


class Item(Component):
    name = "insp/item"
    template_string = "<li {{ root() }}>{{ self.label }}</li>"

    def __init__(self, label: str = "") -> None:
        self.label = label


class Ask(Component):
    name = "insp/ask"
    template_string = "<div {{ root() }}>?</div>"


class Board(Component):
    name = "insp/board"
    template_string = '<div {{ root() }}>{{ slot("side") }}<ul>{{ keyed("items") }}</ul></div>'

    def __init__(self) -> None:
        self.n = 0

    def children(self) -> dict[str, Component]:
        return {"side": Item("side")}

    def start(self):  # type: ignore[no-untyped-def]
        return set_keyed_children("items", [("a", Item("A")), ("b", Item("B"))])

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def ask(self):  # type: ignore[no-untyped-def]
        return call(Ask())


def test_an_instance_is_described_with_its_slots_keyed_children_and_frames() -> None:
    h = Harness(Board())
    root = h.conversation["stack"][0]
    i = inspect(h.conversation, root)
    assert i is not None
    assert (i.type, i.kind, i.parent) == ("insp/board", "frame", None)
    assert json.loads(i.state) == {"n": 0}
    assert [(slot, t) for slot, _, t in i.slots] == [("side", "insp/item")]
    assert [(slot, [(k, t) for k, _, t in items]) for slot, items in i.keyed] == [
        ("items", [("a", "insp/item"), ("b", "insp/item")])]
    assert i.frames == [(root, "insp/board")]


def test_history_shows_each_step_newest_first_and_marks_steps_that_did_not_touch_it() -> None:
    h = Harness(Board())
    root = h.conversation["stack"][0]
    side = h.conversation["instances"][root]["children"]["side"]
    h.dispatch("inc")
    h.dispatch("inc")
    steps = inspect(h.conversation, root).steps  # type: ignore[union-attr]
    assert [json.loads(s.state)["n"] for s in steps[:3] if s.state] == [2, 1, 0]
    assert steps[0].changed and steps[1].changed
    # The side item was not touched by either click: its steps are dimmed.
    side_steps = inspect(h.conversation, side).steps  # type: ignore[union-attr]
    assert not side_steps[0].changed and not side_steps[1].changed


def test_frames_follow_a_call_and_an_unknown_instance_is_none() -> None:
    h = Harness(Board())
    h.dispatch("ask")
    top = h.conversation["stack"][-1]
    i = inspect(h.conversation, top)
    assert i is not None and [t for _, t in i.frames] == ["insp/board", "insp/ask"]
    assert inspect(h.conversation, "ix-nothere") is None
