"""Flows through the Harness: greenlet and generator flows, composition, errors, lifecycle.

Durable flows, replay and task components are in test_flows_durable.py.
"""

from __future__ import annotations

import contextvars
import gc
import json
import threading
import weakref
from typing import Any

import greenlet
import pytest

import stube
from stube import Component, FlowError, answer, answer_error, call, call_in_slot, context, end, event, io, replace
from stube.flows import AskFailed, FlowComponent, ask, flow, live_continuations, remember, saveable
from stube.testing import Harness

# -- components the flows ask (inline templates: no dependency on stube.ui) --------------


class Prompt(Component):
    template_string = (
        '<form {{ root(class="prompt") }}><p class="q">{{ self.question }}</p>'
        '<input name="value"><button {{ on("submit") }}>OK</button></form>'
    )

    def __init__(self, question: str) -> None:
        self.question = question

    @event
    def submit(self, value: str = "") -> Any:
        return answer(value)

    @event
    def fail(self, message: str = "bad input") -> Any:
        return answer_error(message)


class Confirm(Component):
    template_string = (
        '<div {{ root(class="confirm") }}><p class="q">{{ self.question }}</p>'
        '<button {{ on("yes") }}>Yes</button><button {{ on("no") }}>No</button></div>'
    )

    def __init__(self, question: str) -> None:
        self.question = question

    @event
    def yes(self) -> Any:
        return answer(True)

    @event
    def no(self) -> Any:
        return answer(False)


def say(h: Harness, value: str) -> None:
    """Answer the Prompt on screen."""
    h.dispatch("submit", target=Prompt, value=value)


def question(h: Harness) -> str:
    """The question text on screen."""
    html = h.html()
    start = html.index('<p class="q">') + len('<p class="q">')
    return html[start:html.index("</p>", start)]


def flow_iid(h: Harness, cls: type) -> str:
    found = h.find(cls)
    assert found is not None
    return found.iid  # type: ignore[return-value]


# -- the wizard, as a greenlet flow with helpers and loops ------------------------------


def ask_name(team: str) -> str:
    """A helper two calls deep: ask() works at any call depth inside a flow."""
    return _ask_nonempty(f"Who is joining {team}?")


def _ask_nonempty(q: str) -> str:
    while True:
        name = ask(Prompt(q))
        if name:
            return name
        q = "A name, please."


@flow
def onboard(team: str):
    while True:
        name = ask_name(team)
        if ask(Confirm(f"Welcome, {name}. Begin?")):
            return name


@flow
def onboard_gen(team: str):
    while True:
        name = yield Prompt(f"Who is joining {team}?")
        if not name:
            continue
        if (yield Confirm(f"Welcome, {name}. Begin?")):
            return name


def test_flow_is_a_component_class_named_after_the_function() -> None:
    assert issubclass(onboard, Component) and issubclass(onboard, FlowComponent)
    assert onboard._stube_type == "tests.test_flows.onboard"
    spec = onboard("core")
    assert isinstance(spec, Component) and spec.iid is None
    with pytest.raises(TypeError, match="onboard"):
        onboard("core", "extra")

    @flow(name="tests/named-flow")
    def named():
        return 1

    assert named._stube_type == "tests/named-flow"


@pytest.mark.parametrize("wizard", [onboard, onboard_gen], ids=["greenlet", "generator"])
def test_wizard_loops_and_answers(wizard: type) -> None:
    h = Harness(wizard("core"))
    assert h.frames == [wizard._stube_type, Prompt._stube_type]
    assert question(h) == "Who is joining core?"
    first_child = h.top.iid

    say(h, "")  # empty: asks again
    assert h.frames == [wizard._stube_type, Prompt._stube_type]
    assert h.top.iid != first_child  # each ask mints a fresh child
    say(h, "Ada")
    assert question(h) == "Welcome, Ada. Begin?"
    h.dispatch("no")
    assert h.frames[-1] == Prompt._stube_type  # back to the loop's start
    say(h, "Grace")
    h.dispatch("yes")
    assert h.ended and h.result == "Grace"
    assert h.conversation["instances"] == {}


def test_flow_state_is_json_and_only_one_ask_is_in_flight() -> None:
    h = Harness(onboard("core"))
    say(h, "Ada")
    json.dumps(h.conversation)  # the continuation is not in the value
    assert len(h.conversation["stack"]) == 2
    state = h.conversation["instances"][h.conversation["stack"][0]]["state"]
    assert state["flow"] == "greenlet" and state["args"] == ["core"]
    assert state["asking"] == Confirm._stube_type


class Home(Component):
    template_string = '<div {{ root(class="home") }}>home: {{ self.got }}</div>'

    def __init__(self, embed: Any = None) -> None:
        self.got = None

    @event
    def go(self, kind: str = "onboard") -> Any:
        return call(FLOWS[kind], resume="on_done")

    def on_done(self, value: Any) -> None:
        self.got = value


@flow
def pair():
    """A flow that calls flows."""
    first = ask(onboard("red"))
    second = ask(onboard_gen("blue"))
    return f"{first}+{second}"


@flow
def instant(x: int = 2):
    return x * 21


FLOWS: dict[str, Any] = {}


def setup_module() -> None:
    FLOWS.update({"onboard": onboard("core"), "pair": pair(), "instant": instant(), "boom": boom(),
                  "early": early_boom()})


def test_flow_called_by_a_component_answers_its_resume() -> None:
    h = Harness(Home)
    h.dispatch("go")
    assert h.frames == [Home._stube_type, onboard._stube_type, Prompt._stube_type]
    say(h, "Ada")
    h.dispatch("yes")
    assert h.frames == [Home._stube_type]
    assert h.top.got == "Ada"
    assert "home: Ada" in h.html()
    assert not h.ended


def test_flow_calling_flows() -> None:
    h = Harness(Home)
    h.dispatch("go", kind="pair")
    assert h.frames == [Home._stube_type, pair._stube_type, onboard._stube_type, Prompt._stube_type]
    say(h, "Ada")
    h.dispatch("yes")
    assert h.frames == [Home._stube_type, pair._stube_type, onboard_gen._stube_type, Prompt._stube_type]
    assert question(h) == "Who is joining blue?"
    say(h, "Bob")
    h.dispatch("yes")
    assert h.frames == [Home._stube_type]
    assert h.top.got == "Ada+Bob"


def test_flow_without_asks_answers_at_once() -> None:
    h = Harness(instant(1))
    assert h.ended and h.result == 21
    h = Harness(Home)
    h.dispatch("go", kind="instant")
    assert h.frames == [Home._stube_type] and h.top.got == 42


# -- flows in slots ask inside their own area --------------------------------------------


class Panel(Component):
    template_string = (
        '<section {{ root(class="panel") }}><h1>Panel {{ self.done }}</h1>'
        '{% if self.editing %}{{ slot("editor") }}{% endif %}</section>'
    )

    def __init__(self) -> None:
        self.done: list[str] = []
        self.editing = False

    @event
    def edit(self) -> Any:
        self.editing = True
        return call_in_slot("editor", onboard("slot"), resume="on_edited")

    def on_edited(self, name: str) -> None:
        self.editing = False
        self.done.append(name)


def test_flow_in_a_slot_asks_inline_and_answers_the_parent() -> None:
    h = Harness(Panel)
    h.dispatch("edit")
    assert h.frames == [Panel._stube_type]  # the stack is untouched
    html = h.html()
    assert "Panel []" in html and "Who is joining slot?" in html
    say(h, "Ada")
    assert "Welcome, Ada. Begin?" in h.html() and "Panel []" in h.html()
    h.dispatch("yes", target=Confirm)
    assert h.top.done == ["Ada"]
    assert "Panel [&#39;Ada&#39;]" in h.html() and "Welcome" not in h.html()
    assert h.find(onboard) is None and h.find(Confirm) is None


@flow
def feedback():
    """Never answers: lives in an eager slot forever."""
    n = 0
    while True:
        n += 1
        ask(Prompt(f"Feedback #{n}?"))


class Page(Component):
    template_string = '<main {{ root() }}>page {{ slot("fb") }}</main>'

    def children(self) -> dict[str, Component]:
        return {"fb": feedback()}


def test_flow_as_eager_child_asks_inline() -> None:
    h = Harness(Page)
    assert "Feedback #1?" in h.html()
    say(h, "great")
    assert "Feedback #2?" in h.html() and h.frames == [Page._stube_type]


# -- errors ------------------------------------------------------------------------------


@flow
def boom():
    name = ask(Prompt("Name?"))
    if name == "crash":
        raise ValueError("flow exploded")
    return name


@flow
def early_boom():
    raise RuntimeError("broken before the first ask")


def test_exception_inside_flow_shows_banner_and_keeps_the_rest() -> None:
    h = Harness(Home)
    h.dispatch("go", kind="boom")
    say(h, "crash")
    assert h.error is None  # handled by the flow, not a failed transaction
    assert h.frames == [Home._stube_type, boom._stube_type]  # caller intact
    html = h.html()
    assert "stube-error" in html and "flow exploded" in html and "Start again" in html
    iid = flow_iid(h, boom)
    assert live_continuations(h.conversation) == []  # nothing live while it shows the error
    # Back rewinds to the question (the flow is rebuilt from its log); a good answer finishes it.
    h.back()
    assert question(h) == "Name?"
    say(h, "Ada")
    assert h.frames == [Home._stube_type] and h.top.got == "Ada"
    # Start again after a crash restarts from the beginning.
    h.dispatch("go", kind="boom")
    say(h, "crash")
    h.dispatch("restart", target=flow_iid(h, boom))
    assert question(h) == "Name?" and iid not in h.conversation["instances"]


def test_exception_before_first_ask() -> None:
    h = Harness(Home)
    h.dispatch("go", kind="early")
    assert h.frames == [Home._stube_type, early_boom._stube_type]
    assert "broken before the first ask" in h.html()
    h = Harness(early_boom)  # as the root: the page shows the banner
    assert "broken before the first ask" in h.html() and not h.ended


class SlotHost(Component):
    template_string = '<section {{ root() }}>host {{ self.n }} {{ slot("s") }}</section>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def open(self) -> Any:
        return call_in_slot("s", boom(), resume="on_done")

    @event
    def inc(self) -> None:
        self.n += 1

    def on_done(self, v: Any) -> None:
        pass


def test_exception_in_slot_flow_leaves_parent_working() -> None:
    h = Harness(SlotHost, raise_errors=False)
    h.dispatch("open")
    say(h, "crash")
    html = h.html()
    assert "host 0" in html and "flow exploded" in html
    h.dispatch("inc", target=SlotHost)
    assert "host 1" in h.html() and "flow exploded" in h.html()


def test_restart_is_ignored_unless_the_flow_failed() -> None:
    h = Harness(Home)
    h.dispatch("go")
    iid = flow_iid(h, onboard)
    before = h.conversation
    h.deliver(iid, "restart")
    assert h.conversation["instances"] == before["instances"]
    with pytest.raises(LookupError, match="under the open frame"):  # the page cannot click it either
        h.dispatch("restart", target=iid)


def test_internal_methods_are_not_browser_events() -> None:
    h = Harness(onboard("x"))
    iid = flow_iid(h, onboard)
    with pytest.raises(stube.UnknownEvent):
        h.dispatch("_stube_resume", target=iid, value="x")


@flow
def tolerant():
    while True:
        try:
            return ask(Prompt("Value?"))
        except AskFailed as exc:
            ask(Confirm(f"Problem: {exc}. Retry?"))


def test_answer_error_raises_ask_failed_in_the_flow() -> None:
    h = Harness(tolerant)
    h.dispatch("fail", target=Prompt, message="too short")
    assert question(h) == "Problem: too short. Retry?"
    h.dispatch("yes")
    say(h, "ok")
    assert h.ended and h.result == "ok"


def test_misuse_is_a_flow_error() -> None:
    with pytest.raises(FlowError, match="only inside a @stube.flow"):
        ask(Prompt("x"))
    with pytest.raises(FlowError, match="remember"):
        remember(lambda: 1)

    def helper():
        return ask(Prompt("nested"))

    @flow
    def gen_with_helper():
        yield Prompt("first")
        helper()

    h = Harness(gen_with_helper)
    say(h, "x")
    assert "yield" in h.html()  # the banner explains the fix

    @flow
    def asks_junk():
        ask(answer(1))

    h = Harness(asks_junk)
    assert "component spec or io" in h.html()


# -- io and remember ------------------------------------------------------------------------


CALLS: list[str] = []


def fetch_rows() -> list[int]:
    CALLS.append("fetch")
    return [1, 2, 3]


def broken_io() -> None:
    raise OSError("disk on fire")


@flow
def reporter():
    rows = ask(io(fetch_rows))
    stamp = remember(lambda: len(CALLS))
    try:
        ask(io(broken_io))
    except AskFailed as exc:
        failure = str(exc)
    return ask(Prompt(f"{sum(rows)} rows at {stamp}; {failure}"))


@flow
def reporter_gen():
    rows = yield io(fetch_rows)
    return (yield Prompt(f"{sum(rows)} rows"))


def test_io_inside_a_flow_suspends_until_the_result_arrives() -> None:
    CALLS.clear()
    h = Harness(reporter)
    assert CALLS == [] and [c.kind for c in h.commands] == ["io"]
    assert "aria-busy" in h.html()  # a frame flow waiting for io shows it is working
    h.run_io()
    assert CALLS == ["fetch"]
    h.run_io()  # broken_io's exception comes back as AskFailed at the ask
    assert question(h) == "6 rows at 1; OSError: disk on fire"
    say(h, "ok")
    assert h.result == "ok"

    h = Harness(reporter_gen)
    h.run_io()
    assert question(h) == "6 rows"


def test_io_with_then_inside_a_flow_is_refused() -> None:
    @flow
    def bad():
        ask(io(fetch_rows, then="x"))

    assert "leave out then=" in Harness(bad).html()


def test_stale_io_result_is_ignored_after_back() -> None:
    @flow
    def two_step():
        ask(Prompt("first?"))
        rows = ask(io(fetch_rows))
        return ask(Prompt(f"{rows}"))

    h = Harness(two_step)
    say(h, "a")
    pending = list(h.commands)
    h.back()
    assert question(h) == "first?"
    h.commands = pending
    h.run_io()  # arrives for a position the flow is no longer at
    assert question(h) == "first?"


def test_back_to_a_flow_waiting_for_io_runs_the_io_again() -> None:
    CALLS.clear()

    @flow
    def loader():
        rows = ask(io(fetch_rows))
        return ask(Prompt(f"{len(rows)} rows"))

    h = Harness(loader)
    h.run_io()
    assert question(h) == "3 rows" and CALLS == ["fetch"]
    h.back()  # to the step waiting for io: its result went to the later step
    assert "aria-busy" in h.html() and [c.kind for c in h.commands] == ["io"]
    h.run_io()
    assert question(h) == "3 rows" and CALLS == ["fetch", "fetch"]


def test_generator_flow_remember_and_back() -> None:
    STAMPS.clear()

    @flow
    def gen_stamped():
        n = remember(lambda: STAMPS.append(len(STAMPS)) or len(STAMPS))
        a = yield Prompt(f"first {n}")
        b = yield Prompt(f"second {a}")
        return f"{a}{b}{n}"

    h = Harness(gen_stamped)
    say(h, "x")
    h.back()
    say(h, "y")
    say(h, "z")
    assert h.result == "yz1" and STAMPS == [0]


# -- context inside flows ---------------------------------------------------------------------


def where() -> str:
    # stube.context's readers are what stube.app()/principal()/conversation_id() export.
    return f"{context.app()['site']}/{context.principal()}/{context.conversation_id()}"


@flow
def whoami():
    ask(Prompt(where()))
    return ask(Prompt(where()))


def test_context_readers_work_inside_flows() -> None:
    h = Harness(whoami, app={"site": "demo"}, principal="ada")
    expected = f"demo/ada/{h.conversation['id']}"
    assert question(h) == expected
    say(h, "x")
    assert question(h) == expected  # also after a resume (a later dispatch)


# -- lifecycle: nothing leaks --------------------------------------------------------------------


FINALLY: list[str] = []


@flow
def guarded():
    try:
        while True:
            ask(Prompt("again?"))
    finally:
        FINALLY.append("cleaned")


def greenlet_count() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet))


class Dialog(Component):
    """Hosts a flow in a slot; answering removes both."""

    template_string = '<div {{ root() }}>{{ slot("f") }}</div>'

    def children(self) -> dict[str, Component]:
        return {"f": guarded()}

    @event
    def close(self) -> Any:
        return answer("closed")

    @event
    def swap(self) -> Any:
        return replace(Home())

    @event
    def quit(self) -> Any:
        return end("bye")


class Launcher(Component):
    template_string = '<div {{ root() }}>launcher {{ self.got }}</div>'

    def __init__(self) -> None:
        self.got = None

    @event
    def open(self) -> Any:
        return call(Dialog(), resume="on_closed")

    @event
    def run(self) -> Any:
        return call(guarded(), resume="on_closed")

    def on_closed(self, v: Any) -> None:
        self.got = v


@pytest.mark.parametrize("how", ["caller_answers", "replace", "end", "back", "back_frame"])
def test_removing_a_flow_frees_its_greenlet(how: str) -> None:
    h = Harness(Launcher)
    FINALLY.clear()
    before = greenlet_count()
    h.dispatch("run" if how == "back_frame" else "open")
    assert greenlet_count() == before + 1
    assert len(h.env.live) == 1
    if how == "caller_answers":
        h.dispatch("close", target=Dialog)
        assert h.top.got == "closed"
    elif how == "replace":
        h.dispatch("swap", target=Dialog)
        assert h.frames[-1] == Home._stube_type
    elif how == "end":
        h.dispatch("quit", target=Dialog)
        assert h.ended
    else:
        h.back()
        assert h.frames == [Launcher._stube_type]
    assert greenlet_count() == before
    assert h.env.live == {}
    assert FINALLY == ["cleaned"]  # GreenletExit was thrown in: the flow's finally block ran


def test_many_flows_started_and_finished_leave_nothing_behind() -> None:
    h = Harness(Home)
    before = greenlet_count()
    for i in range(20):
        h.dispatch("go")
        say(h, f"n{i}")
        h.dispatch("yes")
    assert greenlet_count() == before and h.env.live == {}


def test_failed_transaction_after_the_flow_advanced_is_rebuilt() -> None:
    """The flow's next ask fails to start: the fold rolls back, the greenlet had moved on."""

    class Fragile(Component):
        template_string = '<div {{ root() }}>fragile</div>'

        def __init__(self, ok: bool) -> None:
            self.ok = ok

        def start(self) -> None:
            if not self.ok:
                raise RuntimeError("fragile refused to start")

    @flow
    def careful():
        while True:
            v = ask(Prompt("Start fragile?"))
            ask(Fragile(v == "yes"))

    h = Harness(careful, raise_errors=False)
    before = h.conversation
    say(h, "no")
    assert isinstance(h.error, RuntimeError)
    assert h.conversation is before  # rolled back: the Prompt is still on screen
    say(h, "yes")  # the live greenlet sat past the rollback: rebuilt from the log
    assert h.error is None and h.frames[-1] == Fragile._stube_type


# -- back() into a running non-durable flow ----------------------------------------------------


STAMPS: list[int] = []


@flow
def stamped():
    n = remember(lambda: STAMPS.append(len(STAMPS)) or len(STAMPS))
    a = ask(Prompt(f"first (stamp {n})"))
    b = ask(Prompt(f"second after {a}"))
    return f"{a}/{b}/{n}"


def test_back_into_a_flow_rebuilds_it_from_the_log() -> None:
    STAMPS.clear()
    h = Harness(stamped)
    say(h, "a")
    assert question(h) == "second after a"
    h.back()
    assert question(h) == "first (stamp 1)"
    say(h, "b")  # the greenlet sat at step 2: rebuilt from the log prefix
    assert question(h) == "second after b"
    say(h, "c")
    assert h.result == "b/c/1"
    assert STAMPS == [0]  # remember() was not re-run by the rebuild


@flow
def layered():
    a = ask(Prompt("first"))
    n = remember(lambda: STAMPS.append(len(STAMPS)) or len(STAMPS))
    try:
        ask(Prompt("may fail"))
        failed = "answered"
    except AskFailed as exc:
        failed = str(exc)
    b = ask(Prompt(f"{a}, stamp {n}, {failed}"))
    return ask(Prompt(f"last after {b}"))


def test_back_rebuilds_steps_that_logged_several_values_and_a_failure() -> None:
    STAMPS.clear()
    h = Harness(layered)
    say(h, "x")  # one step logs the answer and the remember() value
    h.dispatch("fail", target=Prompt, message="no way")  # the next logs a failure
    third = question(h)
    assert third.startswith("x, stamp 1, ") and "no way" in third
    say(h, "y")
    assert question(h) == "last after y"
    h.back()
    assert question(h) == third
    say(h, "z")  # rebuilt from the log: the failure is raised again at the same ask
    assert question(h) == "last after z"
    h.back()
    h.back()
    assert question(h) == "may fail"
    say(h, "fine")  # rebuilt through the step of two values; this time the ask is answered
    assert question(h) == "x, stamp 1, answered"
    assert STAMPS == [0]  # remember() ran once: every rebuild took its value from the log


def test_back_to_a_finished_non_durable_flow_shows_it_was_lost() -> None:
    h = Harness(Home)
    h.dispatch("go", kind="boom")
    say(h, "Ada")
    assert h.top.got == "Ada"
    h.back()  # the flow (and its Prompt) come back, but its continuation was released
    assert question(h) == "Name?"
    say(h, "Bob")
    assert "progress was lost" in h.html()
    h.dispatch("restart", target=flow_iid(h, boom))
    say(h, "Bob")
    assert h.top.got == "Bob"


# -- threads and persistence ---------------------------------------------------------------------


def test_resuming_from_another_thread_is_a_flow_error() -> None:
    h = Harness(onboard("core"))
    before = h.conversation
    raised: list[BaseException] = []

    def say_elsewhere() -> None:
        try:
            say(h, "Ada")
        except FlowError as exc:  # raise_errors: the handler's error propagates out of dispatch
            raised.append(exc)

    t = threading.Thread(target=say_elsewhere)
    t.start()
    t.join()
    assert isinstance(h.error, FlowError) and "thread" in str(h.error)
    assert raised == [h.error]
    assert h.conversation is before
    say(h, "Ada")  # still fine on its own thread
    assert question(h) == "Welcome, Ada. Begin?"


def test_live_continuations_lists_running_non_durable_flows() -> None:
    h = Harness(Home)
    assert live_continuations(h.conversation) == []
    h.dispatch("go")
    iid = flow_iid(h, onboard)
    assert live_continuations(h.conversation) == [(iid, onboard._stube_type)]
    assert live_continuations(h.roundtrip()) == [(iid, onboard._stube_type)]

    class NotAFlow(Component):
        def __init__(self) -> None:
            self.flow = "greenlet"

    h = Harness(NotAFlow)
    assert live_continuations(h.conversation) == []


def test_saveable_is_false_while_a_non_durable_flow_runs() -> None:
    h = Harness(Home)
    assert saveable(h.conversation)
    h.dispatch("go")
    assert not saveable(h.conversation) and not saveable(h.roundtrip())
    say(h, "Ada")
    h.dispatch("yes", target=Confirm)
    assert h.top.got == "Ada" and saveable(h.conversation)  # the flow answered: nothing live is left
    h.dispatch("go", kind="instant")
    assert saveable(h.conversation)

    conv = h.roundtrip()
    conv["instances"]["x1"] = {"type": "tests.nowhere.Gone", "state": {"flow": "greenlet"},
                               "parent": None, "kind": "frame"}
    assert not saveable(conv)  # a flow type this process does not know: assume it is live


_witness: contextvars.ContextVar[Any] = contextvars.ContextVar("witness", default=None)


class _Witness:
    """An object only the dispatch's context refers to."""


def test_a_suspended_greenlet_does_not_keep_the_dispatch_context_alive() -> None:
    h = Harness(Home)
    obj = _Witness()
    ref = weakref.ref(obj)
    token = _witness.set(obj)
    try:
        h.dispatch("go")  # the flow starts inside this context and suspends at its first ask
    finally:
        _witness.reset(token)
    del obj
    gc.collect()
    assert ref() is None  # while it waits, the flow holds neither that context nor the fold in it
    say(h, "Ada")  # and it still resumes, in the context of the event that resumes it
    assert question(h) == "Welcome, Ada. Begin?"


ASKED: list[weakref.ref[Component]] = []


class TrackedPrompt(Prompt):
    """A Prompt that lets the test see whether the spec object is still alive."""

    def __init__(self, question: str) -> None:
        super().__init__(question)
        ASKED.append(weakref.ref(self))


@flow
def asks_tracked():
    name = ask(TrackedPrompt("Name?"))
    return ask(Confirm(f"Welcome, {name}. Begin?"))


def test_a_suspended_greenlet_does_not_keep_the_component_it_asked_for() -> None:
    ASKED.clear()
    h = Harness(asks_tracked)
    gc.collect()
    assert ASKED[0]() is None  # the child lives in the conversation as state; the waiting flow drops it
    h.dispatch("submit", target=TrackedPrompt, value="Ada")  # and the answer still reaches the flow
    assert question(h) == "Welcome, Ada. Begin?"
    h.dispatch("yes", target=Confirm)
    assert h.result is True


def test_release_a_whole_conversation_or_everything() -> None:
    from stube.flows import release

    before = greenlet_count()
    h = Harness(Home)
    h.dispatch("go", kind="pair")  # a flow that asked a flow: two continuations
    assert len(h.env.live) == 2 and greenlet_count() == before + 2
    release(h.env, "cv-someone-else")
    assert len(h.env.live) == 2
    release(h.env, h.conversation["id"])
    assert h.env.live == {} and greenlet_count() == before

    h = Harness(onboard("x"))
    release(h.env, None)  # shutdown
    assert h.env.live == {} and greenlet_count() == before
