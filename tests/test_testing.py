"""stube.testing.Harness behaves like the wire and raises like Starlette's TestClient."""

from __future__ import annotations

from typing import Any, Literal

import pytest

import stube
from stube import Component, answer, call, call_in_slot, dispatch_to, end, event, io
from stube.errors import BadPayload
from stube.testing import Harness, Replay, replay_flow


class Counter(Component):
    template_string = '<p {{ root() }}>n={{ self.n }}</p>'

    def __init__(self, n: int = 0) -> None:
        self.n = n
        self.got: Any = None

    @event
    def add(self, amount: int) -> None:
        self.n += amount

    @event
    def scale(self, factor: float = 1.0) -> None:
        self.got = factor

    @event
    def label(self, text: str) -> None:
        self.got = text

    @event
    def raw(self, value) -> None:  # type: ignore[no-untyped-def]  # unannotated: the wire gives text
        self.got = value

    @event
    def anything(self, value: Any = None) -> None:
        self.got = value

    @event
    def maybe(self, limit: int | None = None) -> None:
        self.got = limit

    @event
    def pick(self, mode: Literal["a", "b"], tags: list[int] | None = None) -> None:
        self.got = [mode, tags]

    @event
    def flag(self, on: bool) -> None:
        self.got = on

    @event
    def extra(self, **rest: Any) -> None:
        self.got = rest

    @event
    def boom(self) -> None:
        self.n = 99
        raise RuntimeError("kaboom")

    @event
    def ask(self) -> Any:
        return call(Confirm(), resume="on_ok")

    def on_ok(self, value: Any) -> None:
        self.got = value

    @event
    def quit(self) -> Any:
        return end("bye")


class Confirm(Component):
    template_string = '<div {{ root() }}><button {{ on("yes") }}>Yes</button></div>'

    @event
    def yes(self) -> Any:
        return answer(True)


class FailsToStart(Component):
    template_string = "<p {{ root() }}>never</p>"

    def start(self) -> None:
        raise RuntimeError("start failed")


# -- raise_errors -------------------------------------------------------------------------------


def test_a_handler_exception_propagates_out_of_dispatch_by_default() -> None:
    h = Harness(Counter(n=1))
    before = h.conversation
    with pytest.raises(RuntimeError, match="kaboom"):
        h.dispatch("boom")
    assert h.conversation is before and h.top.n == 1       # rolled back, as over HTTP
    assert isinstance(h.error, RuntimeError)
    assert [f.kind for f in h.fragments] == ["error"]       # the banner HTTP would have sent
    h.dispatch("add", amount=2)                             # the conversation keeps working
    assert h.top.n == 3 and h.error is None


def test_raise_errors_false_turns_the_exception_into_the_banner() -> None:
    h = Harness(Counter(n=1), raise_errors=False)
    frags = h.dispatch("boom")
    assert isinstance(h.error, RuntimeError) and h.top.n == 1
    (banner,) = frags
    assert banner.kind == "error" and banner.target == h.top.iid and "kaboom" in banner.html


def test_a_failing_start_raises_from_the_constructor_unless_told_otherwise() -> None:
    with pytest.raises(RuntimeError, match="start failed"):
        Harness(FailsToStart)
    h = Harness(FailsToStart, raise_errors=False)
    assert isinstance(h.error, RuntimeError) and "start failed" in h.fragments[0].html


# -- payloads, as the wire converts them --------------------------------------------------------


def test_a_value_of_the_wrong_type_is_a_type_error_naming_the_parameter() -> None:
    h = Harness(Counter())
    with pytest.raises(TypeError, match=r"Counter\.label\(\) parameter 'text'.*int 5"):
        h.dispatch("label", text=5)
    with pytest.raises(TypeError, match=r"parameter 'amount'.*bool True"):
        h.dispatch("add", amount=True)                      # bool is an int to Python, not to the wire
    with pytest.raises(TypeError, match=r"parameter 'amount'.*NoneType"):
        h.dispatch("add", amount=None)
    with pytest.raises(TypeError, match=r"parameter 'value'.*no annotation.*int 3"):
        h.dispatch("raw", value=3)
    with pytest.raises(TypeError, match=r"parameter 'mode'"):
        h.dispatch("pick", mode=1)
    assert h.top.n == 0 and h.top.got is None               # nothing ran


def test_values_the_wire_could_deliver_arrive_as_it_would_deliver_them() -> None:
    h = Harness(Counter())
    h.dispatch("add", amount=2)
    assert h.top.n == 2
    h.dispatch("add", amount="3")                           # the browser's text, converted
    assert h.top.n == 5
    h.dispatch("scale", factor=2)                           # "2" over the wire becomes 2.0
    assert h.top.got == 2.0 and isinstance(h.top.got, float)
    h.dispatch("maybe", limit=None)
    assert h.top.got is None
    h.dispatch("maybe", limit="")                           # an empty input for an optional number
    assert h.top.got is None
    h.dispatch("pick", mode="b", tags=[1, 2])
    assert h.top.got == ["b", [1, 2]]
    h.dispatch("pick", mode="a", tags=["4", "5"])           # repeated keys: converted item by item
    assert h.top.got == ["a", [4, 5]]
    h.dispatch("flag", on="on")                             # a ticked checkbox
    assert h.top.got is True
    h.dispatch("raw", value="text")
    assert h.top.got == "text"


def test_any_and_extra_keywords_pass_as_given_and_bad_text_is_a_bad_payload() -> None:
    h = Harness(Counter())
    h.dispatch("anything", value={"a": [1]})
    assert h.top.got == {"a": [1]}
    h.dispatch("extra", x=1, y="two")
    assert h.top.got == {"x": 1, "y": "two"}
    with pytest.raises(BadPayload, match="amount"):
        h.dispatch("add", amount="lots")                    # what the wire answers 400 to
    with pytest.raises(BadPayload, match="amount"):
        h.dispatch("add")                                   # a required one missing: also 400


# -- events the page cannot send ----------------------------------------------------------------


def test_an_event_for_an_instance_under_a_dialog_is_a_lookup_error() -> None:
    h = Harness(Counter())
    page = h.top.iid
    h.dispatch("ask")
    before = h.conversation
    with pytest.raises(LookupError, match=r"not displayed.*Confirm.*204"):
        h.dispatch("add", target=page, amount=1)
    with pytest.raises(LookupError, match="204"):
        h.dispatch("add", target=Counter, amount=1)         # by class: the only one is covered
    assert h.conversation is before
    with pytest.raises(stube.UnknownEvent):
        h.dispatch("ad", target=page)                       # a misspelt name says so first
    h.dispatch("yes", target=Confirm)
    assert h.top.got is True
    h.dispatch("add", target=page, amount=1)                # shown again: reachable again
    assert h.top.n == 1


def test_an_event_for_a_removed_instance_or_an_ended_conversation_is_a_lookup_error() -> None:
    h = Harness(Counter())
    h.dispatch("ask")
    dialog = h.top.iid
    h.dispatch("yes")
    with pytest.raises(LookupError, match=f"no instance {dialog}.*204"):
        h.dispatch("yes", target=dialog)
    page = h.top.iid
    h.dispatch("quit")
    assert h.ended and h.result == "bye"
    with pytest.raises(LookupError, match="410"):
        h.dispatch("add", target=page, amount=1)


class Cell(Component):
    template_string = '<i {{ root() }}>{{ self.name }}</i>'

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0

    @event
    def hit(self) -> None:
        self.hits += 1


class Board(Component):
    template_string = '<div {{ root() }}>{{ slot("a") }}{{ slot("b") }}</div>'

    def children(self) -> dict[str, Component]:
        return {"a": Cell("a"), "b": Cell("b")}

    @event
    def cover_a(self) -> Any:
        return call_in_slot("a", Confirm())


def test_a_class_target_is_the_instance_the_page_shows() -> None:
    h = Harness(Board)
    h.dispatch("cover_a")  # Cell a is displaced (kept for when Confirm answers); Cell b is shown
    h.dispatch("hit", target=Cell)
    assert [(c.name, c.hits) for c in h.find_all(Cell)] == [("a", 0), ("b", 1)]


# -- what dispatch returns ------------------------------------------------------------------------


def test_dispatch_returns_fragments_with_kind_target_and_html() -> None:
    h = Harness(Counter())
    page = h.top.iid
    (frag,) = h.dispatch("add", amount=4)
    assert (frag.kind, frag.target) == ("morph", page) and "n=4" in frag.html
    assert h.fragments == [frag]
    (frag,) = h.dispatch("ask")
    assert (frag.kind, frag.target) == ("page", h.conversation["id"]) and "Yes" in frag.html


# -- commands ------------------------------------------------------------------------------------


class Worker(Component):
    template_string = "<p {{ root() }}>{{ self.log }}</p>"

    def __init__(self) -> None:
        self.log: list[str] = []

    @event
    def go(self) -> Any:
        return [io(lambda: "first", then="on_first"), dispatch_to(self.iid, "poke")]

    def on_first(self, value: str) -> Any:
        self.log.append(value)
        return io(lambda: "second", then="on_second")    # io started by an io result

    def on_second(self, value: str) -> Any:
        self.log.append(value)
        return dispatch_to(self.iid, "poke")

    def poke(self) -> None:
        self.log.append("poke")


def test_run_io_and_run_dispatch_to_drain_what_their_deliveries_add() -> None:
    h = Harness(Worker)
    h.dispatch("go")
    frags = h.run_io()
    assert h.top.log == ["first", "second"] and len(frags) == 2
    h.run_dispatch_to()
    assert h.top.log == ["first", "second", "poke", "poke"]
    assert h.commands == []


def test_replay_helpers_are_exported() -> None:
    @stube.flow
    def one() -> Any:
        return stube.ask(Confirm())

    assert replay_flow(one, [["ask", Confirm._stube_type, True]]) == Replay(True, True, None, 1)
