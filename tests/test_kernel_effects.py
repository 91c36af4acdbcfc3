"""The remaining effects: patch, execute_script, and the asynchronous ones a Harness holds.

io, after, subscribe/unsubscribe and dispatch_to are inert in a pure fold: they
come back as commands, and a test drives them explicitly.
"""

from __future__ import annotations

from typing import Any

import pytest

from stube import (
    Component,
    after,
    answer,
    call_in_slot,
    dispatch_to,
    event,
    execute_script,
    io,
    patch,
    set_keyed_children,
    subscribe,
    unsubscribe,
)
from stube.testing import Harness

CALLS: list[str] = []


class Widget(Component):
    template_string = '<div {{ root() }}>{{ self.n }} {{ self.news }}</div>'

    def __init__(self) -> None:
        self.n = 0
        self.news: list[Any] = []
        self.loaded: Any = None

    @event
    def toast(self) -> Any:
        self.n += 1
        return patch(f'<div id="toast" class="toast">saved {self.n}</div>')

    @event
    def script(self) -> Any:
        self.n += 1
        return execute_script("console.log('hi')")

    @event
    def load(self) -> Any:
        return io(lambda: CALLS.append("io ran") or {"rows": 3}, then="loaded_rows")

    def loaded_rows(self, result: Any) -> None:
        self.loaded = result

    @event
    def remind(self) -> Any:
        return after(-5, "ring", text="wake up")

    def ring(self, text: str) -> None:
        self.news = self.news + [text]

    @event
    def listen(self) -> Any:
        return subscribe("news", "heard")

    @event
    def deafen(self) -> Any:
        return unsubscribe("news")

    def heard(self, message: Any) -> None:
        self.news = self.news + [message]

class Peer(Component):
    template_string = '<span {{ root() }}>{{ self.pokes }}</span>'

    def __init__(self) -> None:
        self.pokes: list[str] = []

    def poked(self, by: str) -> None:
        self.pokes = self.pokes + [by]


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


def test_patch_is_swapped_by_the_id_of_its_top_element_and_replaces_the_auto_render() -> None:
    h = Harness(Widget())
    frags = h.dispatch("toast")
    assert [(f.kind, f.target) for f in frags] == [("patch", "toast")]
    assert frags[0].html == '<div id="toast" class="toast">saved 1</div>'
    assert h.top.n == 1                                  # the state change is kept


def test_execute_script_comes_after_the_auto_render() -> None:
    h = Harness(Widget())
    frags = h.dispatch("script")
    assert kinds(frags) == ["morph", "script"]
    assert frags[1].html == "console.log('hi')"


def test_io_is_inert_until_driven_and_its_result_arrives_as_then() -> None:
    h = Harness(Widget())
    frags = h.dispatch("load")
    assert CALLS == [] and frags == []
    assert [c.kind for c in h.commands] == ["io"]
    frags = h.run_io()
    assert CALLS == ["io ran"]
    assert h.top.loaded == {"rows": 3}
    assert kinds(frags) == ["morph"]
    assert h.commands == []


def test_after_is_a_timer_for_this_instance_delivered_when_fired() -> None:
    h = Harness(Widget())
    h.dispatch("remind")
    [timer] = h.timers
    assert timer.iid == h.top.iid and timer.effect.seconds == 0.0
    h.fire()
    assert h.top.news == ["wake up"]
    with pytest.raises(LookupError):
        h.fire()


def test_subscribe_and_unsubscribe() -> None:
    h = Harness(Widget())
    assert h.publish("news", "nobody listens") == 0
    h.dispatch("listen")
    assert h.publish("news", "extra!") == 1
    assert h.top.news == ["extra!"]
    h.dispatch("deafen")
    assert h.publish("news", "again") == 0
    assert h.top.news == ["extra!"]


def test_dispatch_to_delivers_after_the_handler_finishes() -> None:
    class Sender(Component):
        template_string = '<div {{ root() }}>{{ slot("peer") }}</div>'

        def children(self) -> dict[str, Component]:
            return {"peer": Peer()}

        @event
        def poke(self, peer: str) -> Any:
            return dispatch_to(peer, "poked", by="sender")

    h = Harness(Sender())
    peer = h.find(Peer).iid
    frags = h.dispatch("poke", peer=peer)
    assert frags == [] and h.find(Peer).pokes == []
    frags = h.run_dispatch_to()
    assert h.find(Peer).pokes == ["sender"]
    assert [(f.kind, f.target) for f in frags] == [("morph", peer)]


def test_commands_of_removed_instances_are_dropped() -> None:
    class Host(Component):
        template_string = '<div {{ root() }}></div>'

        @event
        def open(self) -> Any:
            return call_in_slot("x", Ringer())

    class Ringer(Component):
        template_string = '<i {{ root() }}></i>'

        def start(self) -> Any:
            return [after(10, "ring"), subscribe("t", "ring")]

        def ring(self, *args: Any) -> None:
            pass

        @event
        def close(self) -> Any:
            return answer()

    h = Harness(Host())
    h.dispatch("open")
    assert [c.kind for c in h.commands] == ["after"]
    h.dispatch("close", target=h.find(Ringer).iid)
    assert h.commands == [] and h.publish("t", 1) == 0


@pytest.mark.parametrize("make", [
    lambda: call_in_slot("", Peer()),
    lambda: io("not callable"),                     # type: ignore[arg-type]
    lambda: dispatch_to(Peer(), "poked"),
    lambda: dispatch_to(42, "poked"),               # type: ignore[arg-type]
    lambda: call_in_slot("x", "Peer"),              # type: ignore[arg-type]
])
def test_effect_constructors_reject_misuse_early(make: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        make()


@pytest.mark.parametrize("slot", ["", "two words", "a.b", "x#y", 3])
def test_slot_names_must_fit_in_an_element_id(slot: Any) -> None:
    with pytest.raises(ValueError):
        call_in_slot(slot, Peer())
    with pytest.raises(ValueError):
        set_keyed_children(slot, [])
