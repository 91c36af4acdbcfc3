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
be saved: hosts ask :func:`saveable`, and :func:`live_continuations` names
those instances for their warning.

Modules: :mod:`~stube.flows.live` (continuations, logs, ``ask``,
``remember``), :mod:`~stube.flows.component` (``FlowComponent``, its driver,
``@flow``), :mod:`~stube.flows.host` (``release``, ``saveable``,
``live_continuations``), :mod:`~stube.flows.replay` (``replay_flow``).
"""

from __future__ import annotations

from .component import FlowComponent, flow
from .host import live_continuations, release, saveable
from .live import ASK, ASK_SLOT, DONE, IO, REMEMBER, AskFailed, ask, remember
from .replay import Replay, replay_flow

__all__ = [
    "ASK",
    "ASK_SLOT",
    "DONE",
    "IO",
    "REMEMBER",
    "AskFailed",
    "FlowComponent",
    "Replay",
    "ask",
    "flow",
    "live_continuations",
    "release",
    "remember",
    "replay_flow",
    "saveable",
]
