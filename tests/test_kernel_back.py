"""back() and the bounded, structure-sharing history."""

from __future__ import annotations

from typing import Any

from stube import Component, answer, back, call, end, event
from stube.testing import Harness


class Counter(Component):
    template_string = '<div {{ root() }}><b>{{ self.n }}</b>{% for s in self.slots %}{{ slot(s) }}{% endfor %}</div>'

    def __init__(self, n: int = 0, kids: int = 0) -> None:
        self.n = n
        self.slots = [f"k{i}" for i in range(kids)]

    def children(self) -> dict[str, Component]:
        return {s: Cell() for s in self.slots}

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def nothing(self) -> None:
        pass

    @event
    def inc_then_back(self) -> Any:
        self.n += 100
        return back()

    @event
    def ask(self) -> Any:
        return call(Question(), resume="on_answer")

    @event
    def finish(self) -> Any:
        return end("over")

    def on_answer(self, value: Any) -> None:
        self.n = value


class Cell(Component):
    template_string = '<i {{ root() }}>{{ self.v }}</i>'

    def __init__(self) -> None:
        self.v = 0

    @event
    def bump(self) -> None:
        self.v += 1


class Question(Component):
    template_string = '<form {{ root() }}>Which number? {{ self.typed }}</form>'

    def __init__(self) -> None:
        self.typed = ""

    @event
    def type(self, text: str) -> None:
        self.typed = text

    @event
    def say(self, value: Any) -> Any:
        return answer(value)


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


def test_back_restores_the_previous_value_step_by_step_and_repaints() -> None:
    h = Harness(Counter(n=1))
    h.dispatch("inc")
    h.dispatch("inc")
    assert h.top.n == 3
    for expected in (2, 1):
        frags = h.back()
        assert h.top.n == expected
        assert kinds(frags) == ["page"] and f"<b>{expected}</b>" in frags[0].html
    assert h.roundtrip() == h.conversation


def test_back_with_no_history_changes_nothing() -> None:
    h = Harness(Counter())
    before = h.conversation
    assert h.back() == []
    assert h.conversation is before


def test_back_across_an_answer_brings_the_child_frame_back() -> None:
    h = Harness(Counter())
    h.dispatch("ask")
    question = h.top.iid
    h.dispatch("type", text="forty")
    h.dispatch("say", value=42)
    assert h.top.n == 42 and question not in h.conversation["instances"]
    frags = h.back()
    assert h.frames == [Counter._stube_type, Question._stube_type]
    assert h.top.iid == question and h.top.typed == "forty"
    assert kinds(frags) == ["page"] and "Which number? forty" in frags[0].html
    h.back()
    h.back()
    assert h.frames == [Counter._stube_type] and h.top.n == 0


def test_back_from_a_handler_goes_to_the_previous_step_and_drops_the_handlers_changes() -> None:
    h = Harness(Counter())
    h.dispatch("inc")
    h.dispatch("inc")
    frags = h.dispatch("inc_then_back")
    assert h.top.n == 1
    assert len(h.conversation["history"]) == 1
    assert kinds(frags) == ["page"]


def test_history_is_bounded_by_history_limit() -> None:
    h = Harness(Counter(), history_limit=3)
    for _ in range(10):
        h.dispatch("inc")
    assert len(h.conversation["history"]) == 3
    for expected in (9, 8, 7):
        h.back()
        assert h.top.n == expected
    before = h.conversation
    assert h.back() == [] and h.conversation is before


def test_history_limit_zero_keeps_no_history() -> None:
    h = Harness(Counter(), history_limit=0)
    h.dispatch("inc")
    assert h.conversation["history"] == []
    assert h.back() == [] and h.top.n == 1


def test_a_step_that_changes_nothing_adds_no_history() -> None:
    h = Harness(Counter())
    h.dispatch("inc")
    before = h.conversation
    frags = h.dispatch("nothing")
    assert h.conversation is before
    assert frags == []


def test_unchanged_records_are_shared_between_steps() -> None:
    h = Harness(Counter(kids=20))
    before = h.conversation
    cell = h.conversation["instances"][h.top.iid]["children"]["k7"]
    h.dispatch("bump", target=cell)
    after = h.conversation
    changed = [i for i in after["instances"] if after["instances"][i] is not before["instances"][i]]
    assert changed == [cell]
    # The undo entry holds just the record that changed, and it is the old record itself.
    entry = after["history"][-1]
    assert list(entry["i"]) == [cell]
    assert entry["i"][cell] is before["instances"][cell]
    assert "s" not in entry                    # the stack did not change


def test_history_entries_are_shared_not_copied_between_steps() -> None:
    h = Harness(Counter(kids=3))
    h.dispatch("inc")
    first = h.conversation["history"][-1]
    h.dispatch("inc")
    assert h.conversation["history"][-2] is first


def test_restored_renders_include_inlined_children() -> None:
    h = Harness(Counter(kids=2))
    cell = h.conversation["instances"][h.top.iid]["children"]["k1"]
    h.dispatch("bump", target=cell)
    h.dispatch("bump", target=cell)
    frags = h.back()
    assert f'<i id="{cell}" data-stube-component="{Cell._stube_type}" class="{Cell._stube_css}">1</i>' in frags[0].html


def test_a_new_step_after_back_records_history_again() -> None:
    h = Harness(Counter())
    h.dispatch("inc")
    h.dispatch("inc")
    h.back()
    version = h.conversation["version"]
    h.dispatch("inc")
    h.dispatch("inc")
    assert h.top.n == 3
    assert h.conversation["version"] == version + 2
    h.back()
    assert h.top.n == 2


def test_back_does_not_resurrect_an_ended_conversation() -> None:
    h = Harness(Counter())
    h.dispatch("inc")
    h.dispatch("finish")
    before = h.conversation
    assert h.back() == []
    assert h.conversation is before and h.ended
