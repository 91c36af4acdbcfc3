"""Flows: straight-line code over call/answer (greenlets or generators).

::

    @stube.flow
    def onboard(team: str):
        while True:
            name = stube.ask(Prompt(f"Who is joining {team}?"))
            if name and stube.ask(Confirm(f"Welcome, {name}. Begin?")):
                return name                      # the flow answers its caller

``@stube.flow`` turns the function into a :class:`~stube.Component` class:
``onboard("core")`` is an embed spec that can be mounted, ``call``-ed, put in
a slot or asked by another flow. ``stube.ask(embed)`` suspends the flow until
the child answers and returns the answer, at any call depth (helpers may call
``ask``). A generator function works too: ``name = yield Prompt("Who?")``.
``ask(io(fn))`` / ``yield io(fn)`` runs ``fn()`` off the event loop and
returns its result; ``remember(fn)`` returns ``fn()`` and logs it.

How it works. A flow instance's *state* is plain JSON: its arguments, a
position token (``at``), what it is waiting for (``asking``) and, for durable
flows, its log. The live continuation (a greenlet or a generator) lives in
``Env.live`` under ``(conversation id, instance id)``, never in state. Every
value a flow receives (answers, ``io`` results, ``remember`` values) is
appended to a log; when the live continuation does not sit where the state
says (after ``back()``, after a failed transaction, after a restart) it is
rebuilt by re-running the function and feeding it the logged values. Non-durable
flows keep that log in memory only, as a tree keyed by position tokens so any
state in the rewind history can be rebuilt; durable flows
(``@stube.flow(durable=True)``) keep it in their state, so they survive a
restart and resume in any process.

**The determinism rule.** On replay, the code between two asks runs again:
given the same logged answers it must ask for the same components in the same
order, and must not repeat side effects. Put side effects in ``io()`` (its
result is logged, never re-run on replay) or after the last ask; read the
clock, random numbers and anything else that changes through ``remember()``.
A replay that asks for a different component than the log recorded raises
:class:`~stube.FlowDiverged`: the flow shows an error banner and offers to
start again with its log cleared. :func:`replay_flow` checks a stored log
against today's code in a test.

Errors. An exception inside a flow shows an error banner for the flow
instance (with *Start again* and *Back*) and leaves the rest of the
conversation as it was. A child's ``answer_error(...)`` and an ``io`` function
that raises surface at the ``ask`` as :class:`AskFailed`, live and on replay
alike. Greenlets cannot switch threads: resuming a flow from a thread other
than the one that created it raises :class:`~stube.FlowError`.

Persistence. A conversation holding a live, non-durable continuation cannot
be saved; :func:`live_continuations` names those instances for the store.
"""

from __future__ import annotations

import contextvars
import copy
import inspect
import itertools
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, overload

import greenlet

from . import effects as fx
from .component import IID_KEY, Component, _registry, as_embed, event
from .context import FlowHost, flow_host
from .errors import FlowDiverged, FlowError, StateError, StubeError, error_message
from .jsonstate import is_json, json_copy
from .render import has_slot

log = logging.getLogger("stube")

__all__ = [
    "AskFailed",
    "FlowComponent",
    "Replay",
    "ask",
    "flow",
    "live_continuations",
    "release",
    "remember",
    "replay_flow",
]

class AskFailed(StubeError, RuntimeError):
    """What ``ask()`` raises inside a flow when the child answered with
    ``answer_error(...)`` or the ``io`` function raised.

    The message is ``"TypeName: text"`` of the original error, which is kept in
    ``error`` (and ``__cause__``) when it happened live; a replay from the log
    raises the same class and message with ``error=None``, so ``except
    AskFailed`` behaves the same live and on replay.
    """

    def __init__(self, message: str, error: Any = None) -> None:
        super().__init__(message)
        self.error = error


# -- requests and log entries ------------------------------------------------------
#
# A continuation talks to its driver in requests: ("ask", embed), ("io", Io) or
# ("done", value). Log entries are JSON lists: ["ask", type, value],
# ["io", fn name, value], ["remember", fn name, value]; a failure delivered to
# the flow (answer_error, io raising) is ["ask"|"io", name, None, "Type: text"].

ASK, IO, DONE, REMEMBER = "ask", "io", "done", "remember"
#: The slot an embedded flow asks in (its own area of the page, as Seaside's call: does).
ASK_SLOT = "ask"

_PREFIX = secrets.token_hex(4)
_counter = itertools.count(1)


def _token() -> str:
    """A position token unique across processes (durable flows resume anywhere)."""
    return f"{_PREFIX}-{next(_counter):x}"


def _fn_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def _tag(req: tuple[str, Any]) -> tuple[str, str | None]:
    kind, payload = req
    if kind == ASK:
        return ASK, type(payload)._stube_type
    if kind == IO:
        return IO, _fn_name(payload.fn)
    return DONE, None


def _asking(req: tuple[str, Any]) -> str:
    kind, what = _tag(req)
    return what if kind == ASK else f"io:{what}"  # type: ignore[return-value]


def _describe(kind: str, what: str | None) -> str:
    if kind == ASK:
        return f"asks {what}"
    if kind == IO:
        return f"runs io({what})"
    if kind == REMEMBER:
        return f"calls remember({what})"
    return "returns"


def _failure(error: Any) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error_message(error)}"
    return error_message(error)


# -- the live side -------------------------------------------------------------------


class _FlowGreenlet(greenlet.greenlet):
    """A flow's greenlet; ``stube_live`` points back to its bookkeeping."""

    stube_live: _Live | None = None


#: The generator flow whose code is running (``remember`` and error hints read it).
_gen_live: ContextVar[_Live | None] = ContextVar("stube_gen_flow", default=None)


class _Live:
    """One flow instance's live continuation, its log and where it sits."""

    __slots__ = ("cls", "cont", "thread", "at", "log", "nodes", "pending", "replay", "cursor", "diverged",
                 "inline", "request")

    def __init__(self, cls: type[FlowComponent], at: str, nodes: dict[str, tuple[str | None, list]] | None) -> None:
        self.cls = cls
        self.cont: Any = None
        self.thread = threading.get_ident()
        #: The position token of the suspension point the continuation sits at.
        self.at = at
        #: Durable flows (and replay_flow): every entry consumed, oldest first.
        self.log: list[list[Any]] = []
        #: Non-durable flows: token -> (parent token, entries of that step). Any state in
        #: the rewind history can be rebuilt from it; it lives until release().
        self.nodes = nodes
        #: Entries recorded since the last suspension point.
        self.pending: list[list[Any]] = []
        #: While rebuilding: the entries to feed back instead of suspending.
        self.replay: Sequence[list[Any]] | None = None
        self.cursor = 0
        #: A FlowDiverged raised in flow code (kept in case the code swallows it).
        self.diverged: FlowDiverged | None = None
        #: Embedded (slot, eager, keyed) flows ask inside their own area; frames call.
        self.inline = False
        #: What the suspended continuation waits for.
        self.request: tuple[str, Any] | None = None

    def record(self, entry: list[Any]) -> None:
        """A new value reached the flow (answer, io result, remember)."""
        self.pending.append(entry)
        if self.nodes is None:
            self.log.append(entry)

    def consumed(self, entry: list[Any]) -> None:
        """A logged value was fed back during a replay."""
        if self.nodes is None:
            self.log.append(entry)

    def seal(self) -> None:
        """The flow suspends: the step's entries get one position token."""
        if self.pending:
            token = _token()
            if self.nodes is not None:
                self.nodes[token] = (self.at, self.pending)
            self.pending = []
            self.at = token

    def replaying(self) -> bool:
        return self.replay is not None and self.cursor < len(self.replay)

    def diverge(self, message: str) -> FlowDiverged:
        exc = FlowDiverged(f"{self.cls._stube_type}: {message}")
        self.diverged = exc
        return exc


def _chain(nodes: dict[str, tuple[str | None, list]], at: str) -> list[list[Any]] | None:
    """The entries leading to ``at`` (``None`` when ``at`` is unknown here)."""
    steps: list[list[list[Any]]] = []
    token: str | None = at
    while token is not None:
        node = nodes.get(token)
        if node is None:
            return None
        token, entries = node
        steps.append(entries)
    return [entry for entries in reversed(steps) for entry in entries]


def _request(value: Any) -> tuple[str, Any]:
    """Normalise what a flow asked for: a component spec (or class) or ``io(fn)``."""
    if isinstance(value, fx.Io):
        if value.then is not None:
            raise FlowError("inside a flow, ask(io(fn)) returns fn()'s result: leave out then=")
        return IO, value
    if isinstance(value, fx.Effect):
        raise FlowError(f"a flow can ask for a component spec or io(fn), not {value!r}")
    return ASK, as_embed(value)


def _body(fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[str, Any]:
    return DONE, fn(*args, **kwargs)


def _begin(live: _Live, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[str, Any]:
    """Create the continuation and run it to its first request."""
    cls = live.cls
    if cls._flow_generator:
        gen = cls._flow_fn(*args, **kwargs)
        live.cont = gen
        return _send(live, None, None)
    g = _FlowGreenlet(_body)
    g.stube_live = live
    live.cont = g
    g.parent = greenlet.getcurrent()
    g.gr_context = contextvars.copy_context()
    req = g.switch(cls._flow_fn, args, kwargs)
    if live.diverged is not None:
        raise live.diverged
    return req


def _send(live: _Live, value: Any, exc: BaseException | None) -> tuple[str, Any]:
    """Deliver one value (or raise ``exc`` at the ask) and run to the next request."""
    cont = live.cont
    if live.cls._flow_generator:
        token = _gen_live.set(live)
        try:
            try:
                out = cont.throw(exc) if exc is not None else cont.send(value)
            except StopIteration as stop:
                req: tuple[str, Any] = (DONE, stop.value)
            else:
                req = _request(out)
        finally:
            _gen_live.reset(token)
    else:
        here = greenlet.getcurrent()
        if cont.parent is not here:  # answer to whoever resumes it now
            cont.parent = here
        cont.gr_context = contextvars.copy_context()  # this dispatch's app/principal/cid
        req = cont.throw(exc) if exc is not None else cont.switch(value)
    if live.diverged is not None:
        raise live.diverged
    return req


def _private(value: Any) -> Any:
    """A copy for a non-durable log (answers need not be JSON there); the value itself if it cannot be copied."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _entry_value(entry: list[Any], durable: bool) -> tuple[Any, BaseException | None]:
    if len(entry) == 4:
        return None, AskFailed(str(entry[3]))
    value = entry[2]
    return (json_copy(value) if durable else _private(value)), None


def _check(live: _Live, req: tuple[str, Any], entry: Any) -> None:
    """Does the request the replay reached match the next log entry?"""
    step = live.cursor + 1
    if not (isinstance(entry, list) and len(entry) in (3, 4) and entry[0] in (ASK, IO, REMEMBER)
            and isinstance(entry[1], str)):
        raise live.diverge(f"log entry {step} is not a flow log entry: {entry!r}")
    kind, what = _tag(req)
    if kind != entry[0] or what != entry[1]:
        raise live.diverge(f"at step {step} the flow now {_describe(kind, what)}, "
                           f"but its log recorded that it {_describe(entry[0], entry[1])}")


def _serve_replay(live: _Live, req: tuple[str, Any]) -> tuple[str, Any]:
    """Feed logged values to the continuation until it needs something new."""
    durable = live.cls._flow_durable
    while live.replaying():
        entry = live.replay[live.cursor]  # type: ignore[index]
        _check(live, req, entry)
        live.cursor += 1
        live.consumed(entry)
        value, exc = _entry_value(entry, durable)
        req = _send(live, value, exc)
    live.replay = None
    return req


def _kill(live: _Live) -> None:
    """End a continuation now: its ``finally`` blocks run; nothing stays suspended."""
    cont, live.cont = live.cont, None
    if cont is None:
        return
    if live.cls._flow_generator:
        try:
            cont.close()
        except Exception:
            log.exception("cleanup of flow %s raised", live.cls._stube_type)
        return
    if cont.dead or not cont:
        return
    if live.thread != threading.get_ident():
        # Greenlets cannot be entered from another thread; greenlet frees it on its own thread.
        log.warning("flow %s released from another thread; its finally blocks run later",
                    live.cls._stube_type)
        return
    try:
        cont.parent = greenlet.getcurrent()
        cont.gr_context = contextvars.copy_context()
        cont.throw(greenlet.GreenletExit)
    except Exception:
        log.exception("cleanup of flow %s raised", live.cls._stube_type)
    if not cont.dead:
        log.warning("flow %s caught GreenletExit and asked again; it was dropped", live.cls._stube_type)


def _live_now() -> _Live | None:
    live = getattr(greenlet.getcurrent(), "stube_live", None)
    if live is not None:
        return live
    return _gen_live.get()


# -- public functions used inside flows ----------------------------------------------


def ask(embed: Any) -> Any:
    """Suspend the current flow until ``embed`` answers; return the answer.

    ``embed`` is a component spec (``Confirm("Sure?")``), a component class, or
    ``io(fn)`` (then ``fn()`` runs off the event loop and its result is
    returned). Works at any call depth inside a ``@stube.flow`` function. A
    child's ``answer_error`` and a raising ``io`` function raise :class:`AskFailed`.
    """
    g = greenlet.getcurrent()
    live = getattr(g, "stube_live", None)
    if live is None:
        if _gen_live.get() is not None:
            raise FlowError("ask() cannot suspend a generator flow from inside a call; "
                            "write `value = yield embed` in the flow function itself")
        raise FlowError("ask() works only inside a @stube.flow function; a component returns "
                        "call(embed, resume='on_...') instead")
    if isinstance(embed, Component) and IID_KEY not in embed.__dict__:
        return g.parent.switch((ASK, embed))  # the common case, without _request's checks
    return g.parent.switch(_request(embed))


def remember(fn: Callable[[], Any]) -> Any:
    """Return ``fn()``, logged, so a replay gets the same value without calling ``fn`` again.

    Use it for anything non-deterministic that the flow's next asks depend
    on: the clock, random numbers, a database read. In a durable flow the
    value must be JSON.
    """
    live = _live_now()
    if live is None:
        raise FlowError("remember() works only inside a @stube.flow function")
    name = _fn_name(fn)
    if live.replaying():
        entry = live.replay[live.cursor]  # type: ignore[index]
        if not (isinstance(entry, list) and len(entry) == 3 and entry[0] == REMEMBER and entry[1] == name):
            what = _describe(entry[0], entry[1]) if isinstance(entry, list) and len(entry) >= 2 else repr(entry)
            raise live.diverge(f"at step {live.cursor + 1} the flow now calls remember({name}), "
                               f"but its log recorded that it {what}")
        live.cursor += 1
        live.consumed(entry)
        return json_copy(entry[2]) if live.cls._flow_durable else _private(entry[2])
    value = fn()
    stored = json_copy(value, f"remember({name}) in durable flow {live.cls._stube_type}") \
        if live.cls._flow_durable else _private(value)
    live.record([REMEMBER, name, stored])
    return value


# -- the component ----------------------------------------------------------------

_VIEW = """\
{%- if self.error -%}
<div {{ root(class="stube-error stube-flow-error") }} role="alert" data-stube-error="true">\
<strong class="stube-error-title">Component error</strong> \
<span class="stube-error-message">{{ self.error }}</span> \
<form method="post" class="stube-flow-actions"><button class="stube-button" {{ on("restart") }}>Start again</button> \
{{ back_button("Back") }}</form></div>
{%- elif inline -%}
<div {{ root(class="stube-flow") }}>{{ slot("ask") }}</div>
{%- elif busy -%}
<div {{ root(class="stube-flow stube-flow-busy") }} aria-busy="true">Working…</div>
{%- else -%}
<div {{ root(class="stube-flow") }} hidden></div>
{%- endif -%}"""


class FlowComponent(Component):
    """Base class of the components ``@stube.flow`` makes; see the module docstring."""

    _flow_fn: ClassVar[Callable[..., Any]]
    _flow_durable: ClassVar[bool] = False
    _flow_generator: ClassVar[bool] = False
    _flow_signature: ClassVar[inspect.Signature | None] = None

    # Defaults read through the class, so empty values cost nothing in the stored state.
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = MappingProxyType({})
    #: The error banner's message after a failure (the flow then waits for restart).
    error: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        sig = cls._flow_signature
        if sig is not None:
            try:
                sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"flow {cls._stube_type}: {exc}") from None
        self.flow = "durable" if cls._flow_durable else ("generator" if cls._flow_generator else "greenlet")
        if args:
            self.args = list(args)
        if kwargs:
            self.kwargs = dict(kwargs)
        #: Position token of the last value consumed (None before start).
        self.at: str | None = None
        #: What the flow waits for: a component type name or "io:<fn>".
        self.asking: str | None = None
        if cls._flow_durable:
            self.log: list[list[Any]] = []

    def start(self) -> Any:
        return _start(self, fresh=True)

    def stop(self) -> None:
        # Finish the continuation now (its finally blocks run); the log stays until
        # release() confirms the removal, in case this transaction is rolled back.
        host = flow_host()
        if host is not None:
            live = host.live.get((host.cid, self.iid))
            if isinstance(live, _Live):
                _kill(live)

    def wakeup(self) -> Any:
        # Rewound to, or restored while, waiting for io(): that io's result may never come
        # (it was delivered to a later step, or died with the old process). Run it again.
        if self.error or not (self.asking or "").startswith("io:"):
            return None
        env, key = _key(self)
        live = env.live.get(key)
        if isinstance(live, _Live) and live.cont is not None and live.at == self.at:
            return None  # the io it asked for is still on its way
        live = _rebuild(self, live if isinstance(live, _Live) else None, env, key)
        if live is None or live.request is None:
            return None
        return fx.Io(_io_thunk(live.request[1].fn, self.at), "_stube_io")  # type: ignore[arg-type]

    def render(self) -> str:
        busy = bool(self.asking and self.asking.startswith("io:"))
        return self.render_string(_VIEW, inline=has_slot(ASK_SLOT), busy=busy)

    @event
    def restart(self) -> Any:
        """*Start again* on the error banner: run the flow from the beginning, log cleared."""
        if not self.error:
            return None
        return _start(self, fresh=False)

    def _stube_resume(self, value: Any) -> Any:
        if self.error or self.asking is None or self.asking.startswith("io:"):
            log.warning("flow %s (%s) got an answer it was not waiting for; ignored", type(self)._stube_type, self.iid)
            return None
        return _resume(self, value, failed=False)

    def _stube_failed(self, error: Any) -> Any:
        if self.error or self.asking is None or self.asking.startswith("io:"):
            return None
        return _resume(self, error, failed=True)

    def _stube_io(self, outcome: tuple[str | None, bool, Any]) -> Any:
        at, ok, value = outcome
        if self.error or at != self.at or not (self.asking or "").startswith("io:"):
            return None  # a stale result: the flow moved on (back, restart) while fn() ran
        return _resume(self, value, failed=not ok)


def _key(self: FlowComponent) -> tuple[FlowHost, tuple[str, str]]:
    host = flow_host()
    if host is None:
        raise FlowError("flow components run inside the kernel (dispatch, boot or a Harness)")
    return host, (host.cid, self.iid)  # type: ignore[return-value]


def _inline(iid: str | None) -> bool:
    """Is this instance embedded in another (so it asks in its own slot) rather than a frame?"""
    host = flow_host()
    rec = host.record(iid) if host is not None and iid else None
    return rec is not None and rec["kind"] != "frame"


def _start(self: FlowComponent, *, fresh: bool) -> Any:
    cls = type(self)
    env, key = _key(self)
    old = env.live.pop(key, None)
    nodes: dict[str, tuple[str | None, list]] | None = None
    if isinstance(old, _Live):
        _kill(old)
        if not fresh:
            nodes = old.nodes  # restart keeps the tree: back() may still land on older steps
    root = _token()
    if not cls._flow_durable:
        if nodes is None:
            nodes = {}
        nodes[root] = (None, [])
    live = _Live(cls, root, nodes)
    live.inline = _inline(self.iid)
    env.live[key] = live
    self.at, self.asking = root, None
    self.__dict__.pop("error", None)
    if cls._flow_durable:
        self.log = []
    try:
        req = _begin(live, self.args, self.kwargs)
    except Exception as exc:
        return _fail(self, live, exc)
    return _suspend(self, live, req)


def _resume(self: FlowComponent, value: Any, *, failed: bool) -> Any:
    """Deliver an answer (or, ``failed``, an error) to the flow and run it to its next request."""
    env, key = _key(self)
    live = env.live.get(key)
    if isinstance(live, _Live) and live.cont is not None and not type(self)._flow_generator \
            and live.thread != threading.get_ident():
        raise FlowError(
            f"flow {type(self)._stube_type} ({self.iid}) was started on another thread; greenlets "
            "cannot switch threads, so dispatch every event of a conversation on one thread "
            "(blocking work goes through io())")
    if not isinstance(live, _Live) or live.cont is None or live.at != self.at:
        live = _rebuild(self, live if isinstance(live, _Live) else None, env, key)
        if live is None:
            return None
    cls = type(self)
    kind, what = (IO, self.asking[3:]) if self.asking.startswith("io:") else (ASK, self.asking)  # type: ignore[union-attr]
    exc: BaseException | None = None
    if failed:
        message = _failure(value)
        entry: list[Any] = [kind, what, None, message]
        exc = AskFailed(message, value)
        if isinstance(value, BaseException):
            exc.__cause__ = value
        value = None
    elif cls._flow_durable:
        try:
            entry = [kind, what, json_copy(value, f"the answer of {what}")]
        except StateError as bad:
            return _fail(self, live, FlowError(
                f"durable flow {cls._stube_type} logs every answer as JSON: {bad}"))
    else:
        entry = [kind, what, _private(value)]  # flow code may mutate what it got; the log must not change
    live.record(entry)
    try:
        req = _send(live, value, exc)
    except Exception as failure:
        return _fail(self, live, failure)
    return _suspend(self, live, req)


def _rebuild(self: FlowComponent, old: _Live | None, env: FlowHost, key: tuple[str, str]) -> _Live | None:
    """Re-run the flow against its log up to ``self.at``; ``None`` when it could not be rebuilt."""
    cls = type(self)
    nodes = old.nodes if old is not None else None
    if old is not None:
        _kill(old)
    if cls._flow_durable:
        source: list[list[Any]] | None = list(self.log)
    else:
        source = _chain(nodes, self.at) if nodes is not None and self.at else None
    if source is None:
        self.error = ("This flow's progress was lost (the server restarted, or the page went back "
                      "to a flow that had already finished). Start it again.")
        self.asking = None
        log.warning("flow %s (%s) cannot be rebuilt: no live continuation and no log", cls._stube_type, self.iid)
        return None
    live = _Live(cls, self.at or _token(), nodes)
    live.inline = _inline(self.iid)
    env.live[key] = live
    live.replay, live.cursor = source, 0
    try:
        req = _serve_replay(live, _begin(live, self.args, self.kwargs))
        if req[0] == DONE or _asking(req) != self.asking:
            kind, what = _tag(req)
            expected = self.asking or ""
            recorded = f"runs io({expected[3:]})" if expected.startswith("io:") else f"asks {expected}"
            raise live.diverge(f"at step {len(source) + 1} the flow now {_describe(kind, what)}, "
                               f"but it was waiting for an answer because it {recorded}")
    except FlowDiverged as exc:
        _kill(live)
        log.error("stube component error cid=%s iid=%s phase=flow-replay: %s", key[0], self.iid, exc)
        self.error = f"{exc}. Its saved progress no longer fits the application and was discarded."
        self.asking = None
        if cls._flow_durable:
            self.log = []
        return None
    except Exception as exc:
        _fail(self, live, exc)
        return None
    live.request = req
    return live


def _suspend(self: FlowComponent, live: _Live, req: tuple[str, Any]) -> Any:
    """Turn the continuation's request into the effect the kernel folds."""
    kind, payload = req
    cls = type(self)
    live.request = req
    live.seal()
    self.at = live.at
    if cls._flow_durable:
        self.log = live.log
    if kind == DONE:
        live.cont = None
        self.asking = None
        host = flow_host()
        rec = host.record(self.iid) if host is not None and self.iid else None
        if rec is not None and rec["kind"] in ("eager", "keyed"):
            # A children() or keyed flow has no caller to answer: its result stays in its state,
            # where the parent can read it (the kernel refuses answers from such children).
            self.result = json_copy(payload) if is_json(payload) else repr(payload)
            return None
        return fx.Answer(payload)
    if kind == IO:
        self.asking = "io:" + _fn_name(payload.fn)
        return fx.Io(_io_thunk(payload.fn, live.at), "_stube_io")
    self.asking = type(payload)._stube_type
    if live.inline:
        # Embedded flows ask inside their own area, as Seaside's call: from an embedded component does.
        return fx.CallInSlot(ASK_SLOT, payload, "_stube_resume", "_stube_failed")
    return fx.Call(payload, "_stube_resume", "_stube_failed")


def _fail(self: FlowComponent, live: _Live, exc: BaseException) -> None:
    """An exception in flow code: an error banner for this instance; the rest stays as it was."""
    host = flow_host()
    cid = host.cid if host is not None else None
    log.error("stube component error cid=%s iid=%s phase=flow flow=%s", cid, self.iid,
              type(self)._stube_type, exc_info=exc)
    _kill(live)
    self.error = error_message(exc)
    self.asking = None
    return None


def _io_thunk(fn: Callable[[], Any], at: str) -> Callable[[], tuple[str, bool, Any]]:
    """Wrap ``fn`` so its result (or exception) reaches the flow together with the position it was asked at."""

    def run() -> tuple[str, bool, Any]:
        try:
            return at, True, fn()
        except Exception as exc:
            return at, False, exc

    run.__name__ = getattr(fn, "__name__", "io")
    run.__qualname__ = _fn_name(fn)
    return run


# -- the decorator ------------------------------------------------------------------


@overload
def flow(fn: Callable[..., Any], /) -> type[FlowComponent]: ...


@overload
def flow(*, name: str | None = None, durable: bool = False) -> Callable[[Callable[..., Any]], type[FlowComponent]]: ...


def flow(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         durable: bool = False) -> Any:
    """Turn a function (or generator function) into a flow component class.

    ::

        @stube.flow
        def guess(): ...

        @stube.flow(name="shop/checkout", durable=True)
        def checkout(cart_id: int): ...

    The type name is ``module.qualname`` unless ``name=`` is given. Arguments
    must be JSON (they are the flow's state). ``durable=True`` logs every
    answer in the state so the flow survives restarts (answers must be JSON).
    """

    def make(fn: Callable[..., Any]) -> type[FlowComponent]:
        if isinstance(fn, type) or not callable(fn):
            raise TypeError(f"@flow decorates a function, got {fn!r}")
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(f"@flow cannot run async def {fn.__qualname__}: write a plain function "
                            "and do blocking work with ask(io(fn))")
        try:
            sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        ns: dict[str, Any] = {
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,
            "__doc__": fn.__doc__,
            "__wrapped__": fn,
            "_flow_fn": staticmethod(fn),
            "_flow_durable": bool(durable),
            "_flow_generator": inspect.isgeneratorfunction(fn),
            "_flow_signature": sig,
        }
        if name is not None:
            if not isinstance(name, str) or not name:
                raise TypeError("@flow(name=...) needs a non-empty string")
            ns["name"] = name
        return type(fn.__name__, (FlowComponent,), ns)

    if fn is not None:
        return make(fn)
    return make


# -- host hooks -----------------------------------------------------------------------


class _HoldsLive(Protocol):
    """The kernel's ``Env``, as far as releasing continuations goes."""

    live: dict[Any, Any]


def release(env: _HoldsLive, cid: str | None, iids: Iterable[str] | None = None) -> None:
    """Free flow continuations held in ``env.live``.

    ``release(env, cid, out.removed)`` after every committed fold: instances
    that left the conversation (``stop`` already ended the continuation of a
    flow removed by answer/replace/end; this also covers instances that vanish
    without ``stop``, e.g. ``back()`` rewinding past them, and drops the
    in-memory log). ``release(env, cid)`` frees a whole conversation the host
    forgets; ``release(env, None)`` frees everything (shutdown).
    """
    live = env.live
    if not live:
        return
    if iids is not None:
        keys: Iterable[Any] = [(cid, iid) for iid in iids]
    elif cid is not None:
        keys = [k for k in live if isinstance(k, tuple) and len(k) == 2 and k[0] == cid]
    else:
        keys = [k for k, v in live.items() if isinstance(v, _Live)]
    for key in keys:
        entry = live.pop(key, None)
        if isinstance(entry, _Live):
            _kill(entry)


def live_continuations(conv: dict[str, Any]) -> list[tuple[str, str]]:
    """``(iid, flow type name)`` for every instance holding a live, unserialisable continuation.

    Non-durable flows that are running are listed; durable flows (their log is
    in their state) and flows showing an error (they hold no continuation) are not.
    """
    out: list[tuple[str, str]] = []
    for iid, rec in conv["instances"].items():
        state = rec.get("state")
        if type(state) is not dict or state.get("flow") not in ("greenlet", "generator") or state.get("error"):
            continue
        cls = _registry.get(rec["type"])
        if cls is not None and not (issubclass(cls, FlowComponent) and not cls._flow_durable):
            continue
        out.append((iid, rec["type"]))
    return out


# -- testing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replay:
    """What :func:`replay_flow` found: the flow finished with ``result``, or waits for ``next``."""

    finished: bool
    result: Any
    #: The component spec (or ``io`` effect) the flow asks for after the log.
    next: Any
    #: Log entries consumed.
    steps: int


def replay_flow(flow: type[FlowComponent], log: Sequence[list[Any]], *args: Any, **kwargs: Any) -> Replay:
    """Replay a stored log against today's flow code; :class:`FlowDiverged` if it no longer fits.

    ::

        stored = h.conversation["instances"][iid]["state"]
        replay_flow(checkout, stored["log"], *stored.get("args", []), **stored.get("kwargs", {}))

    ``io`` functions are never called for logged steps; ``remember`` returns
    the logged values. Keep a few real logs in your tests so a code change
    that would strand users mid-flow fails a test first.
    """
    if not (isinstance(flow, type) and issubclass(flow, FlowComponent) and flow is not FlowComponent):
        raise TypeError(f"replay_flow() needs a @flow, got {flow!r}")
    if flow._flow_signature is not None:
        flow._flow_signature.bind(*args, **kwargs)
    entries = [list(e) if isinstance(e, tuple) else e for e in log]
    live = _Live(flow, _token(), None)
    live.replay, live.cursor = entries, 0
    try:
        req = _serve_replay(live, _begin(live, args, kwargs))
        kind, payload = req
        if kind == DONE:
            return Replay(True, payload, None, live.cursor)
        return Replay(False, None, payload, live.cursor)
    finally:
        _kill(live)
