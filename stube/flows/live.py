"""The live side of a flow: its continuation, its log, and the code that drives both.

A continuation (a greenlet, or a generator) talks to its driver in
*requests*: ``("ask", embed)``, ``("io", Io)`` or ``("done", value)``. Every
value it receives is a log *entry*, a JSON list: ``["ask", type, value]``,
``["io", fn name, value]``, ``["remember", fn name, value]``; a failure
delivered to the flow (``answer_error``, ``io`` raising) is
``["ask"|"io", name, None, "Type: text"]``. Rebuilding a continuation means
re-running the function and feeding it logged entries (:meth:`_Live.replay_to`).

This module knows nothing of components or of the fold running the flow:
:mod:`stube.flows.component` turns requests into effects.
"""

from __future__ import annotations

import contextvars
import copy
import itertools
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, Protocol

import greenlet  # type: ignore[import-untyped]  # no stubs shipped (types-greenlet)

from .. import effects as fx
from ..component import IID_KEY, Component, as_embed
from ..context import GEN_FLOW
from ..errors import FlowDiverged, FlowError, StubeError, error_message
from ..jsonstate import json_copy

log = logging.getLogger("stube")

ASK, IO, DONE, REMEMBER = "ask", "io", "done", "remember"
#: The slot an embedded flow asks in (its own area of the page, as Seaside's call: does).
ASK_SLOT = "ask"

Request = tuple[str, Any]
Entry = list[Any]
#: Non-durable flows' log: position token -> ``(parent token, *entries of that step)``, each
#: entry a tuple, or, for the usual step of one entry, ``(parent token, *entry)`` flat
#: (a step then costs one tuple; a suspended flow keeps every step of its rewind history).
Nodes = dict[str, tuple[Any, ...]]


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


class FlowType(Protocol):
    """What the live side reads from a flow class (``FlowComponent`` subclasses satisfy it)."""

    @property
    def _stube_type(self) -> str: ...

    @property
    def _flow_durable(self) -> bool: ...

    @property
    def _flow_generator(self) -> bool: ...

    @property
    def _flow_fn(self) -> Callable[..., Any]: ...


# -- naming -------------------------------------------------------------------------

_PREFIX = secrets.token_hex(4)
_counter = itertools.count(1)


def new_token() -> str:
    """A position token unique across processes (durable flows resume anywhere)."""
    return f"{_PREFIX}-{next(_counter):x}"


def fn_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


def tag(req: Request) -> tuple[str, str | None]:
    """``(kind, what)`` of a request, as a log entry names it."""
    kind, payload = req
    if kind == ASK:
        return ASK, type(payload)._stube_type
    if kind == IO:
        return IO, fn_name(payload.fn)
    return DONE, None


def asking_of(req: Request) -> str:
    """The ``asking`` state for a request: a component type name or ``io:<fn>``."""
    kind, what = tag(req)
    return f"io:{what}" if kind == IO else str(what)


def describe(kind: str, what: str | None) -> str:
    if kind == ASK:
        return f"asks {what}"
    if kind == IO:
        return f"runs io({what})"
    if kind == REMEMBER:
        return f"calls remember({what})"
    return "returns"


def failure(error: Any) -> str:
    """The text a failure entry logs: ``"Type: message"`` for an exception."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error_message(error)}"
    return error_message(error)


def private(value: Any) -> Any:
    """A copy for a non-durable log (answers need not be JSON there); the value itself if it cannot be copied."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


#: The step a flow starts at: no parent, nothing logged (one tuple shared by every flow).
_START: tuple[Any, ...] = (None,)


def node(parent: str | None, entries: Sequence[Entry]) -> tuple[Any, ...]:
    """One step of a non-durable log, as :data:`Nodes` stores it."""
    if not entries and parent is None:
        return _START
    if len(entries) == 1:
        return (parent, *entries[0])
    return (parent, *map(tuple, entries))


def chain(nodes: Nodes, at: str) -> list[Entry] | None:
    """The entries leading to ``at`` (``None`` when ``at`` is unknown here), as fresh lists."""
    steps: list[list[Entry]] = []
    token: str | None = at
    while token is not None:
        step = nodes.get(token)
        if step is None:
            return None
        token, rest = step[0], step[1:]
        # One entry is stored flat (its kind, a str, comes first); several as tuples.
        steps.append([list(rest)] if rest and type(rest[0]) is str else [list(entry) for entry in rest])
    return [entry for entries in reversed(steps) for entry in entries]


def as_request(value: Any) -> Request:
    """Normalise what a flow asked for: a component spec (or class) or ``io(fn)``."""
    if isinstance(value, fx.Io):
        if value.then is not None:
            raise FlowError("inside a flow, ask(io(fn)) returns fn()'s result: leave out then=")
        return IO, value
    if isinstance(value, fx.Effect):
        raise FlowError(f"a flow can ask for a component spec or io(fn), not {value!r}")
    return ASK, as_embed(value)


# -- the continuation -------------------------------------------------------------------


class _FlowGreenlet(greenlet.greenlet):  # type: ignore[misc]
    """A flow's greenlet; ``stube_live`` points back to its bookkeeping (a slot: no ``__dict__`` per flow)."""

    __slots__ = ("stube_live",)
    stube_live: _Live


#: This thread's ident, one int object per thread instead of one per flow.
_thread = threading.local()


def thread_ident() -> int:
    try:
        ident: int = _thread.ident
    except AttributeError:
        ident = _thread.ident = threading.get_ident()
    return ident


#: The generator flow whose code is running (``remember`` and error hints read it); in ``stube.context``.
_gen_live: ContextVar[_Live | None] = GEN_FLOW


class _Live:
    """One flow instance's live continuation, its log and where it sits."""

    __slots__ = ("cls", "cont", "thread", "at", "log", "nodes", "pending", "replay", "cursor", "diverged",
                 "inline", "io", "outbox")

    def __init__(self, cls: FlowType, at: str, nodes: Nodes | None) -> None:
        self.cls = cls
        self.cont: Any = None
        self.thread = thread_ident()
        #: The position token of the suspension point the continuation sits at.
        self.at = at
        #: Durable flows (and replay_flow): every entry consumed, oldest first (None with ``nodes``).
        self.log: list[Entry] | None = [] if nodes is None else None
        #: Non-durable flows: the step tree. Any state in the rewind history can be
        #: rebuilt from it; it lives until release().
        self.nodes = nodes
        #: Entries recorded since the last suspension point (None: none yet).
        self.pending: list[Entry] | None = None
        #: While rebuilding: the entries to feed back instead of suspending.
        self.replay: Sequence[Entry] | None = None
        self.cursor = 0
        #: A FlowDiverged raised in flow code (kept in case the code swallows it).
        self.diverged: FlowDiverged | None = None
        #: Embedded (slot, eager, keyed) flows ask inside their own area; frames call.
        self.inline = False
        #: The ``io()`` the suspended continuation waits for (None when it waits for an answer:
        #: the component it asked for lives in the conversation, so the flow need not keep it).
        self.io: fx.Io | None = None
        #: The request ``ask()`` hands over, set just before it switches out: passed this way,
        #: no frame of the suspended greenlet keeps the embed (or a tuple) alive while it waits.
        self.outbox: Request | None = None

    # -- the log --

    def record(self, entry: Entry) -> None:
        """A new value reached the flow (answer, io result, remember)."""
        if self.pending is None:
            self.pending = [entry]
        else:
            self.pending.append(entry)
        if self.log is not None:
            self.log.append(entry)

    def consumed(self, entry: Entry) -> None:
        """A logged value was fed back during a replay."""
        if self.log is not None:
            self.log.append(entry)

    def seal(self) -> None:
        """The flow suspends: the step's entries get one position token."""
        if self.pending:
            token = new_token()
            if self.nodes is not None:
                self.nodes[token] = node(self.at, self.pending)
            self.pending = None
            self.at = token

    def diverge(self, message: str) -> FlowDiverged:
        exc = FlowDiverged(f"{self.cls._stube_type}: {message}")
        self.diverged = exc
        return exc

    def logged(self, value: Any) -> Any:
        """A logged value as the flow receives it: a fresh copy, so flow code cannot change the log."""
        return json_copy(value) if self.cls._flow_durable else private(value)

    # -- driving --

    def begin(self, args: Sequence[Any], kwargs: dict[str, Any] | Any) -> Request:
        """Create the continuation and run it to its first request."""
        cls = self.cls
        if cls._flow_generator:
            self.cont = cls._flow_fn(*args, **kwargs)
            return self.send(None, None)
        g = _FlowGreenlet(cls._flow_fn)
        g.stube_live = self
        self.cont = g
        g.parent = greenlet.getcurrent()
        g.gr_context = contextvars.copy_context()
        # greenlet keeps the arguments of the first switch for the greenlet's lifetime: no
        # empty kwargs dict per flow.
        out = g.switch(*args, **kwargs) if kwargs else g.switch(*args)
        return self._after_switch(g, out)

    def send(self, value: Any, exc: BaseException | None) -> Request:
        """Deliver one value (or raise ``exc`` at the ask) and run to the next request."""
        cont = self.cont
        if self.cls._flow_generator:
            token = _gen_live.set(self)
            try:
                try:
                    out = cont.throw(exc) if exc is not None else cont.send(value)
                except StopIteration as stop:
                    req: Request = (DONE, stop.value)
                else:
                    req = as_request(out)
            finally:
                _gen_live.reset(token)
            if self.diverged is not None:
                raise self.diverged
            return req
        here = greenlet.getcurrent()
        if cont.parent is not here:  # answer to whoever resumes it now
            cont.parent = here
        cont.gr_context = contextvars.copy_context()  # this dispatch's app/principal/cid
        out = cont.throw(exc) if exc is not None else cont.switch(value)
        return self._after_switch(cont, out)

    def _after_switch(self, g: Any, out: Any) -> Request:
        # A dead greenlet returned from the flow function; a live one switched out with a request.
        # Drop the dispatch's context while suspended: it holds that fold (its working copy
        # and render state) alive for as long as the flow waits. The next send() sets a fresh one.
        g.gr_context = None
        req, self.outbox = self.outbox, None
        if self.diverged is not None:
            raise self.diverged
        if g.dead:
            return DONE, out
        return out if req is None else req

    def check(self, req: Request, entry: Any) -> None:
        """Does the request the replay reached match the next log entry?"""
        step = self.cursor + 1
        if not (isinstance(entry, list) and len(entry) in (3, 4) and entry[0] in (ASK, IO, REMEMBER)
                and isinstance(entry[1], str)):
            raise self.diverge(f"log entry {step} is not a flow log entry: {entry!r}")
        kind, what = tag(req)
        if kind != entry[0] or what != entry[1]:
            raise self.diverge(f"at step {step} the flow now {describe(kind, what)}, "
                               f"but its log recorded that it {describe(entry[0], entry[1])}")

    def replay_to(self, req: Request) -> Request:
        """Feed logged values to the continuation until it needs something new."""
        while self.replay is not None and self.cursor < len(self.replay):
            entry = self.replay[self.cursor]
            self.check(req, entry)
            self.cursor += 1
            self.consumed(entry)
            if len(entry) == 4:
                req = self.send(None, AskFailed(str(entry[3])))
            else:
                req = self.send(self.logged(entry[2]), None)
        self.replay = None
        return req

    def kill(self) -> None:
        """End the continuation now: its ``finally`` blocks run; nothing stays suspended."""
        cont, self.cont = self.cont, None
        if cont is None:
            return
        name = self.cls._stube_type
        if self.cls._flow_generator:
            try:
                cont.close()
            except Exception:
                log.exception("cleanup of flow %s raised", name)
            return
        if cont.dead or not cont:
            return
        if self.thread != threading.get_ident():
            # Greenlets cannot be entered from another thread; greenlet frees it on its own thread.
            log.warning("flow %s released from another thread; its finally blocks run later", name)
            return
        try:
            cont.parent = greenlet.getcurrent()
            cont.gr_context = contextvars.copy_context()
            cont.throw(greenlet.GreenletExit)
        except Exception:
            log.exception("cleanup of flow %s raised", name)
        self.outbox = None  # what a flow that caught GreenletExit asked for next: never shown
        if not cont.dead:
            log.warning("flow %s caught GreenletExit and asked again; it was dropped", name)


def _live_now() -> _Live | None:
    live = getattr(greenlet.getcurrent(), "stube_live", None)
    if live is not None:
        return live  # type: ignore[no-any-return]
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
        live.outbox = (ASK, embed)  # the common case, without as_request's checks
    else:
        live.outbox = as_request(embed)
    # Handed over through live.outbox, not as the switch's argument, and dropped here: while
    # the flow waits, this frame (kept with the greenlet) holds neither the embed nor the request.
    del embed, live
    return _wait(g.parent)


def _wait(driver: Any) -> Any:
    """Switch to the driver from a frame with one local and a short stack.

    greenlet keeps a frame object for the frame that switched out for as long as
    the flow waits; its size follows that frame's locals and stack depth.
    """
    return driver.switch()


def remember(fn: Callable[[], Any]) -> Any:
    """Return ``fn()``, logged, so a replay gets the same value without calling ``fn`` again.

    Use it for anything non-deterministic that the flow's next asks depend
    on: the clock, random numbers, a database read. In a durable flow the
    value must be JSON.
    """
    live = _live_now()
    if live is None:
        raise FlowError("remember() works only inside a @stube.flow function")
    name = fn_name(fn)
    if live.replay is not None and live.cursor < len(live.replay):
        entry = live.replay[live.cursor]
        if not (isinstance(entry, list) and len(entry) == 3 and entry[0] == REMEMBER and entry[1] == name):
            what = describe(entry[0], entry[1]) if isinstance(entry, list) and len(entry) >= 2 else repr(entry)
            raise live.diverge(f"at step {live.cursor + 1} the flow now calls remember({name}), "
                               f"but its log recorded that it {what}")
        live.cursor += 1
        live.consumed(entry)
        return live.logged(entry[2])
    value = fn()
    stored = json_copy(value, f"remember({name}) in durable flow {live.cls._stube_type}") \
        if live.cls._flow_durable else private(value)
    live.record([REMEMBER, name, stored])
    return value
