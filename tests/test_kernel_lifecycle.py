"""start / stop / wakeup: when they run, in which order, and what their results do."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from stube import (
    Component,
    after,
    answer,
    back,
    call,
    call_in_slot,
    end,
    event,
    kernel,
    patch,
    replace,
    set_keyed_children,
)
from stube.kernel import Env
from stube.testing import Harness

LOG: list[str] = []


class Leaf(Component):
    template_string = '<span {{ root() }}>{{ self.label }}/{{ self.started }}/{{ self.woken }}</span>'

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = False
        self.woken = 0

    def start(self) -> Any:
        LOG.append(f"start {self.label}")
        self.started = True

    def stop(self) -> Any:
        LOG.append(f"stop {self.label}")
        self.label = "changed in stop"          # discarded
        return patch(f'<div id="goodbye-{self.iid}">bye</div>')

    def wakeup(self) -> Any:
        LOG.append(f"wakeup {self.label}")
        self.woken += 1

    @event
    def inc(self) -> None:
        self.label += "!"

    @event
    def done(self) -> Any:
        return answer(self.label)

    @event
    def swap(self) -> Any:
        return replace(Leaf(f"{self.label}-2"))


class Tree(Component):
    template_string = '<div {{ root() }}>{{ self.label }} {{ slot("left") }} {{ slot("right") }}</div>'

    def __init__(self, label: str = "tree") -> None:
        self.label = label

    def children(self) -> dict[str, Component]:
        return {"left": Leaf(f"{self.label}.left"), "right": Leaf(f"{self.label}.right")}

    def start(self) -> None:
        LOG.append(f"start {self.label}")

    def stop(self) -> None:
        LOG.append(f"stop {self.label}")

    def wakeup(self) -> None:
        LOG.append(f"wakeup {self.label}")

    @event
    def open(self) -> Any:
        return call(Tree("dialog"), resume="on_closed")

    @event
    def edit_left(self) -> Any:
        return call_in_slot("left", Leaf("editor"))

    @event
    def close(self) -> Any:
        return answer("closed")

    @event
    def swap(self) -> Any:
        return replace(Tree("replacement"))

    @event
    def finish(self) -> Any:
        return end("finished")

    @event
    def rename(self, label: str) -> None:
        self.label = label

    @event
    def undo(self) -> Any:
        return back()

    def on_closed(self, value: Any) -> None:
        self.label = f"{self.label}+{value}"


class Ask(Component):
    template_string = '<form {{ root() }}>{{ self.q }}</form>'

    def __init__(self, q: str) -> None:
        self.q = q

    @event
    def say(self, value: Any) -> Any:
        return answer(value)


class Wizard(Component):
    """A task component: no template of its own; start() issues the first call."""

    def __init__(self) -> None:
        self.name: str | None = None

    def start(self) -> Any:
        return call(Ask("Name?"), resume="on_name")

    def on_name(self, value: str) -> Any:
        self.name = value
        return call(Ask(f"Age of {value}?"), resume="on_age")

    def on_age(self, value: int) -> Any:
        return answer({"name": self.name, "age": value})


class Ticker(Component):
    template_string = '<div {{ root() }}>{{ slot("clock") }}</div>'

    def children(self) -> dict[str, Component]:
        return {"clock": Clock()}


class Clock(Component):
    template_string = '<time {{ root() }}>{{ self.ticks }}</time>'

    def __init__(self) -> None:
        self.ticks = 0

    def start(self) -> Any:
        return after(1.0, "tick")

    def wakeup(self) -> Any:
        return after(1.0, "tick")

    def tick(self) -> Any:
        self.ticks += 1
        return after(1.0, "tick")


class Bad(Component):
    template_string = '<div {{ root() }}>bad</div>'

    def start(self) -> None:
        raise RuntimeError("start failed")


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    LOG.clear()


# -- start --------------------------------------------------------------------------------------


def test_start_runs_for_the_root_then_its_children_and_its_changes_are_kept() -> None:
    h = Harness(Tree())
    assert LOG == ["start tree", "start tree.left", "start tree.right"]
    assert "tree.left/True/0" in h.html()


def test_start_runs_for_called_frames_slot_children_and_keyed_children() -> None:
    h = Harness(Tree())
    LOG.clear()
    h.dispatch("open")
    assert LOG == ["start dialog", "start dialog.left", "start dialog.right"]
    LOG.clear()
    h.dispatch("edit_left")
    assert LOG == ["start editor"]
    assert "editor/True/0" in h.html()

    class List(Component):
        template_string = '<ul {{ root() }}>{{ keyed("xs") }}</ul>'

        def start(self) -> Any:
            return set_keyed_children("xs", [("k", Leaf("keyed"))])

    LOG.clear()
    h = Harness(List())
    assert LOG == ["start keyed"]
    assert "keyed/True/0" in h.html()


def test_a_task_component_calls_from_start_and_only_the_leaf_paints() -> None:
    h = Harness(Wizard())
    assert len(h.frames) == 2 and h.frames[-1] == Ask._stube_type
    assert kinds(h.fragments) == ["page"]
    assert "Name?" in h.fragments[0].html and "hidden" not in h.fragments[0].html
    h.dispatch("say", value="Ada")
    assert "Age of Ada?" in h.html()
    h.dispatch("say", value=36)
    assert h.ended and h.result == {"name": "Ada", "age": 36}


def test_effects_from_a_childs_start_are_attributed_to_that_child() -> None:
    h = Harness(Ticker())
    clock = h.find(Clock)
    assert [(c.kind, c.iid) for c in h.commands] == [("after", clock.iid)]
    h.fire()
    assert h.find(Clock).ticks == 1
    assert [(c.kind, c.iid) for c in h.commands] == [("after", clock.iid)]


def test_a_failing_start_at_mint_paints_a_banner_page() -> None:
    h = Harness(Bad(), raise_errors=False)
    assert isinstance(h.error, RuntimeError)
    assert kinds(h.fragments) == ["page"]
    assert 'class="stube-error"' in h.fragments[0].html and "start failed" not in h.fragments[0].html
    assert "start failed" in kernel.boot(Bad(), Env(debug=True)).fragments[0].html


# -- stop ---------------------------------------------------------------------------------------


def test_stop_runs_for_a_popped_frame_children_first_and_its_changes_are_discarded() -> None:
    h = Harness(Tree())
    h.dispatch("open")
    dialog = h.top.iid
    LOG.clear()
    frags = h.dispatch("close")
    assert LOG == ["stop dialog.right", "stop dialog.left", "stop dialog"]
    assert dialog not in h.conversation["instances"]
    assert kinds(frags) == ["page", "patch", "patch"]
    assert h.top.label == "tree+closed"


def test_stop_runs_for_a_replaced_frame_and_start_for_its_replacement() -> None:
    h = Harness(Tree())
    LOG.clear()
    h.dispatch("swap")
    assert LOG == ["stop tree.right", "stop tree.left", "stop tree", "start replacement",
                   "start replacement.left", "start replacement.right"]


def test_stop_runs_for_an_answering_slot_child_but_not_for_the_restored_occupant() -> None:
    h = Harness(Tree())
    h.dispatch("edit_left")
    LOG.clear()
    h.dispatch("done", target=h.find(Leaf).iid)
    assert LOG == ["stop editor"]
    assert "tree.left/True/0" in h.html()


def test_end_runs_every_stop_and_emits_their_side_effects_before_close() -> None:
    h = Harness(Tree())
    h.dispatch("open")
    LOG.clear()
    frags = h.dispatch("finish")
    assert LOG == ["stop dialog.right", "stop dialog.left", "stop dialog",
                   "stop tree.right", "stop tree.left", "stop tree"]
    assert kinds(frags) == ["patch"] * 4 + ["close"]


def test_stop_may_only_return_side_effects(caplog: pytest.LogCaptureFixture) -> None:
    class Stubborn(Component):
        template_string = '<div {{ root() }}></div>'

        def stop(self) -> Any:
            return [call(Ask("never")), patch('<p id="p">x</p>')]

        @event
        def done(self) -> Any:
            return answer(1)

    class Host(Component):
        template_string = '<div {{ root() }}></div>'

        @event
        def open(self) -> Any:
            return call(Stubborn())

    h = Harness(Host())
    h.dispatch("open")
    with caplog.at_level(logging.WARNING, logger="stube"):
        frags = h.dispatch("done")
    assert h.frames == [Host._stube_type]
    assert kinds(frags) == ["page", "patch"]
    assert "only return side effects" in caplog.text


def test_shutdown_runs_every_stop_without_ending() -> None:
    h = Harness(Tree())
    h.dispatch("open")
    LOG.clear()
    out = kernel.stop_all(h.conversation, h.env)
    assert LOG == ["stop dialog.right", "stop dialog.left", "stop dialog",
                   "stop tree.right", "stop tree.left", "stop tree"]
    assert out.conversation is h.conversation and not h.ended


# -- wakeup -------------------------------------------------------------------------------------


def test_back_runs_wakeup_on_the_restored_top_frames_tree_and_repaints_it() -> None:
    h = Harness(Tree())
    h.dispatch("rename", label="renamed")
    LOG.clear()
    frags = h.back()
    assert LOG == ["wakeup tree", "wakeup tree.left", "wakeup tree.right"]
    assert kinds(frags) == ["page"] and "tree.left/True/1" in frags[0].html
    assert "stop" not in " ".join(LOG)


def test_back_emitted_by_a_handler_wakes_the_restored_frame() -> None:
    h = Harness(Tree())
    h.dispatch("open")
    LOG.clear()
    frags = h.dispatch("undo")
    assert h.frames == [Tree._stube_type]
    assert LOG == ["wakeup tree", "wakeup tree.left", "wakeup tree.right"]
    assert kinds(frags) == ["page"]


def test_a_restored_conversation_wakes_its_top_frame_and_repaints() -> None:
    h = Harness(Ticker())
    h.commands.clear()
    out = kernel.wake(h.roundtrip(), h.env)
    assert [c.kind for c in out.commands] == ["after"]
    assert kinds(out.fragments) == ["page"]
    assert out.conversation["history"] == h.conversation["history"]


def test_a_called_frame_that_answers_from_start_never_paints() -> None:
    class Instant(Component):
        template_string = '<div {{ root() }}>never shown</div>'

        def start(self) -> Any:
            return answer("instant")

    class Caller(Component):
        template_string = '<div {{ root() }}>{{ self.got }}</div>'

        def __init__(self) -> None:
            self.got = ""

        @event
        def go(self) -> Any:
            return call(Instant(), resume="on_got")

        def on_got(self, value: str) -> None:
            self.got = value

    h = Harness(Caller())
    frags = h.dispatch("go")
    assert h.frames == [Caller._stube_type]
    assert len(h.conversation["instances"]) == 1
    assert [(f.kind, f.target) for f in frags] == [("morph", h.top.iid)]
    assert "instant" in frags[0].html and "never shown" not in frags[0].html


def test_a_failing_start_in_a_called_frame_fails_the_dispatch_that_called_it() -> None:
    class Caller(Component):
        template_string = '<div {{ root() }}></div>'

        @event
        def go(self) -> Any:
            return call(Bad())

    h = Harness(Caller(), raise_errors=False)
    before = h.conversation
    frags = h.dispatch("go")
    assert isinstance(h.error, RuntimeError)
    assert h.conversation is before
    assert [(f.kind, f.target) for f in frags] == [("error", h.top.iid)]
