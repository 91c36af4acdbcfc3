"""Testing without a browser: :class:`Harness` runs the kernel the HTTP layer runs.

::

    from stube.testing import Harness

    h = Harness(Counter(n=1), templates=["templates"])
    h.dispatch("inc")
    h.dispatch("add", amount=3)
    assert h.top.n == 5
    assert "5" in h.html()

A Harness behaves like the wire, and raises like Starlette's ``TestClient``:

- an exception a handler (or hook) raises propagates out of the call that ran
  it; ``Harness(..., raise_errors=False)`` turns it into the error banner and
  :attr:`Harness.error` instead, as over HTTP;
- payload keyword arguments are checked against the handler's annotations the
  way the wire converts form values (a value of the wrong type is a
  ``TypeError`` naming the parameter; a ``str`` is converted as the browser's
  text would be);
- an event for an instance the page does not show (removed, or under an open
  dialog) is a ``LookupError``: over HTTP it answers 204 and nothing changes.

Timers, ``io`` and pub/sub are inert: they collect in :attr:`Harness.commands`
until a test drives them with :meth:`Harness.fire`, :meth:`Harness.run_io`
or :meth:`Harness.publish`.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from . import conversation as cv
from . import kernel
from .component import Component, build, lookup
from .flows import Replay, release, replay_flow
from .fragments import Fragment
from .kernel import Command, Env, Event, Outcome
from .payload import Raw, convert_value, signature
from .render import Templates

C = TypeVar("C", bound=Component)

__all__ = ["Harness", "Replay", "replay_flow"]


class Harness:
    """A conversation with no HTTP and no store.

    ``stash`` may be a dict ``{view: {"vsn": n, "data": {...}}}`` standing in
    for the browser session's stash; writes update it in place.
    ``raise_errors`` (default ``True``): an exception caught by the kernel
    (a handler, hook or render raising) is raised again from the step that ran
    it, after the conversation has been rolled back and :attr:`error` set.
    ``debug`` (default ``True``): error banners show the exception's text and
    templates are strict (an undefined name is an error), as under
    ``Stube(debug=True)``; ``debug=False`` shows what production users see.
    """

    def __init__(self, root: Component | type[Component], *, templates: Sequence[str | Path] = (),
                 app: Any = None, principal: Any = None, history_limit: int = cv.DEFAULT_HISTORY_LIMIT,
                 stash: dict[str, dict[str, Any]] | None = None, raise_errors: bool = True,
                 debug: bool = True) -> None:
        self.stash = stash
        self.raise_errors = raise_errors
        # A test is a debugging session: banners carry the exception's text (as Stube(debug=True) does).
        # Templates are strict then too: a typo such as {{ self.itmes }} fails the test, not the user.
        self.env = Env(Templates(templates, strict=debug), app=app, history_limit=history_limit, stash=stash,
                       debug=debug)
        #: Every command the kernel emitted and nobody drove yet.
        self.commands: list[Command] = []
        #: Fragments of the most recent step.
        self.fragments: list[Fragment] = []
        #: The exception the most recent step's handler raised, if any.
        self.error: BaseException | None = None
        self._subscriptions: dict[tuple[str, str], str] = {}
        self.conversation: dict[str, Any] = {}
        self._take(kernel.boot(root, self.env, principal=principal))

    # -- driving --

    def dispatch(self, event: str, *, target: type[Component] | str | Component | None = None,
                 fields: dict[str, Any] | None = None, **payload: Any) -> list[Fragment]:
        """Send ``event`` to ``target`` as a click in the browser would; return what changed.

        ``target`` is a class (its first instance the page shows, else its
        first live one), an instance id or a live component; by default the top frame. ``fields``
        are form inputs lifted onto the instance (its ``fields``); ``payload``
        becomes the handler's keyword arguments, checked as the wire converts
        them (``TypeError`` naming the parameter for a wrong type).

        Returns the step's fragments (also in :attr:`fragments`), each a
        :class:`~stube.fragments.Fragment` with ``kind`` (``"morph"``: the
        element with id ``target`` re-rendered; ``"page"``: a new frame became
        the page, ``target`` is the conversation id; ``"error"``: an error
        banner; ``"insert"``/``"remove"``: keyed children, ``"patch"``,
        ``"script"``, ``"history"``, ``"close"``), ``target`` and ``html``.

        Raises ``LookupError`` when the target is not on the page (HTTP would
        answer 204 and change nothing), :class:`~stube.UnknownEvent` for a name
        that is not an ``@event``, and, with ``raise_errors``, what the handler raised.
        """
        iid = self._iid(target)
        conv = self.conversation
        rec = conv["instances"].get(iid)
        if rec is None or conv.get("ended") or not cv.displayed(conv, iid):
            if rec is not None:  # a misspelt event is reported as such, wherever its instance is
                kernel.resolve(lookup(rec["type"]), Event(iid, event))
            raise self._not_displayed(iid)
        fn, catch_all = kernel.resolve(lookup(rec["type"]), Event(iid, event))
        payload = _wire_payload(fn, payload, skip=2 if catch_all else 1)
        return self._take(kernel.run(self.conversation, Event(iid, event, payload, fields or {}), self.env))

    def back(self) -> list[Fragment]:
        """Rewind one step, as the page's back button does."""
        return self._take(kernel.rewind(self.conversation, self.env))

    def fire(self, command: Command | None = None) -> list[Fragment]:
        """Deliver a pending ``after`` timer now (the oldest one by default)."""
        if command is None:
            command = next((c for c in self.commands if c.kind == "after"), None)
            if command is None:
                raise LookupError("no pending timer")
        self.commands.remove(command)
        eff = command.effect
        return self._internal(command.iid, eff.event, payload=dict(eff.payload))

    def run_io(self) -> list[Fragment]:
        """Run every pending ``io`` function and deliver each result to its ``then`` method."""

        def deliver(command: Command) -> list[Fragment]:
            result = command.effect.fn()
            return self._internal(command.iid, command.effect.then, args=(result,)) if command.effect.then else []

        return self._drain("io", deliver)

    def run_dispatch_to(self) -> list[Fragment]:
        """Deliver pending ``dispatch_to`` events in order."""

        def deliver(command: Command) -> list[Fragment]:
            eff = command.effect
            return self._internal(eff.iid, eff.event, payload=dict(eff.payload))

        return self._drain("dispatch_to", deliver)

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to this conversation's subscribers of ``topic``; returns how many."""
        targets = [(iid, ev) for (t, iid), ev in self._subscriptions.items() if t == topic]
        for iid, ev in targets:
            self._internal(iid, ev, args=(message,))
        return len(targets)

    def deliver(self, iid: str, event: str, **payload: Any) -> list[Fragment]:
        """Deliver an internal event (what ``dispatch_to`` and timers do)."""
        return self._internal(iid, event, payload=payload)

    def _drain(self, kind: str, deliver: Callable[[Command], list[Fragment]]) -> list[Fragment]:
        """Deliver pending commands of one kind, oldest first, including those the deliveries add."""
        frags: list[Fragment] = []
        while True:
            command = next((c for c in self.commands if c.kind == kind), None)
            if command is None:
                return frags
            self.commands.remove(command)
            frags += deliver(command)

    def _internal(self, iid: str, event: str, *, payload: dict[str, Any] | None = None,
                  args: tuple[Any, ...] = ()) -> list[Fragment]:
        out = kernel.run(self.conversation, Event(iid, event, payload or {}, args=args, internal=True), self.env)
        return self._take(out)

    def _take(self, out: Outcome) -> list[Fragment]:
        self.conversation = out.conversation
        self.fragments = out.fragments
        self.error = out.error
        gone = [iid for iid in out.removed if iid not in self.conversation["instances"]]
        if gone:
            release(self.env, self.conversation["id"], gone)  # free flows' continuations
        for iid in out.removed:
            self._subscriptions = {k: v for k, v in self._subscriptions.items() if k[1] != iid}
            self.commands = [c for c in self.commands if c.iid != iid or c.kind == "stash"]
        for command in out.commands:
            self._command(command)
        if self.raise_errors and out.error is not None:
            raise out.error
        return out.fragments

    def _command(self, command: Command) -> None:
        """Keep what the runtime would schedule; apply subscriptions and stash writes at once."""
        if command.kind in ("after", "subscribe") and command.iid not in self.conversation["instances"]:
            return  # from an instance that left in this very step
        if command.kind == "subscribe":
            self._subscriptions[(command.effect.topic, command.iid)] = command.effect.event
        elif command.kind == "unsubscribe":
            topic = command.effect.topic
            self._subscriptions = {k: v for k, v in self._subscriptions.items()
                                   if not (k[1] == command.iid and (topic is None or k[0] == topic))}
        elif command.kind == "stash":
            if self.stash is not None:
                w = command.effect
                slot = self.stash.get(w.view)
                if slot is None or slot.get("vsn") != w.vsn:
                    self.stash[w.view] = {"vsn": w.vsn, "data": dict(w.changes)}
                else:
                    slot["data"].update(w.changes)
            else:
                self.commands.append(command)
        else:
            self.commands.append(command)

    # -- reading --

    def _iid(self, target: type[Component] | str | Component | None) -> str:
        if target is None:
            iid = cv.top(self.conversation)
            if iid is None:
                raise LookupError("the conversation has no frames (it ended)")
            return iid
        if isinstance(target, str):
            return target
        if isinstance(target, Component):
            if target.iid is None:
                raise LookupError("target is an embed spec, not a live instance")
            return target.iid
        found = list(cv.find(self.conversation, target._stube_type))
        if not found:
            raise LookupError(f"no live {target.__qualname__} in the conversation")
        # The one the page shows, if any: that is the one a user can click.
        return next((i for i in found if cv.displayed(self.conversation, i)), found[0])

    def _not_displayed(self, iid: str) -> LookupError:
        """Why HTTP would refuse an event for ``iid`` (the page does not show it)."""
        conv = self.conversation
        if conv.get("ended"):
            return LookupError(f"the conversation ended: over HTTP an event for {iid} answers 410 (stale page)")
        rec = conv["instances"].get(iid)
        if rec is None:
            why = f"there is no instance {iid} in the conversation (it was removed, or never existed)"
        else:
            top = cv.top(conv)
            over = conv["instances"][top]["type"] if top is not None else "nothing"
            why = (f"{iid} ({rec['type']}) is not displayed: it is under the open frame {over}, "
                   "or displaced from its slot")
        return LookupError(f"{why}; over HTTP this event answers 204 and nothing changes")

    def component(self, iid: str) -> Component:
        """A live object rebuilt from the stored state of ``iid``."""
        rec = self.conversation["instances"][iid]
        return build(lookup(rec["type"]), rec["state"], iid, copy=True)

    @property
    def top(self) -> Any:
        """The top frame's live component."""
        iid = cv.top(self.conversation)
        if iid is None:
            raise LookupError("the conversation has no frames (it ended)")
        return self.component(iid)

    def find(self, cls: type[C]) -> C | None:
        """The first live instance of ``cls`` (top frame first), or ``None``."""
        for iid in cv.find(self.conversation, cls._stube_type):
            return self.component(iid)  # type: ignore[return-value]
        return None

    def find_all(self, cls: type[C]) -> list[C]:
        return [self.component(i) for i in cv.find(self.conversation, cls._stube_type)]  # type: ignore[misc]

    def html(self) -> str:
        """The current full render of the conversation (its top frame)."""
        return str(kernel.render_page(self.conversation, self.env))

    @property
    def frames(self) -> list[str]:
        """Type names on the stack, bottom first."""
        return cv.frames(self.conversation)

    @property
    def ended(self) -> bool:
        return bool(self.conversation.get("ended"))

    @property
    def result(self) -> Any:
        """The value passed to ``end()`` or answered by the root."""
        return self.conversation.get("result")

    @property
    def timers(self) -> list[Command]:
        return [c for c in self.commands if c.kind == "after"]

    def roundtrip(self) -> dict[str, Any]:
        """The conversation through JSON and back (what a store would restore)."""
        return json.loads(json.dumps(self.conversation))  # type: ignore[no-any-return]


# -- payloads as the wire delivers them -------------------------------------------------

_EMPTY = inspect.Parameter.empty


def _wire_payload(fn: Callable[..., Any], payload: dict[str, Any], *, skip: int = 1) -> dict[str, Any]:
    """``payload`` as ``fn`` would receive it over the wire, or a ``TypeError`` naming the parameter.

    Text (``str``, or a list of ``str`` for a repeated key) is converted exactly
    as a form value is; other values must already be what that conversion
    produces for the annotation (``int`` for ``int``, not ``bool``; ``str``
    for an unannotated parameter), since a browser cannot send anything else.
    ``Any`` (and keys only ``**kwargs`` takes) accept any value, as given.
    """
    where = getattr(fn, "__qualname__", repr(fn))
    out = dict(payload)  # keys only **kwargs takes pass as given
    for p in signature(fn, skip).params:
        if p.name in payload:
            out[p.name] = _as_wire(payload[p.name], p.annotation, f"{where}() parameter {p.name!r}", p.name)
    return out


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and bool(value)
                                      and all(isinstance(v, str) for v in value))


def _as_wire(value: Any, annotation: Any, where: str, name: str) -> Any:
    if isinstance(value, Raw) or annotation is Any:
        return value
    if _is_text(value):
        return convert_value(value, annotation, name)  # BadPayload, as the wire's 400
    ok, converted = _fits(value, annotation)
    if ok:
        return converted
    if annotation is _EMPTY:
        expected = "str (it has no annotation, so over the wire it receives the text; annotate it to convert)"
    else:
        expected = f"{_describe(annotation)}, as the wire converts it"
    raise TypeError(f"{where} gets {expected}; the test passed {type(value).__name__} {value!r}")


def _fits(value: Any, annotation: Any) -> tuple[bool, Any]:
    """Could the wire hand ``value`` (not text) to a parameter with ``annotation``? And as what?"""
    if annotation is Any:
        return True, value
    if annotation is _EMPTY or annotation is str:
        return False, None  # the wire passes these the text
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(annotation)
        if value is None:
            return type(None) in args, None
        for arg in args:
            if arg is not type(None):
                ok, converted = _fits(value, arg)
                if ok:
                    return True, converted
        return False, None
    if origin is typing.Literal:
        return any(type(o) is type(value) and o == value for o in typing.get_args(annotation)), value
    target = origin or annotation
    if target is bool or target is int:
        return type(value) is target, value
    if target is float:
        if type(value) is int:
            return True, float(value)  # what the browser's "3" becomes
        return type(value) is float, value
    if target is list or target is dict:
        return isinstance(value, target), value
    if isinstance(target, type):
        return isinstance(value, target), value
    return True, value  # an annotation the wire does not convert (a TypeVar, NewType, ...)


def _describe(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
