"""call / answer / answer_error / replace / end: the stack and where answers go."""

from __future__ import annotations

from typing import Any

import pytest

from stube import (
    Component,
    EffectError,
    answer,
    answer_error,
    call,
    end,
    event,
    patch,
    replace,
    set_keyed_children,
)
from stube.testing import Harness
from tests.components import debugging

STOPPED: list[str] = []


class Confirm(Component):
    template_string = '<div {{ root() }}><p class="q">{{ self.q }}</p></div>'

    def __init__(self, q: str = "Sure?") -> None:
        self.q = q

    def stop(self) -> None:
        STOPPED.append(self.q)

    @event
    def yes(self) -> Any:
        return answer(True)

    @event
    def say(self, value: Any) -> Any:
        return answer(value)

    @event
    def fail(self, message: str = "nope") -> Any:
        return answer_error(ValueError(message))

    @event
    def become(self, q: str) -> Any:
        return replace(Confirm(q))

    @event
    def finish(self, value: Any = None) -> Any:
        return end(value)

    @event
    def deeper(self) -> Any:
        return call(Confirm(self.q + "+"), resume="on_inner")

    def on_inner(self, value: Any) -> Any:
        return answer(f"inner:{value}")

    @event
    def nest(self) -> Any:
        return call(Confirm(self.q + "+"), resume="on_kept")

    def on_kept(self, value: Any) -> None:
        self.q = f"{self.q} got {value}"


class Page(Component):
    template_string = (
        '<main {{ root() }}><h1>{{ self.title }}</h1><p class="log">{{ self.log|join(",") }}</p>'
        "{{ slot('side') }}</main>"
    )

    def __init__(self) -> None:
        self.title = "Home"
        self.log: list[str] = []

    def children(self) -> dict[str, Component]:
        return {"side": Side()}

    def stop(self) -> None:
        STOPPED.append("page")

    @event
    def ask(self) -> Any:
        return call(Confirm("Delete?"), resume="on_confirm", on_error="on_failed")

    @event
    def ask_bare(self) -> Any:
        return call(Confirm("Bare?"))

    @event
    def ask_by_method(self) -> Any:
        return call(Confirm("Method?"), resume=self.on_confirm)

    @event
    def ask_missing_resume(self) -> Any:
        return call(Confirm(), resume="on_nothing")

    @event
    def ask_missing_on_error(self) -> Any:
        return call(Confirm(), resume="on_confirm", on_error="on_nothing")

    @event
    def ask_without_on_error(self) -> Any:
        return call(Confirm("Risky?"), resume="on_confirm")

    @event
    def ask_twice(self) -> Any:
        return [patch('<div id="toast">asking</div>'), call(Confirm("Twice?"), resume="on_confirm")]

    @event
    def finish(self, value: Any = None) -> Any:
        return end(value)

    @event
    def answer_me(self) -> Any:
        return answer("root says bye")

    @event
    def fail_me(self) -> Any:
        return answer_error(RuntimeError("root failed"))

    @event
    def become(self) -> Any:
        return replace(Confirm("New root"))

    def on_confirm(self, value: Any) -> None:
        self.log = self.log + [f"confirm:{value}"]

    def on_failed(self, error: Any) -> None:
        self.log = self.log + [f"failed:{type(error).__name__}:{error}"]


class Side(Component):
    template_string = '<aside {{ root() }}>{{ self.got }}</aside>'

    def __init__(self) -> None:
        self.got = "nothing"

    @event
    def ask(self) -> Any:
        return call(Confirm("From the side?"), resume="on_answer")

    @event
    def become(self) -> Any:
        return replace(Confirm("Replaced from the side"))

    @event
    def answer_me(self) -> Any:
        return answer("nope")

    def on_answer(self, value: Any) -> None:
        self.got = f"side got {value}"


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


def rec(h: Harness, iid: str) -> dict[str, Any]:
    return h.conversation["instances"][iid]


@pytest.fixture(autouse=True)
def _clear_stops() -> None:
    STOPPED.clear()


# -- call -----------------------------------------------------------------------------------


def test_call_pushes_a_frame_and_paints_it_as_the_page() -> None:
    h = Harness(Page())
    frags = h.dispatch("ask")
    assert h.frames == [Page._stube_type, Confirm._stube_type]
    assert kinds(frags) == ["page"]
    assert frags[0].target == h.conversation["id"]
    assert "Delete?" in frags[0].html and "Home" not in frags[0].html
    assert "Delete?" in h.html()


def test_the_resume_key_lives_on_the_child() -> None:
    h = Harness(Page())
    page = h.top.iid
    h.dispatch("ask")
    child = rec(h, h.top.iid)
    assert child["resume"] == "on_confirm" and child["on_error"] == "on_failed"
    assert child["parent"] == page
    assert "resume" not in rec(h, page)


def test_resume_may_be_given_as_a_method() -> None:
    h = Harness(Page())
    h.dispatch("ask_by_method")
    assert rec(h, h.top.iid)["resume"] == "on_confirm"
    h.dispatch("yes")
    assert h.top.log == ["confirm:True"]


# -- answer ---------------------------------------------------------------------------------


def test_answer_pops_the_child_runs_the_resume_and_repaints_the_parent_as_the_page() -> None:
    h = Harness(Page())
    page = h.top.iid
    h.dispatch("ask")
    child = h.top.iid
    frags = h.dispatch("say", value="yes please")
    assert h.frames == [Page._stube_type]
    assert child not in h.conversation["instances"]
    assert h.top.log == ["confirm:yes please"]
    # The child's element is what the page shows: the parent must come back as the page,
    # not as a morph aimed at an element that is no longer in the DOM.
    assert kinds(frags) == ["page"]
    assert f'id="{page}"' in frags[0].html and "confirm:yes please" in frags[0].html


def test_answer_without_a_resume_just_repaints_the_parent() -> None:
    h = Harness(Page())
    h.dispatch("ask_bare")
    frags = h.dispatch("yes")
    assert h.frames == [Page._stube_type]
    assert h.top.log == []
    assert kinds(frags) == ["page"] and "Home" in frags[0].html


def test_later_events_after_an_answer_morph_the_parent_in_place() -> None:
    h = Harness(Page())
    h.dispatch("ask")
    h.dispatch("yes")
    frags = h.dispatch("ask_bare")
    assert kinds(frags) == ["page"]
    frags = h.dispatch("yes")
    assert kinds(frags) == ["page"]


def test_nested_calls_unwind_one_frame_per_answer() -> None:
    h = Harness(Page())
    h.dispatch("ask")
    h.dispatch("nest")
    h.dispatch("nest")
    assert [h.component(i).q for i in h.conversation["stack"][1:]] == ["Delete?", "Delete?+", "Delete?++"]
    frags = h.dispatch("say", value=1)
    assert [h.component(i).q for i in h.conversation["stack"][1:]] == ["Delete?", "Delete?+ got 1"]
    assert kinds(frags) == ["page"] and "Delete?+ got 1" in frags[0].html
    h.dispatch("say", value=2)
    assert [h.component(i).q for i in h.conversation["stack"][1:]] == ["Delete? got 2"]
    h.dispatch("say", value="done")
    assert h.frames == [Page._stube_type]
    assert h.top.log == ["confirm:done"]


def test_answer_chained_through_a_resume_that_answers() -> None:
    h = Harness(Page())
    h.dispatch("ask")
    h.dispatch("deeper")
    frags = h.dispatch("yes")
    assert h.frames == [Page._stube_type]
    assert h.top.log == ["confirm:inner:True"]
    assert kinds(frags) == ["page"]


def test_answering_the_root_ends_the_conversation() -> None:
    h = Harness(Page())
    frags = h.dispatch("answer_me")
    assert h.ended and h.result == "root says bye"
    assert kinds(frags) == ["close"]
    assert h.frames == [] and h.conversation["instances"] == {}
    assert STOPPED == ["page"]
    assert h.roundtrip() == h.conversation


def test_an_ended_conversation_ignores_further_events() -> None:
    h = Harness(Page())
    iid = h.top.iid
    h.dispatch("answer_me")
    before = h.conversation
    assert h.deliver(iid, "ask") == []   # a timer or dispatch_to arriving late
    assert h.conversation is before
    with pytest.raises(LookupError, match="410"):  # a click: the page is stale
        h.dispatch("ask", target=iid)


def test_only_the_top_frame_answers() -> None:
    h = Harness(Page(), raise_errors=False)
    page = h.top.iid
    h.dispatch("ask")
    before = h.conversation
    with pytest.raises(LookupError, match="204"):  # a click on the covered page: HTTP ignores it
        h.dispatch("answer_me", target=page)
    frags = h.deliver(page, "answer_me")  # a timer or dispatch_to reaches it: the kernel refuses
    assert isinstance(h.error, EffectError)
    assert h.conversation is before
    assert kinds(frags) == ["error"] and frags[0].target == page


def test_an_eager_child_cannot_answer() -> None:
    h = Harness(Page(), raise_errors=False)
    before = h.conversation
    frags = h.dispatch("answer_me", target=Side)
    assert isinstance(h.error, EffectError) and "cannot answer" in str(h.error)
    assert h.conversation is before
    assert kinds(frags) == ["error"] and "stube-error" in frags[0].html


def test_a_missing_resume_method_is_an_error_when_calling_and_nothing_changes() -> None:
    """Caught at the call, not at the answer: a typo must not trap the user in the dialog."""
    h = Harness(Page(), raise_errors=False)
    before = h.conversation
    frags = h.dispatch("ask_missing_resume")
    assert isinstance(h.error, EffectError) and "on_nothing" in str(h.error)
    assert h.conversation is before
    assert h.frames == [Page._stube_type]
    assert "stube-error" in frags[0].html


def test_a_frame_called_by_an_eager_child_answers_to_that_child() -> None:
    h = Harness(Page())
    h.dispatch("ask", target=Side)
    assert h.frames == [Page._stube_type, Confirm._stube_type]
    assert rec(h, h.top.iid)["parent"] == h.find(Side).iid
    frags = h.dispatch("say", value=42)
    assert h.find(Side).got == "side got 42"
    assert kinds(frags) == ["page"] and "side got 42" in frags[0].html


def test_effects_before_a_call_still_apply() -> None:
    h = Harness(Page())
    frags = h.dispatch("ask_twice")
    assert kinds(frags) == ["page", "patch"]
    assert frags[1].target == "toast"
    assert h.frames[-1] == Confirm._stube_type


# -- answer_error -----------------------------------------------------------------------------


def test_answer_error_goes_to_the_callers_on_error_method_not_the_resume() -> None:
    h = Harness(Page())
    h.dispatch("ask")
    frags = h.dispatch("fail", message="disk full")
    assert h.frames == [Page._stube_type]
    assert h.top.log == ["failed:ValueError:disk full"]
    assert kinds(frags) == ["page"] and "failed:ValueError:disk full" in frags[0].html
    assert h.roundtrip() == h.conversation


def test_answer_error_without_on_error_shows_a_banner_on_the_caller() -> None:
    h = debugging(Harness(Page()))
    page = h.top.iid
    h.dispatch("ask_without_on_error")
    frags = h.dispatch("fail", message="disk full")
    assert h.frames == [Page._stube_type]
    assert h.top.log == []                    # the resume did not run
    assert len(frags) == 1
    assert 'class="stube-error"' in frags[0].html and "disk full" in frags[0].html
    assert f'id="{page}"' in frags[0].html
    assert h.error is None                    # the child's answer itself succeeded
    assert "Home" in h.html()                 # the next paint shows the caller again


def test_a_missing_on_error_method_is_an_error_when_calling_and_nothing_changes() -> None:
    h = Harness(Page(), raise_errors=False)
    before = h.conversation
    h.dispatch("ask_missing_on_error")
    assert isinstance(h.error, EffectError)
    assert h.conversation is before


def test_answer_error_from_the_root_ends_with_the_error() -> None:
    h = Harness(Page())
    frags = h.dispatch("fail_me")
    assert h.ended
    assert h.result == {"error": "root failed"}
    assert kinds(frags) == ["close"]


# -- replace ------------------------------------------------------------------------------------


def test_replace_swaps_the_frame_and_keeps_the_callers_resume() -> None:
    h = Harness(Page())
    h.dispatch("ask")
    first = h.top.iid
    frags = h.dispatch("become", q="Really delete?")
    assert kinds(frags) == ["page"] and "Really delete?" in frags[0].html
    assert first not in h.conversation["instances"]
    assert STOPPED == ["Delete?"]
    new = rec(h, h.top.iid)
    assert new["resume"] == "on_confirm" and new["on_error"] == "on_failed"
    assert len(h.frames) == 2
    h.dispatch("say", value="replaced answer")
    assert h.top.log == ["confirm:replaced answer"]


def test_replace_of_the_root_makes_a_new_root() -> None:
    h = Harness(Page())
    side = h.find(Side).iid
    h.dispatch("become")
    assert h.frames == [Confirm._stube_type]
    assert side not in h.conversation["instances"]
    assert STOPPED == ["page"]
    h.dispatch("say", value="bye")
    assert h.ended and h.result == "bye"


def test_replace_from_an_eager_child_replaces_just_that_child() -> None:
    """Seaside's become: the receiver is swapped where it stands; its frame stays."""
    h = Harness(Page())
    side = h.find(Side).iid
    frags = h.dispatch("become", target=Side)
    assert h.frames == [Page._stube_type]
    assert h.find(Side) is None and h.find(Confirm) is not None
    assert kinds(frags) == ["morph"] and frags[0].target == side
    assert "Replaced from the side" in frags[0].html


def test_only_the_top_frame_is_replaced() -> None:
    h = Harness(Page(), raise_errors=False)
    page = h.top.iid
    h.dispatch("ask")
    before = h.conversation
    h.deliver(page, "become")
    assert isinstance(h.error, EffectError)
    assert h.conversation is before


# -- end ----------------------------------------------------------------------------------------


def test_end_stops_every_frame_and_closes() -> None:
    h = Harness(Page())
    h.dispatch("ask")
    frags = h.dispatch("finish", value={"ok": 1})
    assert h.ended and h.result == {"ok": 1}
    assert kinds(frags) == ["close"]
    assert STOPPED == ["Delete?", "page"]      # top frame first
    assert h.conversation["instances"] == {} and h.frames == []
    assert h.roundtrip() == h.conversation


def test_end_with_a_value_that_is_not_json_stores_its_repr() -> None:
    h = Harness(Page())
    h.dispatch("finish", value={1, 2})
    assert h.ended and h.result == repr({1, 2})
    assert h.roundtrip() == h.conversation


# -- a caller that leaves while its dialog is open -----------------------------------------------


class Item(Component):
    template_string = "<li {{ root() }}>{{ self.label }}</li>"

    def __init__(self, label: str) -> None:
        self.label = label

    @event
    def edit(self) -> Any:
        return call(Confirm(f"Rename {self.label}?"), resume="on_renamed")

    def on_renamed(self, value: Any) -> None:
        self.label = str(value)


class Other(Component):
    template_string = "<li {{ root() }}>other</li>"


class ItemList(Component):
    template_string = "<ul {{ root() }}>{{ keyed('items') }}</ul>"

    def __init__(self) -> None:
        self.labels = ["a", "b"]

    def start(self) -> Any:
        return set_keyed_children("items", [(x, Item(x)) for x in self.labels])

    @event
    def drop(self, label: str) -> Any:
        self.labels = [x for x in self.labels if x != label]
        return set_keyed_children("items", [(x, Item(x)) for x in self.labels])

    @event
    def retype(self, label: str) -> Any:
        return set_keyed_children("items", [(x, Other() if x == label else Item(x)) for x in self.labels])


def _open_dialog_for_a(h: Harness) -> str:
    item = next(c for c in h.find_all(Item) if c.label == "a")
    h.dispatch("edit", target=item.iid)
    assert h.frames[-1] == Confirm._stube_type
    return item.iid


def test_dialog_whose_caller_was_removed_answers_back_to_the_frame_below() -> None:
    h = Harness(ItemList())
    _open_dialog_for_a(h)
    # A timer or pub/sub message removes the item while its dialog is open.
    h.deliver(h.conversation["stack"][0], "drop", label="a")
    dialog = rec(h, h.top.iid)
    assert dialog["parent"] == h.conversation["stack"][0] and "resume" not in dialog
    frags = h.dispatch("say", value="renamed")
    assert h.error is None
    assert h.frames == [ItemList._stube_type]
    assert [c.label for c in h.find_all(Item)] == ["b"]
    assert kinds(frags) == ["page"]


def test_dialog_whose_caller_was_rebuilt_as_another_type_still_answers() -> None:
    h = Harness(ItemList())
    old = _open_dialog_for_a(h)
    h.deliver(h.conversation["stack"][0], "retype", label="a")
    assert rec(h, old)["type"] == Other._stube_type       # same id, another component
    h.dispatch("say", value="renamed")
    assert h.error is None and h.frames == [ItemList._stube_type]
