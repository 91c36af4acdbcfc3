"""Testing without a browser: :class:`Harness` runs the kernel the HTTP layer runs.

::

    from stube.testing import Harness

    h = Harness(Counter(n=1), templates=["templates"])
    h.dispatch("inc")
    h.dispatch("add", amount=3)
    assert h.top.n == 5
    assert "5" in h.html()

Timers, ``io`` and pub/sub are inert: they collect in :attr:`Harness.commands`
until a test drives them with :meth:`Harness.fire`, :meth:`Harness.run_io`
or :meth:`Harness.publish`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from . import conversation as cv
from . import kernel
from .component import Component, build, lookup
from .flows import Replay, release, replay_flow
from .fragments import Fragment
from .kernel import Command, Env, Event, Outcome
from .render import Templates

C = TypeVar("C", bound=Component)

__all__ = ["Harness", "Replay", "replay_flow"]


class Harness:
    """A conversation with no HTTP and no store.

    ``stash`` may be a dict ``{view: {"vsn": n, "data": {...}}}`` standing in
    for the browser session's stash; writes update it in place.
    """

    def __init__(self, root: Component | type[Component], *, templates: Sequence[str | Path] = (),
                 app: Any = None, principal: Any = None, history_limit: int = cv.DEFAULT_HISTORY_LIMIT,
                 stash: dict[str, dict[str, Any]] | None = None) -> None:
        self.stash = stash
        self.env = Env(Templates(templates), app=app, history_limit=history_limit, stash=stash)
        #: Every command the kernel emitted and nobody drove yet.
        self.commands: list[Command] = []
        #: Fragments of the most recent step.
        self.fragments: list[Fragment] = []
        #: The exception the most recent step's handler raised, if any.
        self.error: BaseException | None = None
        self._subscriptions: dict[tuple[str, str], str] = {}
        out = kernel.boot(root, self.env, principal=principal)
        self.conversation: dict[str, Any] = out.conversation
        self._take(out)

    # -- driving --

    def dispatch(self, event: str, *, target: type[Component] | str | Component | None = None,
                 fields: dict[str, Any] | None = None, **payload: Any) -> list[Fragment]:
        """Send ``event`` to ``target`` (a class, an instance id, a live component; default: top frame)."""
        iid = self._iid(target)
        out = kernel.run(self.conversation, Event(iid, event, payload, fields or {}), self.env)
        return self._take(out)

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
        frags: list[Fragment] = []
        while True:
            command = next((c for c in self.commands if c.kind == "io"), None)
            if command is None:
                return frags
            self.commands.remove(command)
            result = command.effect.fn()
            if command.effect.then:
                frags += self._internal(command.iid, command.effect.then, args=(result,))

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to this conversation's subscribers of ``topic``; returns how many."""
        targets = [(iid, ev) for (t, iid), ev in self._subscriptions.items() if t == topic]
        for iid, ev in targets:
            self._internal(iid, ev, args=(message,))
        return len(targets)

    def deliver(self, iid: str, event: str, **payload: Any) -> list[Fragment]:
        """Deliver an internal event (what ``dispatch_to`` and timers do)."""
        return self._internal(iid, event, payload=payload)

    def _internal(self, iid: str, event: str, *, payload: dict[str, Any] | None = None,
                  args: tuple = ()) -> list[Fragment]:
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
            if command.kind in ("after", "subscribe") and command.iid not in self.conversation["instances"]:
                continue  # from an instance that left in this very step
            if command.kind == "subscribe":
                self._subscriptions[(command.effect.topic, command.iid)] = command.effect.event
            elif command.kind == "unsubscribe":
                topic = command.effect.topic
                self._subscriptions = {k: v for k, v in self._subscriptions.items()
                                       if not (k[1] == command.iid and (topic is None or k[0] == topic))}
            elif command.kind == "stash" and self.stash is not None:
                w = command.effect
                slot = self.stash.get(w.view)
                if slot is None or slot.get("vsn") != w.vsn:
                    self.stash[w.view] = {"vsn": w.vsn, "data": dict(w.changes)}
                else:
                    slot["data"].update(w.changes)
            else:
                self.commands.append(command)
        return out.fragments

    def run_dispatch_to(self) -> list[Fragment]:
        """Deliver pending ``dispatch_to`` events in order."""
        frags: list[Fragment] = []
        while True:
            command = next((c for c in self.commands if c.kind == "dispatch_to"), None)
            if command is None:
                return frags
            self.commands.remove(command)
            eff = command.effect
            frags += self._internal(eff.iid, eff.event, payload=dict(eff.payload))

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
        found = self.find(target)
        if found is None:
            raise LookupError(f"no live {target.__qualname__} in the conversation")
        return found.iid  # type: ignore[return-value]

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
        return json.loads(json.dumps(self.conversation))
