"""Travelling to a step (the browser's Back and Forward) in the kernel, through the Harness (issue 15)."""

from __future__ import annotations

from typing import Any

from stube import Component, after, answer, back, call, event, subscribe
from stube.flows import ask, flow
from stube.testing import Harness

LOG: list[str] = []


class Ask(Component):
    name = "bt/ask"
    template_string = '<form {{ root() }}><input name="text" value="{{ self.text }}">{{ self.question }}</form>'
    fields = ("text", "password")

    def __init__(self, question: str = "") -> None:
        self.question = question
        self.text = ""
        self.password = ""

    @event
    def ok(self) -> Any:
        return answer(self.text)

    @event
    def check(self) -> None:
        self.password = ""  # a form that clears what it refused

    @event
    def login(self) -> Any:
        return answer(self.password)


class Task(Component):
    name = "bt/task"
    template_string = '<div {{ root() }}>{{ self.got }}</div>'

    def __init__(self) -> None:
        self.got: list[str] = []

    def start(self) -> Any:
        return call(Ask("first?"), resume="on_first")

    def on_first(self, value: str) -> Any:
        self.got = [value]
        return call(Ask("second?"), resume="on_second")

    def on_second(self, value: str) -> None:
        self.got = [*self.got, value]


class Ticking(Component):
    name = "bt/ticking"
    template_string = '<div {{ root() }}>tick</div>'

    def start(self) -> Any:
        return [after(60, "tick"), subscribe("news", "tick")]

    def tick(self, message: Any = None) -> None:
        pass

    def stop(self) -> None:
        LOG.append("stop ticking")

    def wakeup(self) -> None:
        LOG.append("wakeup ticking")

    @event
    def done(self) -> Any:
        return answer(None)


class Host(Component):
    name = "bt/host"
    template_string = '<div {{ root() }}>{{ self.n }}</div>'

    def __init__(self) -> None:
        self.n = 0

    def wakeup(self) -> None:
        LOG.append("wakeup host")

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def open(self) -> Any:
        return call(Ticking())

    @event
    def undo(self) -> Any:
        return back()


def test_back_and_forward_go_through_the_steps_with_what_was_typed() -> None:
    h = Harness(Task)
    zero = h.step
    h.dispatch("ok", fields={"text": "Ada"})
    one = h.step
    h.dispatch("ok", fields={"text": "teal"})
    two = h.step
    assert h.top.got == ["Ada", "teal"] and len({zero, one, two}) == 3
    h.go(one)
    assert (h.top.question, h.top.text, h.step) == ("second?", "teal", one)
    h.go(zero)
    assert (h.top.question, h.top.text) == ("first?", "Ada")
    h.go(two)  # Forward twice at once
    assert h.top.got == ["Ada", "teal"] and h.step == two
    h.go(zero)
    h.go(one)
    assert h.top.text == "teal"
    assert h.roundtrip() == h.conversation


def test_a_new_event_branches_and_the_steps_after_it_are_gone() -> None:
    h = Harness(Task)
    zero = h.step
    h.dispatch("ok", fields={"text": "Ada"})
    h.dispatch("ok", fields={"text": "teal"})
    two = h.step
    h.go(zero)
    h.dispatch("ok", fields={"text": "Grace"})
    assert h.top.question == "second?" and "future" not in h.conversation
    before = h.conversation
    assert h.go(two) == [] and h.conversation is before  # discarded: unreachable
    h.dispatch("ok", fields={"text": "red"})
    assert h.top.got == ["Grace", "red"]


def test_steps_older_than_history_limit_are_unreachable() -> None:
    h = Harness(Host, history_limit=2)
    steps = [h.step]
    for _ in range(4):
        h.dispatch("inc")
        steps.append(h.step)
    assert h.go(steps[1]) == [] and h.top.n == 4
    h.go(steps[2])
    assert h.top.n == 2


def test_secret_looking_and_cleared_fields_are_not_kept() -> None:
    h = Harness(Ask)
    zero = h.step
    h.dispatch("check", fields={"text": "kept", "password": "wrong"})
    assert "wrong" not in str(h.conversation)
    h.go(zero)
    assert h.top.text == "kept" and h.top.password == ""


def test_stop_runs_for_instances_that_leave_and_their_timers_go() -> None:
    h = Harness(Host)
    zero = h.step
    h.dispatch("open")
    assert {c.kind for c in h.commands} == {"after"} and h.publish("news", 1) == 1
    ticking = h.top.iid
    LOG.clear()
    frags = h.go(zero)
    assert LOG == ["stop ticking", "wakeup host"]
    assert [f.kind for f in frags] == ["page"]
    assert h.commands == [] and h.publish("news", 1) == 0
    LOG.clear()
    h.go(h.conversation["future"][-1]["v"])  # Forward: it comes back and wakes
    assert h.top.iid == ticking and LOG == ["wakeup ticking"]


def test_back_keeps_a_redo_list_the_browser_can_go_forward_through() -> None:
    h = Harness(Host)
    h.dispatch("inc")
    one = h.step
    h.dispatch("inc")
    two = h.step
    h.dispatch("undo")
    assert h.top.n == 1 and h.step == one
    h.go(two)
    assert h.top.n == 2
    h.back()
    assert h.top.n == 1 and h.step == one


def test_step_fragments_push_a_new_top_frame_and_replace_otherwise() -> None:
    h = Harness(Host, backtrack=True)
    steps = [(f.kind, f.mode) for f in h.dispatch("inc") if f.kind == "step"]
    assert steps == [("step", "replace")]
    frags = h.dispatch("open")
    step = [f for f in frags if f.kind == "step"]
    assert step[0].mode == "push" and step[0].html.endswith(f"&step={h.step}") and step[0].step == h.step
    frags = h.go(h.conversation["history"][-1]["v"])  # Back to before the call
    assert [f.mode for f in frags if f.kind == "step"] == ["replace"]
    assert Harness(Host).dispatch("open")[-1].kind == "page"  # backtrack off: no step fragments


def test_the_stash_is_not_rolled_back() -> None:
    class Prefs(Component):
        name = "bt/prefs"
        template_string = '<div {{ root() }}>{{ self.sort }}</div>'
        stash = ("sort",)

        def __init__(self) -> None:
            self.sort = "name"

        @event
        def by(self, key: str) -> None:
            self.sort = key

    stash: dict[str, dict[str, Any]] = {}
    h = Harness(Prefs, stash=stash)
    zero = h.step
    h.dispatch("by", key="size")
    h.go(zero)
    assert h.top.sort == "name"  # the page shows the step as it was ...
    assert stash["bt/prefs"]["data"] == {"sort": "size"}  # ... the stash keeps the last choice


@flow
def greeting() -> str:
    first = ask(Ask("first?"))
    second = ask(Ask("second?"))
    return f"{first} {second}"


@flow(durable=True)
def durable_greeting() -> str:
    first = ask(Ask("first?"))
    second = ask(Ask("second?"))
    return f"{first} {second}"


def test_flows_travel_back_and_continue_from_there() -> None:
    for root in (greeting, durable_greeting):
        h = Harness(root)
        zero = h.step
        h.dispatch("ok", fields={"text": "Ada"})
        h.go(zero)
        assert h.top.text == "Ada"
        h.dispatch("ok", fields={"text": "Grace"})
        h.dispatch("ok", fields={"text": "Hopper"})
        assert h.ended and h.result == "Grace Hopper"


class Starter(Component):
    name = "bt/starter"
    template_string = '<div {{ root() }}>{{ self.got }}</div>'

    def __init__(self) -> None:
        self.got = ""

    @event
    def go(self) -> Any:
        return call(greeting(), resume="on_done")

    def on_done(self, value: str) -> None:
        self.got = value


def test_a_greenlet_flow_brought_back_by_forward_says_its_progress_was_lost() -> None:
    h = Harness(Starter)
    zero = h.step
    h.dispatch("go")
    h.dispatch("ok", fields={"text": "Ada"})
    now = h.step
    h.go(zero)  # the flow leaves the conversation: this process lets its continuation go
    h.go(now)   # Forward brings its state back, not its greenlet
    h.dispatch("ok", fields={"text": "teal"})
    assert "progress was lost" in h.html()


class Cell(Component):
    name = "bt/cell"
    template_string = '<i {{ root() }}>{{ self.n }}</i>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def bump(self) -> None:
        self.n += 1


class Grid(Component):
    name = "bt/grid"
    template_string = '<div {{ root() }}>{% for i in range(20) %}{{ slot("c" ~ i) }}{% endfor %}</div>'

    def children(self) -> dict[str, Component]:
        return {f"c{i}": Cell() for i in range(20)}


def test_on_the_same_frame_only_what_differs_between_the_steps_repaints() -> None:
    h = Harness(Grid)
    cell = h.conversation["instances"][h.top.iid]["children"]["c7"]
    zero = h.step
    h.dispatch("bump", target=cell)
    one = h.step
    frags = h.go(zero)
    assert [(f.kind, f.target) for f in frags] == [("morph", cell)] and ">0</i>" in frags[0].html
    frags = h.go(one)
    assert [(f.kind, f.target) for f in frags] == [("morph", cell)] and ">1</i>" in frags[0].html
