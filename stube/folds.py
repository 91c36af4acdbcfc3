"""The fold table: what each effect a handler returns does to the transaction.

One function per effect type, keyed by the effect's class in :data:`FOLD`;
:class:`stube.txn.Txn` looks effects up here. Kept apart from ``kernel`` so the
entry points (``boot``, ``run``, ``travel``...) read apart from the effect semantics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import conversation as cv
from . import effects as fx
from . import fragments as fr
from . import lifecycle, paint
from .errors import EffectError, error_message
from .fragments import Fragment
from .keyed import reconcile
from .txn import Command, Txn


def _fold_call(tx: Txn, eff: fx.Call, origin: str) -> None:
    lifecycle.check_receivers(tx, origin, eff.resume, eff.on_error)
    child, created = lifecycle.instantiate(tx, eff.embed, parent=origin, kind="frame",
                                           resume=eff.resume, on_error=eff.on_error)
    tx.stack.append(child)
    lifecycle.start(tx, created)


def _fold_call_in_slot(tx: Txn, eff: fx.CallInSlot, origin: str) -> None:
    prec = tx.get(origin)
    if prec is None:
        raise EffectError("call_in_slot() from an instance that no longer exists")
    lifecycle.check_receivers(tx, origin, eff.resume, eff.on_error)
    prev = cv.child(prec, eff.slot)
    child, created = lifecycle.instantiate(tx, eff.embed, parent=origin, kind="slot", slot=eff.slot, prev=prev,
                                           resume=eff.resume, on_error=eff.on_error)
    tx.put(origin, cv.with_child(tx.instances[origin], eff.slot, child))
    if prev is not None:
        tx.plan.place(Fragment(fr.MORPH, target=prev, source=origin), child)
    else:
        tx.plan.restructure(origin)
    lifecycle.start(tx, created)


def _fold_answer(tx: Txn, eff: fx.Answer | fx.AnswerError, origin: str) -> None:
    is_error = isinstance(eff, fx.AnswerError)
    value = eff.error if isinstance(eff, fx.AnswerError) else eff.value
    rec = tx.get(origin)
    if rec is None:
        return
    kind = rec["kind"]
    if kind == "frame":
        if tx.stack[-1:] != [origin]:
            raise EffectError("only the top frame can answer; this frame has another frame above it")
        lifecycle.remove_tree(tx, origin)
        tx.stack.pop()
        if not tx.stack:
            lifecycle.finish(tx, {"error": error_message(value)} if is_error else value)
            return
    elif kind == "slot":
        parent, slot = rec["parent"], rec["slot"]
        if cv.child(tx.get(parent), slot) != origin:
            # A displaced occupant (reached by a stale tab or a timer) answering would orphan
            # the child that displaced it; like a lower frame, it must wait its turn.
            raise EffectError("only the current occupant of a slot can answer; this one was "
                              "displaced by a later call_in_slot()")
        lifecycle.remove_tree(tx, origin, include_prev=False)
        prec = tx.get(parent)
        if prec is None:
            return
        tx.put(parent, cv.without_child(prec, slot, restore=rec.get("prev")))
        tx.plan.restructure(parent)
    else:
        what = "a children() slot" if kind == "eager" else "a keyed list"
        raise EffectError(
            f"{rec['type']} lives in {what} and cannot answer; only instances started with call() "
            "or call_in_slot() answer. Tell the parent with dispatch_to() instead."
        )
    _deliver(tx, rec, value, is_error)


def _deliver(tx: Txn, child: dict[str, Any], value: Any, is_error: bool) -> None:
    """Hand an answer to the caller's ``resume``/``on_error`` method (or repaint/banner it)."""
    caller = child.get("parent")
    if caller is None or caller not in tx.instances:
        return
    name = child.get("on_error") if is_error else child.get("resume")
    if name is None and is_error:
        name = tx.cls_of(caller)._stube_on_error
    if name is None:
        if is_error:
            paint.banner(tx, caller, value, "answer_error")
        else:
            tx.plan.restructure(caller)
        return
    fn = lifecycle.receiver(tx.cls_of(caller), name, private=True)
    tx.fold(lifecycle.invoke(tx, caller, fn, (value,)), caller)


def _fold_replace(tx: Txn, eff: fx.Replace, origin: str) -> None:
    """Seaside's ``become:``: the emitting instance is swapped for another where it stands."""
    rec = tx.get(origin)
    if rec is None:
        raise EffectError("replace() from an instance that no longer exists")
    kind: str = rec["kind"]
    parent: str | None = rec["parent"]
    slot: str | None = rec.get("slot")
    prec = tx.get(parent) if parent is not None else None
    # Swapping a lower frame or a displaced occupant would orphan what sits above it.
    if kind == "frame" and tx.stack[-1:] != [origin]:
        raise EffectError("only the top frame can be replaced; this frame has another frame above it")
    if kind in ("slot", "eager") and cv.child(prec, slot) != origin:
        raise EffectError("only the current occupant of a slot can be replaced")
    key = cv.key_of(cv.keyed_group(prec, slot), origin) if kind == "keyed" else None
    if kind == "keyed" and key is None:
        raise EffectError("replace() from a keyed child that is no longer in its list")
    lifecycle.remove_tree(tx, origin, include_prev=False)
    new, created = lifecycle.instantiate(tx, eff.embed, parent=parent, kind=kind, slot=slot,
                                         resume=rec.get("resume"), on_error=rec.get("on_error"),
                                         prev=rec.get("prev"))
    if kind == "frame":
        tx.stack[tx.stack.index(origin)] = new
    else:
        parent, slot = rec["parent"], rec["slot"]  # a child (not a frame) always has both
        prec = tx.instances[parent]
        if key is not None:
            group = cv.with_keyed_entry(cv.keyed_group(prec, slot), key, new, cv.frame_spec(eff.embed))
            tx.put(parent, cv.with_keyed(prec, slot, group))
        else:
            tx.put(parent, cv.with_child(prec, slot, new))
        tx.plan.place(Fragment(fr.MORPH, target=origin, source=parent), new)
    lifecycle.start(tx, created)


def _fold_keyed(tx: Txn, eff: fx.SetKeyedChildren, origin: str) -> None:
    reconcile(tx, origin, eff.slot, eff.pairs, rerender_parent=eff.rerender_parent)


def _fold_patch(tx: Txn, eff: fx.Patch, origin: str) -> None:
    target = paint.patch_target(eff.html)
    if not target:
        raise EffectError("patch() HTML needs an id on its top element, e.g. <div id=\"toast\">...")
    tx.plan.send(Fragment(fr.PATCH, target=target, html=eff.html, source=origin))
    tx.plan.painted_itself(origin)


def _fold_history(tx: Txn, eff: fx.History, origin: str) -> None:
    tx.plan.set_history(Fragment(fr.HISTORY, html=eff.url, mode="push" if eff.push else "replace"))


def _fold_script(tx: Txn, eff: fx.ExecuteScript, origin: str) -> None:
    tx.plan.send(Fragment(fr.SCRIPT, html=eff.js, source=origin))


def _command(kind: str) -> Callable[[Txn, Any, str], None]:
    def fold(tx: Txn, eff: Any, origin: str) -> None:
        tx.commands.append(Command(kind, origin, eff))
    return fold


def _fold_back(tx: Txn, eff: fx.Back, origin: str) -> None:
    if tx.base.get("history"):  # absent: a compact conversation with no steps yet
        lifecycle.rewind(tx)


def _fold_end(tx: Txn, eff: fx.End, origin: str) -> None:
    lifecycle.finish(tx, eff.value)


FOLD: dict[type, Callable[[Txn, Any, str], None]] = {
    fx.Call: _fold_call,
    fx.CallInSlot: _fold_call_in_slot,
    fx.Answer: _fold_answer,
    fx.AnswerError: _fold_answer,
    fx.Replace: _fold_replace,
    fx.SetKeyedChildren: _fold_keyed,
    fx.Patch: _fold_patch,
    fx.History: _fold_history,
    fx.ExecuteScript: _fold_script,
    fx.Io: _command("io"),
    fx.After: _command("after"),
    fx.Subscribe: _command("subscribe"),
    fx.Unsubscribe: _command("unsubscribe"),
    fx.DispatchTo: _command("dispatch_to"),
    fx.Back: _fold_back,
    fx.End: _fold_end,
}
