"""Components, the registry, event reachability, payloads, fields and JSON state."""

from __future__ import annotations

import json
import math
from typing import Any, Literal, Optional

import pytest

import stube
from stube import BadPayload, Component, Event, StateError, UnknownEvent, call, event
from stube.component import lookup
from stube.kernel import Env, boot
from stube.payload import convert_value
from stube.testing import Harness


class Counter(Component):
    template_string = '<div {{ root() }}><span class="n">{{ self.n }}</span></div>'

    def __init__(self, n: int = 0) -> None:
        self.n = n

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def add(self, amount: int) -> None:
        self.n += amount

    @event
    def add_optional(self, amount: int = 5) -> None:
        self.n += amount

    def helper(self) -> None:
        """Not an @event: never reachable."""
        self.n = -1

    def on_done(self, value: Any) -> None:
        self.n = -2


class Named(Component):
    name = "demo/counter"
    template_string = "<div {{ root(class_='card') }}>{{ self.n }}</div>"

    def __init__(self) -> None:
        self.n = 0


INIT_RUNS: list[str] = []


class CountsInit(Component):
    template_string = "<div {{ root() }}>{{ self.n }}</div>"

    def __init__(self) -> None:
        INIT_RUNS.append("init")
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


# -- type names and the registry ------------------------------------------------------


def test_default_type_name_is_module_and_qualname_and_it_is_what_the_conversation_stores() -> None:
    h = Harness(Counter(n=1))
    rec = h.conversation["instances"][h.conversation["stack"][0]]
    assert rec["type"] == f"{Counter.__module__}.Counter"
    assert rec["state"] == {"n": 1}
    assert h.frames == [f"{Counter.__module__}.Counter"]


def test_name_override_appears_in_json_in_data_attribute_and_css_class() -> None:
    h = Harness(Named())
    assert h.frames == ["demo/counter"]
    html = h.html()
    assert 'data-stube-component="demo/counter"' in html
    assert 'class="stube-c-demo-counter card"' in html
    assert lookup("demo/counter") is Named


def test_classes_defined_inside_a_function_register_and_run() -> None:
    class Local(Component):
        template_string = "<p {{ root() }}>{{ self.word }}</p>"

        def __init__(self) -> None:
            self.word = "hi"

        @event
        def shout(self) -> None:
            self.word = self.word.upper()

    assert lookup(Local._stube_type) is Local
    assert "<locals>" in Local._stube_type
    h = Harness(Local())
    h.dispatch("shout")
    assert ">HI</p>" in h.html()


def test_init_runs_once_when_the_spec_is_made_not_on_every_dispatch() -> None:
    INIT_RUNS.clear()
    h = Harness(CountsInit())
    h.dispatch("inc")
    h.dispatch("inc")
    assert INIT_RUNS == ["init"]
    assert h.top.n == 2


def test_calling_the_class_makes_a_spec_and_a_class_is_accepted_as_embed() -> None:
    spec = Counter(3)
    assert spec.iid is None
    assert call(Counter).embed.n == 0
    h = Harness(Counter)
    assert h.top.n == 0 and h.top.iid == h.conversation["stack"][0]


def test_a_live_instance_is_not_an_embed_spec() -> None:
    h = Harness(Counter())
    with pytest.raises(TypeError, match="live instance"):
        call(h.top)


# -- reachability -----------------------------------------------------------------------


def test_event_handler_mutates_state_and_rerenders() -> None:
    h = Harness(Counter(n=1))
    frags = h.dispatch("inc")
    assert h.top.n == 2
    assert kinds(frags) == ["morph"]
    assert '<span class="n">2</span>' in frags[0].html


@pytest.mark.parametrize("name", [
    "helper",      # a plain method
    "on_done",     # a resume method
    "start", "stop", "wakeup", "children", "url", "render", "handle", "migrate_stash",
    "template",    # a class attribute
    "iid",         # a property
    "_private", "__init__", "__class__",
    "no_such_event", "not-an-identifier", "",
])
def test_unreachable_names_raise_unknown_event_and_change_nothing(name: str) -> None:
    h = Harness(Counter(n=1))
    before = h.conversation
    with pytest.raises(UnknownEvent):
        h.dispatch(name)
    assert h.conversation is before
    assert h.top.n == 1
    assert issubclass(UnknownEvent, LookupError)


def test_handle_catch_all_receives_only_names_that_are_not_class_attributes() -> None:
    class Router(Component):
        template_string = "<div {{ root() }}>{{ self.seen }}</div>"

        def __init__(self) -> None:
            self.seen: list[Any] = []

        def handle(self, name: str, **payload: Any) -> None:
            self.seen = self.seen + [[name, payload]]

        def helper(self) -> None:
            pass

    h = Harness(Router())
    h.dispatch("anything", x=1)
    assert h.top.seen == [["anything", {"x": 1}]]
    for name in ("helper", "stop", "handle"):
        with pytest.raises(UnknownEvent):
            h.dispatch(name)
    assert h.top.seen == [["anything", {"x": 1}]]


def test_event_for_an_instance_that_no_longer_exists_changes_nothing() -> None:
    h = Harness(Counter())
    before = h.conversation
    assert h.deliver("ix-0000000000", "inc") == []
    assert h.conversation is before
    with pytest.raises(LookupError, match="no instance ix-0000000000.*204"):
        h.dispatch("inc", target="ix-0000000000")


# -- payloads -------------------------------------------------------------------------------


def test_harness_payload_arrives_as_given_and_unknown_keys_are_dropped() -> None:
    h = Harness(Counter(n=1))
    h.dispatch("add", amount=3, junk="ignored")
    assert h.top.n == 4
    h.dispatch("add_optional")
    assert h.top.n == 9


def test_missing_required_payload_is_bad_payload_and_changes_nothing() -> None:
    h = Harness(Counter(n=1))
    before = h.conversation
    with pytest.raises(BadPayload, match="amount"):
        h.dispatch("add")
    assert h.conversation is before


def test_wire_payload_is_converted_to_the_annotation() -> None:
    h = Harness(Counter(n=1))
    iid = h.conversation["stack"][0]
    conv, frags = stube.dispatch(h.conversation, Event(iid, "add", {"amount": "10"}, convert=True), h.env)
    assert conv["instances"][iid]["state"]["n"] == 11
    assert kinds(frags) == ["morph"]
    with pytest.raises(BadPayload):
        stube.dispatch(h.conversation, Event(iid, "add", {"amount": "ten"}, convert=True), h.env)


def test_unconverted_strings_reach_the_handler_unchanged() -> None:
    """Without ``convert`` the handler gets the str, and ``self.n += "10"`` fails as a banner."""
    h = Harness(Counter(n=1))
    iid = h.conversation["stack"][0]
    conv, frags = stube.dispatch(h.conversation, Event(iid, "add", {"amount": "10"}), h.env)
    assert conv is h.conversation
    assert kinds(frags) == ["error"]


@pytest.mark.parametrize(("value", "annotation", "expected"), [
    ("42", int, 42),
    ("2.5", float, 2.5),
    ("true", bool, True), ("on", bool, True), ("1", bool, True), ("yes", bool, True),
    ("false", bool, False), ("off", bool, False), ("", bool, False), ("0", bool, False),
    ("[1, 2]", list, [1, 2]),
    ('{"a": 1}', dict, {"a": 1}),
    (["1", "2"], list[int], [1, 2]),
    ("plain", str, "plain"),
    (["first", "last"], str, "last"),          # repeated form keys: the last one wins
    (["3", "4"], int, 4),
    ("", Optional[int], None),  # noqa: UP045 (typing.Optional is what the test is about)
    ("5", Optional[int], 5),  # noqa: UP045
    ("5", int | None, 5),
    ("b", Literal["a", "b"], "b"),
])
def test_convert_value(value: Any, annotation: Any, expected: Any) -> None:
    assert convert_value(value, annotation) == expected
    assert type(convert_value(value, annotation)) is type(expected)


def test_convert_value_unannotated_gives_str() -> None:
    import inspect

    assert convert_value("12", inspect.Parameter.empty) == "12"


@pytest.mark.parametrize(("value", "annotation"), [
    ("x", int), ("1.5", int), (" 7 ", int), ("maybe", bool), ("nan-ish", float), ("{", dict), ("[1]", dict),
    ("c", Literal["a", "b"]),
])
def test_convert_value_rejects_bad_input(value: Any, annotation: Any) -> None:
    with pytest.raises(BadPayload):
        convert_value(value, annotation)


# -- fields ------------------------------------------------------------------------------------


class Editor(Component):
    template_string = "<form {{ root() }}><input name='draft' value='{{ self.draft }}'>{{ self.saved }}</form>"
    fields = ("draft",)

    def __init__(self) -> None:
        self.draft = ""
        self.saved: list[str] = []

    @event
    def save(self) -> None:
        self.saved = self.saved + [self.draft]

    @event
    def noop(self) -> None:
        pass


def test_fields_are_lifted_onto_self_before_the_handler_and_not_passed_as_arguments() -> None:
    h = Harness(Editor())
    h.dispatch("save", fields={"draft": "hi", "other": "ignored"})
    assert h.top.saved == ["hi"]
    assert "other" not in h.conversation["instances"][h.top.iid]["state"]


def test_lifted_fields_persist_even_when_the_handler_changes_nothing() -> None:
    h = Harness(Editor())
    frags = h.dispatch("noop", fields={"draft": "typed"})
    assert h.top.draft == "typed"
    assert kinds(frags) == ["morph"] and "value='typed'" in frags[0].html


def test_repeated_field_values_lift_the_last_one() -> None:
    h = Harness(Editor())
    h.dispatch("save", fields={"draft": ["a", "b"]})
    assert h.top.saved == ["b"]


# -- state attributes named like class members -------------------------------------------------


class Shadowed(Component):
    template_string = (
        "<div {{ root() }}>{{ self.template }}|{{ self.stop }}|{{ self.fields }}|{{ self.name }}"
        "|{{ self.start }}|{{ self.children }}|{{ self.draft }}</div>"
    )
    fields = ("draft",)

    def __init__(self) -> None:
        self.template = "my template"
        self.stop = "red light"
        self.fields = ["a", "b"]
        self.name = "Ada"
        self.start = 3
        self.children = {"not": "slots"}
        self.draft = ""
        self.stopped = False

    def stop(self) -> None:  # type: ignore[override]  # the hook, shadowed by state on instances
        pass

    @event
    def bump(self) -> None:
        self.start += 1


def test_state_named_like_class_members_breaks_nothing() -> None:
    h = Harness(Shadowed())
    assert h.html().count("|") == 6
    assert "my template|red light|[&#39;a&#39;, &#39;b&#39;]|Ada|3|{&#39;not&#39;: &#39;slots&#39;}|" in h.html()
    h.dispatch("bump", fields={"draft": "lifted"})
    assert h.top.start == 4 and h.top.draft == "lifted"
    assert h.frames == [Shadowed._stube_type]
    assert h.roundtrip() == h.conversation


# -- JSON state ------------------------------------------------------------------------------------


class Bag(Component):
    template_string = "<div {{ root() }}>{{ self.bag }}</div>"

    def __init__(self, bag: Any = None) -> None:
        self.bag = bag

    @event
    def put(self, value: Any) -> None:
        self.bag = value

    @event
    def nest(self, value: Any) -> None:
        self.bag = {"deep": [1, {"x": value}]}

    @event
    def spawn(self, value: Any) -> Any:
        return call(Bag(value))


class Opaque:
    pass


BAD_VALUES = [{1, 2}, (1, 2), Opaque(), math.nan, math.inf, {1: "int key"}, b"bytes"]


@pytest.mark.parametrize("value", BAD_VALUES, ids=lambda v: type(v).__name__ + repr(v)[:10])
def test_non_json_attribute_is_a_state_error_naming_class_and_attribute(value: Any) -> None:
    h = Harness(Bag(), raise_errors=False)
    before = h.conversation
    frags = h.dispatch("put", value=value)
    assert isinstance(h.error, StateError)
    assert "Bag.bag" in str(h.error)
    assert h.conversation is before
    assert kinds(frags) == ["error"] and "stube-error" in frags[0].html


def test_nested_non_json_value_names_the_path() -> None:
    h = Harness(Bag(), raise_errors=False)
    h.dispatch("nest", value={3})
    assert isinstance(h.error, StateError)
    assert "Bag.bag['deep'][1]['x']" in str(h.error)


def test_non_json_state_in_a_called_spec_fails_the_dispatch_that_made_it() -> None:
    h = Harness(Bag(), raise_errors=False)
    before = h.conversation
    h.dispatch("spawn", value=(1, 2))
    assert isinstance(h.error, StateError) and "Bag.bag" in str(h.error)
    assert h.conversation is before


def test_non_json_state_in_the_root_fails_at_mint() -> None:
    with pytest.raises(StateError, match="Bag.bag"):
        Harness(Bag({1}))
    out = boot(Bag({1}), Env(debug=True))
    assert isinstance(out.error, StateError) and "Bag.bag" in str(out.error)
    (page,) = out.fragments
    assert page.kind == "page" and "Bag.bag: a set is not JSON" in page.html


def test_json_subclasses_are_stored_as_their_base_types() -> None:
    from enum import IntEnum

    from markupsafe import Markup

    class Level(IntEnum):
        HIGH = 3

    h = Harness(Bag())
    h.dispatch("put", value={"m": Markup("<b>x</b>"), "lvl": Level.HIGH, "ok": [True, None, 1.5]})
    state = h.conversation["instances"][h.top.iid]["state"]
    assert state == {"bag": {"m": "<b>x</b>", "lvl": 3, "ok": [True, None, 1.5]}}
    assert type(state["bag"]["m"]) is str and type(state["bag"]["lvl"]) is int
    assert h.roundtrip() == h.conversation


def test_handler_mutating_a_container_does_not_touch_the_stored_state() -> None:
    class Listy(Component):
        template_string = "<div {{ root() }}>{{ self.items }}</div>"

        def __init__(self) -> None:
            self.items = [1]

        @event
        def push(self) -> None:
            self.items.append(2)
            raise RuntimeError("after mutating in place")

    h = Harness(Listy(), raise_errors=False)
    before = json.loads(json.dumps(h.conversation))
    h.dispatch("push")
    assert h.conversation == before
    assert h.top.items == [1]


def test_conversation_round_trips_through_json_after_every_kind_of_step() -> None:
    h = Harness(Counter(n=1))
    assert h.roundtrip() == h.conversation
    h.dispatch("inc")
    assert h.roundtrip() == h.conversation
    h.back()
    assert h.roundtrip() == h.conversation
    with pytest.raises(UnknownEvent):
        h.dispatch("helper")
    assert h.roundtrip() == h.conversation
