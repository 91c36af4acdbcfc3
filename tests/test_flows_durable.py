"""Durable flows (restart mid-flow, divergence, replay_flow) and the task-component alternative."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stube import Component, FlowDiverged, answer, call, call_in_slot, io, kernel
from stube.flows import ask, flow, live_continuations, remember, replay_flow
from stube.kernel import Env
from stube.testing import Harness
from tests.test_flows import Confirm, Prompt, question, say

IO_CALLS: list[str] = []
CLOCK: list[int] = []


def load_plans() -> list[str]:
    IO_CALLS.append("load_plans")
    return ["basic", "pro"]


def tick() -> int:
    CLOCK.append(1)
    return 1000 + len(CLOCK)


@flow(durable=True)
def signup(team: str):
    name = ask(Prompt(f"Who is joining {team}?"))
    plans = ask(io(load_plans))
    started = remember(tick)
    plan = ask(Prompt(f"{name}: plan ({' or '.join(plans)})? since {started}"))
    if not ask(Confirm(f"{name} on {plan}?")):
        return None
    return {"name": name, "plan": plan, "since": started}


def restart(h: Harness) -> None:
    """Simulate a process restart: the conversation through JSON, a fresh Env (Env.live empty)."""
    conv = json.loads(json.dumps(h.conversation))
    h.env = Env(h.env.templates, app=h.env.app, history_limit=h.env.history_limit)
    h.conversation = conv
    h.commands = []  # timers and io in flight die with the old process
    h._take(kernel.wake(conv, h.env))


def test_durable_flow_state_is_its_args_and_log() -> None:
    IO_CALLS.clear()
    CLOCK.clear()
    h = Harness(signup("core"))
    say(h, "Ada")
    h.run_io()
    iid = h.conversation["stack"][0]
    state = h.conversation["instances"][iid]["state"]
    assert state["flow"] == "durable" and state["args"] == ["core"]
    assert [e[0] for e in state["log"]] == ["ask", "io", "remember"]
    assert state["log"][0] == ["ask", Prompt._stube_type, "Ada"]
    assert state["log"][1][2] == ["basic", "pro"]
    assert live_continuations(h.conversation) == []  # durable: a store may save it
    json.dumps(h.conversation)


def test_durable_flow_continues_after_a_restart() -> None:
    IO_CALLS.clear()
    CLOCK.clear()
    h = Harness(signup("core"))
    say(h, "Ada")
    h.run_io()
    assert IO_CALLS == ["load_plans"] and CLOCK == [1]

    restart(h)
    assert h.env.live == {}
    assert question(h) == "Ada: plan (basic or pro)? since 1001"  # the right next question
    say(h, "pro")  # the continuation is rebuilt here, lazily, by replaying the log
    assert len(h.env.live) == 1
    assert question(h) == "Ada on pro?"
    assert IO_CALLS == ["load_plans"]  # io results come from the log, never re-run
    assert CLOCK == [1]  # remember() values too

    restart(h)  # once more, one step later
    h.dispatch("yes")
    assert h.ended and h.result == {"name": "Ada", "plan": "pro", "since": 1001}
    assert IO_CALLS == ["load_plans"] and CLOCK == [1]


def test_durable_flow_restart_while_waiting_for_io() -> None:
    IO_CALLS.clear()
    h = Harness(signup("io"))
    say(h, "Bo")
    assert [c.kind for c in h.commands] == ["io"]
    restart(h)  # the io never finished: waking the flow asks for it again
    assert "aria-busy" in h.html()
    assert [c.kind for c in h.commands] == ["io"]
    h.run_io()
    assert question(h).startswith("Bo: plan (basic or pro)?")
    assert IO_CALLS == ["load_plans"]  # it ran once: the first run died with the old process


def test_durable_back_rebuilds_from_the_state_log() -> None:
    h = Harness(signup("core"))
    say(h, "Ada")
    h.run_io()
    say(h, "basic")
    h.back()
    assert question(h).startswith("Ada: plan")
    say(h, "pro")
    h.dispatch("yes")
    assert h.result["plan"] == "pro"


def test_durable_answers_must_be_json() -> None:
    class Odd(Component):
        template_string = '<div {{ root() }}></div>'

        def go(self) -> Any:
            return answer({1, 2})

    @flow(durable=True)
    def strict():
        return ask(Odd())

    h = Harness(strict)
    h._internal(h.top.iid, "go")
    assert "logs every answer as JSON" in h.html()


# -- divergence ------------------------------------------------------------------------------


def test_divergent_log_shows_a_banner_and_the_flow_restarts_cleanly() -> None:
    @flow(name="tests.durable.wizard", durable=True)
    def wizard_v1():
        name = ask(Prompt("Name?"))
        colour = ask(Prompt(f"Colour for {name}?"))
        return f"{name}:{colour}"

    h = Harness(wizard_v1)
    say(h, "Ada")
    assert question(h) == "Colour for Ada?"

    # A deploy changes the flow: step 1 now asks for a confirmation instead of a name.
    @flow(name="tests.durable.wizard", durable=True)
    def wizard_v2():
        ok = ask(Confirm("Accept the terms?"))
        name = ask(Prompt("Name?"))
        return f"{name}:{ok}"

    restart(h)
    say(h, "red")  # the replay of the log no longer fits
    iid = h.conversation["stack"][0]
    state = h.conversation["instances"][iid]["state"]
    html = h.html()
    assert "stube-error" in html and "FlowDiverged" not in html  # a message, not a class name
    assert "log recorded" in html and "Start again" in html
    assert state["log"] == [] and state["error"]  # the stale log is gone
    assert h.frames == ["tests.durable.wizard"]
    json.dumps(h.conversation)

    h.dispatch("restart", target=iid)
    assert question(h) == "Accept the terms?"
    h.dispatch("yes")
    say(h, "Bo")
    assert h.result == "Bo:True"


def test_divergence_when_the_flow_now_finishes_earlier() -> None:
    @flow(name="tests.durable.short", durable=True)
    def v1():
        ask(Prompt("one"))
        ask(Prompt("two"))
        return ask(Prompt("three"))

    h = Harness(v1)
    say(h, "1")
    say(h, "2")

    @flow(name="tests.durable.short", durable=True)
    def v2():
        ask(Prompt("one"))
        return "done early"

    restart(h)
    say(h, "3")
    assert "stube-error" in h.html() and not h.ended


# -- replay_flow: old logs against today's code --------------------------------------------


def test_replay_flow_checks_a_stored_log_without_running_io() -> None:
    IO_CALLS.clear()
    CLOCK.clear()
    h = Harness(signup("core"))
    say(h, "Ada")
    h.run_io()
    say(h, "pro")
    state = h.conversation["instances"][h.conversation["stack"][0]]["state"]
    stored = json.loads(json.dumps(state))
    IO_CALLS.clear()
    CLOCK.clear()

    replay = replay_flow(signup, stored["log"], *stored.get("args", []), **stored.get("kwargs", {}))
    assert not replay.finished and isinstance(replay.next, Confirm)
    assert replay.next.question == "Ada on pro?"
    assert replay.steps == 4
    assert IO_CALLS == [] and CLOCK == []

    full = stored["log"] + [["ask", Confirm._stube_type, True]]
    done = replay_flow(signup, full, "core")
    assert done.finished and done.result == {"name": "Ada", "plan": "pro", "since": 1001}

    @flow(durable=True)
    def signup_changed(team: str):
        name = ask(Prompt(f"Who is joining {team}?"))
        plan = ask(Prompt("plan?"))  # the io step was dropped
        return name, plan

    with pytest.raises(FlowDiverged, match="step 2"):
        replay_flow(signup_changed, stored["log"], "core")
    with pytest.raises(FlowDiverged, match="not a flow log entry"):
        replay_flow(signup, [["ask"]], "core")


def test_replay_flow_works_for_generator_flows() -> None:
    @flow(durable=True)
    def gen_flow():
        a = yield Prompt("a?")
        b = yield Prompt("b?")
        return a + b

    log = [["ask", Prompt._stube_type, "x"], ["ask", Prompt._stube_type, "y"]]
    assert replay_flow(gen_flow, log).result == "xy"
    with pytest.raises(FlowDiverged):
        replay_flow(gen_flow, [["ask", Confirm._stube_type, True]])


# -- the same wizard as a task component ---------------------------------------------------------


class SignupTask(Component):
    """Hand-written: start() issues the first call, each resume threads step-state forward."""

    def __init__(self, team: str) -> None:
        self.team = team
        self.name: str | None = None
        self.plan: str | None = None

    def start(self) -> Any:
        return call(Prompt(f"Who is joining {self.team}?"), resume="on_name")

    def on_name(self, name: str) -> Any:
        self.name = name
        return call(Prompt(f"{name}: plan (basic or pro)?"), resume="on_plan")

    def on_plan(self, plan: str) -> Any:
        self.plan = plan
        return call(Confirm(f"{self.name} on {plan}?"), resume="on_confirm")

    def on_confirm(self, ok: bool) -> Any:
        return answer({"name": self.name, "plan": self.plan} if ok else None)


def test_task_component_round_trips_json_mid_way() -> None:
    h = Harness(SignupTask("core"))
    say(h, "Ada")
    restart(h)  # plain state: nothing to rebuild
    assert question(h) == "Ada: plan (basic or pro)?"
    say(h, "pro")
    restart(h)
    assert question(h) == "Ada on pro?"
    h.dispatch("yes")
    assert h.result == {"name": "Ada", "plan": "pro"}
    assert live_continuations(h.conversation) == []


# -- a durable flow embedded in a page survives a restart ------------------------------------


@flow(durable=True)
def address():
    street = ask(Prompt("Street?"))
    city = ask(Prompt(f"City for {street}?"))
    return f"{street}, {city}"


class Profile(Component):
    template_string = ('<section {{ root() }}>profile: {{ self.address }}'
                       '{% if self.editing %}{{ slot("edit") }}{% endif %}</section>')

    def __init__(self) -> None:
        self.address = "-"
        self.editing = False

    def start(self) -> Any:
        self.editing = True
        return call_in_slot("edit", address(), resume="on_address")

    def on_address(self, value: str) -> None:
        self.address, self.editing = value, False


def test_durable_flow_in_a_slot_survives_a_restart() -> None:
    h = Harness(Profile)
    say(h, "Main St")
    restart(h)
    assert "profile: -" in h.html() and "City for Main St?" in h.html()
    say(h, "Springfield")
    assert h.top.address == "Main St, Springfield" and "City" not in h.html()
    assert h.frames == [Profile._stube_type]


def test_replay_flow_checks_remember_calls_too() -> None:
    log = [["ask", Prompt._stube_type, "Ada"], ["io", "load_plans", ["basic"]], ["remember", "other", 5]]
    with pytest.raises(FlowDiverged, match="remember"):
        replay_flow(signup, log, "core")
