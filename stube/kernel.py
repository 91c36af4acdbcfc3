"""The conversation kernel: fold one event into the next conversation value.

``run(conv, event, env)`` rebuilds the target component from its state, runs
the handler, folds the effects it returns (``folds.FOLD``) into a new conversation
value, and renders what changed into fragments. It touches no network and no
clock, and keeps nothing between calls; asynchronous effects come back as
*commands* for the runtime (or a Harness). A handler that raises leaves the
conversation exactly as it was and yields an error banner for that instance.
The working copy is ``stube.txn``; hooks are ``lifecycle``; output is ``paint``;
what each effect does is ``folds``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import conversation as cv
from . import lifecycle, paint
from .component import Component, _registry, as_embed, lookup, spec_from
from .context import AMBIENT, Ambient, ambient
from .folds import FOLD as _FOLD
from .fragments import Fragment
from .jsonstate import is_json
from .lifecycle import Handler, as_effects
from .paint import BANNER_EVENTS, DISMISS, RESTART, banner_html, render_page, url_of
from .payload import FILES, bind, signature
from .txn import Command, Env, StashWrite, Txn

__all__ = ["BANNER_EVENTS", "DISMISS", "RESTART", "Command", "Env", "Event", "Handler", "Outcome",
           "StashWrite", "Txn", "admit", "as_effects", "banner_html", "boot", "dispatch", "failed", "finish",
           "render_page", "resolve", "rewind", "run", "stop_all", "travel", "url_of", "wake"]

log = logging.getLogger("stube")


# -- inputs and outputs ---------------------------------------------------------


@dataclass(slots=True)
class Event:
    """One event for one instance.

    ``payload`` becomes keyword arguments (converted from strings when
    ``convert``), ``fields`` are lifted onto the instance first, ``args`` are
    positional (an ``io`` result, a published message). ``internal`` events
    (timers, pub/sub, io, dispatch_to) may reach any public method; browser
    events only reach ``@event`` methods.
    """

    iid: str
    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    internal: bool = False
    convert: bool = False


@dataclass(slots=True)
class Outcome:
    """The result of one fold."""

    conversation: dict[str, Any]
    fragments: list[Fragment] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    #: Instance ids that left the conversation (timers and subscriptions of theirs are void).
    removed: list[str] = field(default_factory=list)
    #: The exception a failed handler raised (the conversation is unchanged).
    error: BaseException | None = None
    #: The conversation's version before the fold (pages apply folds in order).
    since: int | None = None

    @property
    def changed(self) -> bool:
        """The fold succeeded (its handler did not raise)."""
        return self.error is None


# -- resolving events ------------------------------------------------------------

def _banner_button(self: Component) -> None:
    """What the error banner's buttons resolve to (no payload); :func:`run` answers them itself."""


def resolve(cls: type[Component], event: Event) -> tuple[Callable[..., Any], bool]:
    """The method an event reaches, and whether it is the ``handle`` catch-all.

    The banner's own events (``Dismiss``, ``Start again``) resolve on every
    class; :func:`run` applies them only to the top frame.
    """
    if event.name in BANNER_EVENTS:
        return _banner_button, False
    return lifecycle.method_for(cls, event.name, internal=event.internal)


def admit(conv: dict[str, Any], iid: str, name: str, *, internal: bool = False) -> Handler | None:
    """Check a browser event once: ``None`` when ``iid`` is not on the page (HTTP 204).

    An unknown event name raises :class:`UnknownEvent` (HTTP 404), a type this
    process no longer defines ``LookupError``. Pass the result to :func:`run`
    so it does not resolve again.
    """
    if conv.get("ended") or not cv.displayed(conv, iid):
        return None
    type_name = conv["instances"][iid]["type"]
    cls = _registry.get(type_name) or lookup(type_name)  # lookup() raises for an unknown name
    if name in BANNER_EVENTS:
        if cv.top(conv) != iid:
            raise lifecycle.unknown_event(cls, name)
        return Handler(cls, _banner_button, False)
    key = (cls, name)
    handler = _HANDLERS.get(key) if not internal else None
    # The method itself is the cache's check: a class patched since still resolves afresh.
    if handler is None or getattr(cls, name, None) is not handler.fn:
        fn, catch_all = lifecycle.method_for(cls, name, internal=internal)
        params = signature(fn, 2 if catch_all else 1).params
        handler = Handler(cls, fn, catch_all, any(p.name == FILES for p in params), any(p.required for p in params))
        if not internal and not catch_all:  # a catch-all takes any name: caching those grows without bound
            if len(_HANDLERS) >= 4096:
                _HANDLERS.clear()
            _HANDLERS[key] = handler
    return handler


#: ``(class, event name) -> Handler`` of browser events that resolved (bounded).
_HANDLERS: dict[tuple[type[Component], str], Handler] = {}
#: The same for internal events (timers, messages, io results), which reach more methods.
_INTERNAL: dict[tuple[type[Component], str], Handler] = {}


# -- the scaffolding every entry point shares -------------------------------------


def _unchanged(conv: dict[str, Any]) -> Outcome:
    return Outcome(conv, since=conv.get("version", 0))


def _outcome(tx: Txn, *, record: bool) -> Outcome:
    fragments = paint.paint(tx)
    conv = tx.result(record=record)
    if tx.env.backtrack:
        paint.step_history(tx, conv, fragments)
    return Outcome(conv, fragments, tx.commands, tx.removed, since=tx.base.get("version", 0))


class _session:  # noqa: N801 (used like a function: ``with _session(conv, env) as tx``)
    """A transaction on ``conv`` with the ambient readers bound; a class, as it wraps every entry."""

    __slots__ = ("bound", "tx")

    def __init__(self, conv: dict[str, Any], env: Env) -> None:
        self.bound = ambient(env.app, conv.get("principal"), conv["id"])
        self.tx = Txn(conv, env, _FOLD)

    def __enter__(self) -> Txn:
        self.bound.__enter__()
        return self.tx

    def __exit__(self, *exc: object) -> None:
        self.bound.__exit__()


def _fold(conv: dict[str, Any], env: Env, step: Callable[[Txn], None], *, phase: str, blame: str,
          record: bool = False) -> Outcome:
    """Run ``step`` in a session and paint; if it raises, the conversation unchanged plus a banner."""
    with _session(conv, env) as tx:
        try:
            step(tx)
            return _outcome(tx, record=record)
        except Exception as exc:
            return failed(conv, env, blame, exc, phase, tx)


# -- entry points ------------------------------------------------------------------


def boot(root: Component | type[Component], env: Env, *, cid: str | None = None, owner: str | None = None,
         principal: Any = None, mount: str | None = None, base: str = "") -> Outcome:
    """Mint a conversation around ``root``: instantiate, run ``start`` hooks, render the first page.

    The root's initial type and state are kept as ``root_spec`` ("Start
    again" rebuilds from it), shared with conversations that started alike
    (:func:`stube.conversation.shared_root`). A root that cannot even be made
    (its ``__init__`` raised or left non-JSON state) gives a conversation with
    no frames whose page is the error banner, instead of an exception.
    """
    conv = cv.empty(cid, owner=owner, principal=principal, history_limit=env.history_limit,
                    mount=mount, base=base)
    with _session(conv, env) as tx:
        try:
            embed = as_embed(root)  # a class: its __init__ runs here, with the ambient readers bound
            spec = cv.frame_spec(embed)
            iid, created = lifecycle.instantiate(tx, embed, parent=None, kind="frame")
        except Exception as exc:
            return failed(conv, env, f"{conv['id']}-root", exc, "init")
        spec, rec = cv.shared_root(spec, tx.instances[iid])  # what the last page view of this root holds
        if rec is not tx.instances[iid]:
            tx.put(iid, rec)
        conv["root_spec"] = spec  # the fallback below starts from ``conv`` too
        tx.set_top("root_spec", spec)
        tx.stack.append(iid)
        try:
            lifecycle.start(tx, created)
            projection = paint.root_url(tx)
            if projection is not None:
                tx.set_top("last_url", projection[1])
            out = _outcome(tx, record=False)
        except Exception as exc:
            log.exception("stube component error cid=%s iid=%s phase=start", conv["id"], iid)
            fallback = Txn(conv, env, _FOLD)
            lifecycle.instantiate(fallback, embed, parent=None, kind="frame", iid=iid)
            fallback.stack.append(iid)
            paint.banner(fallback, iid, exc, "start")
            out = _outcome(fallback, record=False)
            out.error = exc
    out.conversation["history"] = []
    return out


def run(conv: dict[str, Any], event: Event, env: Env, handler: Handler | None = None) -> Outcome:
    """Fold one event. Unknown instance: nothing changes. Unknown event name: :class:`UnknownEvent`.

    ``handler`` is what :func:`admit` returned for this event on this ``conv``.
    """
    if conv.get("ended"):
        return _unchanged(conv)
    rec = conv["instances"].get(event.iid)
    if rec is None:
        return _unchanged(conv)
    if event.name in BANNER_EVENTS:
        return _banner_event(conv, event, env)
    if handler is None:
        cls = _registry.get(rec["type"]) or lookup(rec["type"])
        cached = _HANDLERS.get((cls, event.name)) if not event.internal else _INTERNAL.get((cls, event.name))
        if cached is not None and getattr(cls, event.name, None) is cached.fn:
            fn, catch_all = cached.fn, cached.catch_all  # a timer, message or io result resolved before
        else:
            fn, catch_all = resolve(cls, event)
            if event.internal and not catch_all:
                if len(_INTERNAL) >= 4096:
                    _INTERNAL.clear()
                _INTERNAL[cls, event.name] = Handler(cls, fn, catch_all)
        required = None
    else:
        cls, fn, catch_all, required = handler.cls, handler.fn, handler.catch_all, handler.required
    if catch_all:
        kwargs = bind(fn, event.payload, convert=event.convert, skip=2)
        args: tuple[Any, ...] = (event.name, *event.args)
    else:
        # No payload: bind() would only check that no parameter is required (the common click).
        if required is None and not event.payload and not event.args:
            required = any(p.required for p in signature(fn).params)
        kwargs = bind(fn, event.payload, convert=event.convert) if event.payload or (
            not event.args and required) else {}
        args = event.args
    fields = cls.fields
    lifted = {k: v[-1] if isinstance(v, list) and v else v for k, v in event.fields.items() if k in fields} \
        if fields and event.fields else None
    # _fold and _session, inlined: this is the path every browser event takes.
    iid = event.iid
    tx = Txn(conv, env, _FOLD)
    token = AMBIENT.set(Ambient(env.app, conv.get("principal"), conv["id"]))
    try:
        effects = lifecycle.invoke(tx, iid, fn, args, kwargs, lift=lifted, cls=cls)
        if lifted:
            tx.lifted = _typed(tx, iid, lifted)
        if effects:
            tx.fold(effects, iid)
        if tx.stack and not tx.conv.get("ended"):  # a rewind to an ended step has nothing to project
            paint.project_url(tx)
        fragments = paint.paint(tx)  # _outcome(), inlined
        out = tx.result(record=True)
        if env.backtrack:
            paint.step_history(tx, out, fragments)
        return Outcome(out, fragments, tx.commands, tx.removed, since=conv.get("version", 0))
    except Exception as exc:
        return failed(conv, env, iid, exc, "handle", tx)
    finally:
        AMBIENT.reset(token)


def _banner_event(conv: dict[str, Any], event: Event, env: Env) -> Outcome:
    """The top frame's banner buttons: "Dismiss" (repaint the last good state), "Start again".

    Aimed at anything but the top frame they change nothing, like an event
    for an instance the page no longer shows.
    """
    iid = event.iid
    if cv.top(conv) != iid:
        return _unchanged(conv)
    if event.name == DISMISS:
        def dismiss(tx: Txn) -> None:
            tx.plan.restructure(iid)  # nothing changed since the failure discarded it: repaint

        return _fold(conv, env, dismiss, phase="dismiss", blame=iid)
    spec = conv.get("root_spec")
    if spec is None:  # minted before conversations kept it: nothing to start again from
        return _unchanged(conv)

    def restart(tx: Txn) -> None:
        lifecycle.restart(tx, spec_from(spec["type"], spec["state"]))
        paint.project_url(tx)

    return _fold(conv, env, restart, phase="restart", blame=iid, record=True)


#: Field names never kept in the history (``f``): a password typed on a step is not shown again on Back.
_SECRET = re.compile(r"(?:^|_)(?:pass|passwd|password|pwd|secret|token|pin|otp|cvc|cvv|ssn|card)(?:_|$)", re.I)


def _typed(tx: Txn, iid: str, lifted: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The lifted fields going back to this step shows again: those the handler kept, none secret-looking."""
    rec = tx.instances.get(iid)
    state = rec["state"] if rec is not None else {}
    typed = {k: v for k, v in lifted.items()
             if not _SECRET.search(k) and k in state and state[k] == v and is_json(v)}
    return {iid: typed} if typed else None


def failed(conv: dict[str, Any], env: Env, iid: str, exc: BaseException, phase: str,
           abandoned: Txn | None = None) -> Outcome:
    """The conversation unchanged, plus an error banner for ``iid``.

    Instances the abandoned fold created are reported as removed, so hosts
    release what they started (a flow's greenlet) instead of leaking it.
    """
    frag = paint.failure(conv, iid, exc, phase, debug=env.debug)
    created = abandoned.created() if abandoned is not None else []
    return Outcome(conv, [frag], removed=created, error=exc, since=conv.get("version", 0))


def dispatch(conv: dict[str, Any], event: Event, env: Env | None = None) -> tuple[dict[str, Any], list[Fragment]]:
    """``(conversation', fragments)`` for one event: the contract's pure entry point."""
    out = run(conv, event, env or Env())
    return out.conversation, out.fragments


def rewind(conv: dict[str, Any], env: Env) -> Outcome:
    """Go back one step (the ``back_button``): no handler, no new history entry."""
    if conv.get("ended") or not conv.get("history"):
        return _unchanged(conv)

    def step(tx: Txn) -> None:
        lifecycle.rewind(tx)
        paint.project_url(tx)

    return _fold(conv, env, step, phase="back", blame=cv.top(conv) or "")


def travel(conv: dict[str, Any], env: Env, step: int) -> Outcome:
    """Move to the step labelled ``step`` (the browser's Back or Forward): no handler, no new entry.

    Unchanged when the conversation is already there, has ended, or no longer
    has that step (see :func:`stube.conversation.reachable`).
    """
    if conv.get("ended") or step == cv.step_of(conv) or not cv.reachable(conv, step):
        return _unchanged(conv)

    def go(tx: Txn) -> None:
        lifecycle.travel(tx, step)
        paint.project_url(tx)

    return _fold(conv, env, go, phase="back", blame=cv.top(conv) or "")


def wake(conv: dict[str, Any], env: Env) -> Outcome:
    """A restored conversation becomes live: ``wakeup`` hooks, then the whole top frame repaints."""
    if conv.get("ended") or not conv["stack"]:
        return _unchanged(conv)

    def step(tx: Txn) -> None:
        tx.set_top("painted", None)
        lifecycle.wake(tx, tx.stack[-1])

    return _fold(conv, env, step, phase="wakeup", blame=cv.top(conv) or "")


def stop_all(conv: dict[str, Any], env: Env) -> Outcome:
    """Shutdown: run every ``stop`` hook (top frame first, children first) without ending."""
    if conv.get("ended"):
        return _unchanged(conv)

    def logged(iid: str, exc: Exception) -> None:
        log.exception("stop hook failed during shutdown cid=%s iid=%s", conv["id"], iid)

    with _session(conv, env) as tx:
        for frame in reversed(conv["stack"]):
            lifecycle.stop_subtree(tx, frame, on_error=logged)
        return Outcome(conv, list(tx.plan.extras), tx.commands, since=conv.get("version", 0))


def finish(conv: dict[str, Any], env: Env, value: Any = None) -> Outcome:
    """End a conversation from outside (the reaper, the host): ``stop`` hooks, then ``ended``."""
    if conv.get("ended"):
        return _unchanged(conv)
    with _session(conv, env) as tx:
        try:
            lifecycle.finish(tx, value)
        except Exception:
            log.exception("stop hooks failed while ending cid=%s", conv["id"])
            tx = Txn(conv, env, _FOLD)
            tx.stack.clear()
            tx.set_top("ended", True)
        return _outcome(tx, record=False)
