"""Lifecycle: calling user code, creating instances, and the hooks around them.

Everything here takes the :class:`~stube.txn.Txn` and folds effects through
``tx.fold`` (the kernel's fold table travels in the transaction), so neither
this module nor ``stube.keyed`` imports the kernel.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import conversation as cv
from . import effects as fx
from .component import HOOKS, IID_KEY, Component, as_embed, build, capture_json, find_type, is_event
from .context import FLOW_HOST
from .errors import EffectError, UnknownEvent
from .jsonstate import copy_attributes, is_json, json_copy
from .txn import Command, StashWrite, Txn

log = logging.getLogger("stube")

#: Effects a ``stop`` hook (and a rewound ``wakeup``) may return: nothing structural.
SIDE_EFFECTS = (fx.Patch, fx.ExecuteScript, fx.History, fx.Io, fx.After, fx.Subscribe,
                fx.Unsubscribe, fx.DispatchTo)


def as_effects(result: Any, where: str) -> list[fx.Effect]:
    """A handler's return value as a list of effects; anything else is a ``TypeError`` naming ``where``."""
    if result is None:
        return []
    if isinstance(result, fx.Effect):
        return [result]
    if isinstance(result, (list, tuple)):
        for item in result:
            if not isinstance(item, fx.Effect):
                raise TypeError(f"{where} returned {item!r} in its list; "
                                "return effects such as call(...) or answer(...)")
        return list(result)
    raise TypeError(f"{where} returned {result!r}; return None, an effect, or a list of effects")


# -- calling user code --

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Handler:
    """What an event reaches: the class, the method, and whether it is the ``handle`` catch-all."""

    cls: type[Component]
    fn: Callable[..., Any]
    catch_all: bool
    #: The method takes a ``files`` argument (the HTTP layer then always passes the uploads).
    wants_files: bool = False
    #: Some parameter has no default, so even an event without a payload is bound (and refused).
    required: bool = False


def method_for(cls: type[Component], name: str, *, internal: bool = False) -> tuple[Callable[..., Any], bool]:
    """The method event ``name`` reaches, and whether it is the ``handle`` catch-all.

    Browser events reach only ``@event`` methods; ``internal`` ones (timers,
    io, messages) any public method, and the class's declared private
    receivers (``_stube_receivers``, e.g. a flow's resume and io targets).
    An unknown name raises :class:`UnknownEvent` listing the class's events.
    """
    if not isinstance(name, str) or not name.isidentifier() or name in HOOKS or (
            name.startswith("_") and not (internal and is_receiver(cls, name))):
        raise unknown_event(cls, name)
    fn: Any = getattr(cls, name, _MISSING)
    if fn is _MISSING:
        if "handle" in cls._stube_hooks:
            return cls.handle, True
        raise unknown_event(cls, name)
    if is_event(fn) or (internal and callable(fn) and not isinstance(fn, type)):
        return fn, False
    raise unknown_event(cls, name, f"{cls.__qualname__}.{name} is not an @event")


def is_receiver(cls: type[Component], name: str) -> bool:
    """Is ``name`` one of the private methods the kernel may call on ``cls`` (its ``_stube_receivers``)?"""
    return name in cls._stube_receivers


def events_of(cls: type[Component]) -> list[str]:
    """The ``@event`` names of ``cls`` in definition order (base classes' first)."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        names.update(dict.fromkeys(vars(klass)))
    return [m for m in names if not m.startswith("_") and is_event(getattr(cls, m, None))]


def unknown_event(cls: type[Component], name: Any, head: str | None = None) -> UnknownEvent:
    """An :class:`UnknownEvent` naming the class, the event asked for, its events and a close match.

    The event names are listed always, not only in debug: they are the names
    every rendered ``on()`` already puts in the page, and anyone holding the
    session can try names anyway; listing them makes a typo obvious.
    """
    events = events_of(cls)
    text = head or f"{cls.__qualname__} has no event {name!r}"
    if isinstance(name, str) and name in HOOKS:
        text += f" ({name!r} is a hook stube calls itself, never an event)"
    if events:
        text += "; its events are: " + ", ".join(events)
        close = difflib.get_close_matches(name, events, n=1) if isinstance(name, str) else []
        if close:
            text += f". Did you mean {close[0]!r}?"
    else:
        text += "; it has no @event methods"
    return UnknownEvent(text, cls=cls.__qualname__, event=name if isinstance(name, str) else repr(name),
                        events=tuple(events))


def check_receivers(tx: Txn, origin: str, *names: str | None) -> None:
    """A resume/on_error name must be a method of the caller: fail when calling, not at the answer."""
    rec = tx.get(origin)
    if rec is None:
        raise EffectError("call() from an instance that no longer exists")
    cls = tx.cls_of(origin)
    for name in names:
        if name is not None:
            receiver(cls, name)


def receiver(cls: type[Component], name: str, *, private: bool = False) -> Callable[..., Any]:
    """The method ``resume=``/``on_error=`` names; ``private`` also accepts ``_`` names (at delivery).

    Checked when calling (``private=False``: only public methods and the
    class's ``_stube_receivers``), so a typo fails at the ``call()``, not at the answer.
    """
    fn = getattr(cls, name, None)
    if not callable(fn) or name in HOOKS or (
            not private and name.startswith("_") and not is_receiver(cls, name)):
        raise EffectError(f"{cls.__qualname__} has no method {name!r} to receive the answer")
    return fn  # type: ignore[no-any-return]


def invoke(tx: Txn, iid: str, fn: Callable[..., Any], args: tuple[Any, ...] = (),
           kwargs: Mapping[str, Any] | None = None, *, keep: bool = True,
           lift: Mapping[str, Any] | None = None, cls: type[Component] | None = None) -> list[fx.Effect]:
    """Run ``fn`` on a live object rebuilt from ``iid``'s state; ``keep`` commits what it changed.

    ``lift`` (form fields the component declared) is set on the object before ``fn`` runs;
    ``cls`` is ``iid``'s class when the caller resolved it already.
    """
    rec = tx.instances[iid]
    if cls is None:
        cls = tx.cls_of(iid)
    obj = cls.__new__(cls)  # build(copy=True), inlined: the handler gets containers of its own
    state = json_copy(rec["state"])
    state[IID_KEY] = iid
    obj.__dict__ = state
    if lift:
        obj.__dict__.update(lift)
    token = FLOW_HOST.set(tx)  # host_flows(), inlined: once per handler
    try:
        result = fn(obj, *args, **(kwargs or {}))
    finally:
        FLOW_HOST.reset(token)
    if keep:
        commit(tx, iid, obj)
    if result is None:  # the common case: skip building the error label
        return []
    return as_effects(result, f"{cls.__qualname__}.{getattr(fn, '__name__', 'handler')}")


def commit(tx: Txn, iid: str, obj: Component) -> None:
    """Store ``obj``'s state in ``iid``'s record if it changed (and note its stash writes)."""
    rec = tx.instances.get(iid)
    if rec is None:
        return
    d = obj.__dict__  # capture_json(), inlined: once per handler
    if IID_KEY in d:
        d = dict(d)
        del d[IID_KEY]
    state = copy_attributes(d, type(obj).__qualname__)
    old = rec["state"]
    # 1 == 1.0 == True, yet they render and serialise differently: a top-level retype counts.
    if state != old or any(type(v) is not type(old[k]) for k, v in state.items()):
        cls = type(obj)
        if cls.stash and tx.env.stash is not None:
            changes = {k: state[k] for k in cls.stash if k in state and state.get(k) != old.get(k)}
            if changes:
                tx.commands.append(Command("stash", iid, StashWrite(cls._stube_type, changes, cls.stash_vsn)))
        tx.put(iid, {**rec, "state": state})  # cv.with_state(), inlined
        tx.plan.changed(iid)


# -- instances --


def instantiate(tx: Txn, embed: Component, *, parent: str | None, kind: str, slot: str | None = None,
                resume: str | None = None, on_error: str | None = None, prev: str | None = None,
                iid: str | None = None) -> tuple[str, list[str]]:
    """Create ``embed``'s record (and its eager children); returns its id and every id created."""
    cls = type(embed)
    state = capture_json(embed)
    if cls.stash and tx.env.stash is not None:
        state = _recover_stash(tx, embed, state)
    iid = iid or tx.new_iid()
    tx.put(iid, cv.new_record(cls._stube_type, state, parent=parent, kind=kind, slot=slot,
                              resume=resume, on_error=on_error, prev=prev))
    created = [iid]
    if "children" in cls._stube_hooks:
        obj = build(cls, state, iid, copy=True)
        children: dict[str, str] = {}
        for name, child in (cls.children(obj) or {}).items():
            child_iid, sub = instantiate(tx, as_embed(child), parent=iid, kind="eager", slot=fx.slot_name(name))
            children[name] = child_iid
            created.extend(sub)
        if children:
            tx.put(iid, cv.with_children(tx.instances[iid], children))
    return iid, created


def _recover_stash(tx: Txn, embed: Component, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the session's stashed attributes of this view (migrated when its shape changed)."""
    cls = type(embed)
    stored = tx.env.stash.get(cls._stube_type) if tx.env.stash else None
    if not stored:
        return state
    data = stored.get("data") or {}
    if stored.get("vsn", 1) != cls.stash_vsn:
        try:  # stashed preferences are disposable: a failing migration must not break the page
            migrated = cls.migrate_stash(embed, stored.get("vsn", 1), json_copy(data))
        except Exception:
            log.exception("%s.migrate_stash failed; the stashed values were discarded", cls.__qualname__)
            migrated = None
        data = migrated if isinstance(migrated, dict) else {}
        full = {k: state[k] for k in cls.stash if k in state}
        full.update({k: v for k, v in data.items() if k in cls.stash and is_json(v)})
        tx.commands.append(Command("stash", "", StashWrite(cls._stube_type, json_copy(full), cls.stash_vsn)))
    out = dict(state)
    for key in cls.stash:
        if key in data and is_json(data[key]):
            out[key] = json_copy(data[key])
    return out


# -- hooks --


def start(tx: Txn, created: list[str]) -> None:
    """Run the ``start`` hooks of newly created instances, in creation order."""
    for iid in created:
        if iid in tx.instances and not tx.ended and not tx.rewound:
            cls = tx.cls_of(iid)
            if "start" in cls._stube_hooks:
                tx.fold(invoke(tx, iid, cls.start), iid)


def wake(tx: Txn, iid: str, *, side_only: bool = False) -> None:
    """Run the ``wakeup`` hooks of ``iid``'s tree (after a restore, or a rewind when ``side_only``)."""
    for x in cv.subtree(tx.instances, iid, include_prev=False):
        if x in tx.instances:
            cls = tx.cls_of(x)
            if "wakeup" in cls._stube_hooks:
                effects = invoke(tx, x, cls.wakeup)
                if side_only:  # during a rewind: re-arm timers/io/subscriptions, nothing structural
                    tx.fold([e for e in effects if isinstance(e, SIDE_EFFECTS)], x, after_rewind=True)
                else:
                    tx.fold(effects, x)


def stop_subtree(tx: Txn, iid: str, *, include_prev: bool = True,
                 on_error: Callable[[str, Exception], None] | None = None) -> list[str]:
    """Run the ``stop`` hooks of ``iid``'s tree, children first; returns the tree (pre-order).

    State changes in ``stop`` are discarded and only side effects are folded.
    ``on_error(iid, exc)`` swallows a failing hook (shutdown); otherwise it propagates.
    """
    order = cv.subtree(tx.instances, iid, include_prev)
    for x in reversed(order):
        rec = tx.instances.get(x)
        cls = find_type(rec["type"]) if rec is not None else None
        if cls is None or "stop" not in cls._stube_hooks:
            continue  # gone, or a type this process does not know: no stop hook to run
        try:
            effects = invoke(tx, x, cls.stop, keep=False)
            side = [e for e in effects if isinstance(e, SIDE_EFFECTS)]
            if len(side) != len(effects):
                log.warning("%s.stop() may only return side effects (patch, script, io, "
                            "unsubscribe, ...); the rest were ignored", cls.__qualname__)
            tx.fold(side, x)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(x, exc)
    return order


def remove_tree(tx: Txn, iid: str, *, include_prev: bool = True,
                on_error: Callable[[str, Exception], None] | None = None) -> None:
    """Stop and delete ``iid`` and what it owns; frames called from inside it answer to the frame below.

    ``on_error`` as in :func:`stop_subtree`.
    """
    order = stop_subtree(tx, iid, include_prev=include_prev, on_error=on_error)
    for x in order:
        tx.delete(x)
        tx.removed.append(x)
        tx.plan.drop(x)
    gone = set(order)
    for i, frame in enumerate(tx.stack):
        rec = tx.instances.get(frame)
        if i and rec is not None and rec["parent"] in gone:
            # Its caller left under it (a keyed item or slot child removed while its dialog
            # is open; a keyed rebuild reuses the id for another type): the answer now just
            # returns to the frame below, with nobody left to resume.
            tx.put(frame, cv.reparented(rec, tx.stack[i - 1]))


def rewind(tx: Txn) -> None:
    """Continue the transaction from the step before its base (the last history entry undone)."""
    base = tx.base
    entry = base["history"][-1]
    restored = cv.undo(base, entry)
    restored["history"] = base["history"][:-1]
    # Forward (the browser's) can still redo it until the next recorded fold.
    restored["future"] = [*(base.get("future") or ()), {"u": entry, "r": cv.redo_entry(base, entry),
                                                       "v": cv.step_of(base)}]
    # An entry saved before steps had labels: name the restored step by the version this rewind makes.
    restored["step"] = entry.get("v", base.get("version", 0) + 1)
    # The browser still shows the newer URL: compare against it, so project_url() re-syncs it.
    restored["last_url"] = base.get("last_url")
    tx.rewind_to(restored)
    tx.set_top("painted", None)
    if tx.stack:
        wake(tx, tx.stack[-1], side_only=True)
    elif not tx.ended:
        finish(tx, None)


def restart(tx: Txn, root: Component) -> None:
    """Replace every frame by a fresh ``root`` (its ``start`` hooks run); a failing ``stop`` hook is logged.

    "Start again" must get past a component whose ``stop`` raises: that may be the very error.
    """
    def logged(iid: str, exc: Exception) -> None:
        log.exception("stop hook failed while starting again cid=%s iid=%s", tx.cid, iid)

    for frame in list(reversed(tx.stack)):
        if frame in tx.instances:
            remove_tree(tx, frame, on_error=logged)
    tx.stack.clear()
    iid, created = instantiate(tx, root, parent=None, kind="frame")
    tx.stack.append(iid)
    start(tx, created)


def travel(tx: Txn, step: int) -> bool:
    """Continue from the step labelled ``step`` (the browser's Back or Forward); false when it is gone.

    The ``stop`` hooks of instances that leave run first (their side effects
    are kept, their state changes are not); then, as for ``back()``, the top
    frame's tree runs ``wakeup``. A new top frame repaints the whole page; on
    the same one only the instances whose records differ repaint.
    """
    restored = cv.travel(tx.base, step)
    if restored is None:
        return False
    staying = restored["instances"]
    leaving = [x for frame in reversed(tx.stack) for x in cv.subtree(tx.instances, frame)
               if x not in staying]
    for iid in reversed(leaving):
        rec = tx.instances.get(iid)
        cls = find_type(rec["type"]) if rec is not None else None
        if cls is None or "stop" not in cls._stube_hooks:
            continue
        try:
            effects = invoke(tx, iid, cls.stop, keep=False)
            tx.fold([e for e in effects if isinstance(e, SIDE_EFFECTS)], iid)
        except Exception:
            log.exception("%s.stop() failed while the browser moved to step %s", cls.__qualname__, step)
    commands, before, top = tx.commands, tx.instances, tx.stack[-1:]
    tx.rewind_to(restored)
    tx.commands[:0] = [c for c in commands if c.kind in ("unsubscribe", "stash")]
    if tx.stack[-1:] != top:
        tx.set_top("painted", None)  # another frame: the whole page
    else:  # the same frame: repaint just the instances whose records differ (they are shared otherwise)
        for iid, rec in tx.instances.items():
            if before.get(iid) is not rec:
                tx.plan.restructure(iid)
    if tx.stack:
        wake(tx, tx.stack[-1], side_only=True)
    return True


def finish(tx: Txn, value: Any) -> None:
    """End the conversation: every frame's tree stops and goes, ``result`` keeps ``value``."""
    for frame in list(reversed(tx.stack)):
        if frame in tx.instances:
            remove_tree(tx, frame)
    tx.stack.clear()
    tx.set_top("ended", True)
    tx.set_top("result", json_copy(value) if is_json(value) else repr(value))
