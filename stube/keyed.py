"""Keyed child lists: reconcile an ordered ``[(key, embed), ...]`` against what exists.

Unchanged keys are untouched; removed keys are stopped and removed (one
``remove`` fragment each); a key whose embed changed is rebuilt under the
same instance id (one morph); new keys are created, started and inserted in
place (``prepend``/``after``/``append``). When the surviving keys change
their relative order, the parent re-renders once instead (morphing keeps
every child's element by id).

This module never imports the kernel: it works on the transaction, its
paint plan and the lifecycle functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import conversation as cv
from . import fragments as fr
from . import lifecycle
from .component import Component
from .fragments import Fragment
from .txn import Txn

#: Older name of :func:`stube.conversation.frame_spec`.
spec = cv.frame_spec


@dataclass
class _Work:
    """One reconcile in progress: the group being rebuilt and what it will paint."""

    parent: str
    slot: str
    old_order: list[str]
    iids: dict[str, str]
    embeds: dict[str, Any]
    frags: list[tuple[Fragment, str | None]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


def reconcile(tx: Txn, parent: str, slot: str, pairs: tuple[tuple[str, Component], ...], *,
              rerender_parent: bool = False) -> None:
    """Make ``parent``'s keyed list in ``slot`` match ``pairs``: removes, rebuilds, inserts, then the record."""
    prec = tx.get(parent)
    if prec is None:
        return
    old = cv.keyed_group(prec, slot)
    work = _Work(parent, slot, list(old["order"]), dict(old["iids"]), dict(old["embeds"]))
    new_order = [key for key, _ in pairs]
    # Removes first, then rebuilds, then new keys (the order hooks observe).
    _remove(tx, work, set(new_order))
    _rebuild(tx, work, pairs)
    old_set = set(work.old_order)
    reordered = [k for k in work.old_order if k in set(new_order)] != [k for k in new_order if k in old_set]
    _insert(tx, work, pairs, new_order)
    if not work.frags and not work.started and new_order == work.old_order:
        # Nothing changed (a poll re-sending the same list): no record, no undo step, no fragment.
        if rerender_parent:
            tx.plan.restructure(parent)
        return
    _record(tx, work, new_order, repaint=reordered or rerender_parent)
    lifecycle.start(tx, work.started)


def _remove(tx: Txn, work: _Work, keep: set[str]) -> None:
    for key in work.old_order:
        if key not in keep:
            iid = work.iids.pop(key)
            work.embeds.pop(key, None)
            lifecycle.remove_tree(tx, iid)
            work.frags.append((Fragment(fr.REMOVE, target=iid, source=work.parent), None))


def _rebuild(tx: Txn, work: _Work, pairs: tuple[tuple[str, Component], ...]) -> None:
    """Keys whose embed changed: a new instance under the same id."""
    old_set = set(work.old_order)
    for key, embed in pairs:
        if key in old_set:
            want = cv.frame_spec(embed)
            if want != work.embeds.get(key):
                iid = work.iids[key]
                lifecycle.remove_tree(tx, iid)
                _, created = lifecycle.instantiate(tx, embed, parent=work.parent, kind="keyed", slot=work.slot,
                                                   iid=iid)
                work.embeds[key] = want
                work.started.extend(created)
                work.frags.append((Fragment(fr.MORPH, target=iid, source=work.parent), iid))


def _insert(tx: Txn, work: _Work, pairs: tuple[tuple[str, Component], ...], new_order: list[str]) -> None:
    """New keys: created, and inserted after their left neighbour (or at either end)."""
    old_set = set(work.old_order)
    container = f"{work.parent}--{work.slot}"
    for index, (key, embed) in enumerate(pairs):
        if key in old_set:
            continue
        iid, created = lifecycle.instantiate(tx, embed, parent=work.parent, kind="keyed", slot=work.slot)
        work.iids[key] = iid
        work.embeds[key] = cv.frame_spec(embed)
        work.started.extend(created)
        if index == len(pairs) - 1:
            frag = Fragment(fr.INSERT, target=container, mode="append", source=work.parent)
        elif index == 0:
            frag = Fragment(fr.INSERT, target=container, mode="prepend", source=work.parent)
        else:
            frag = Fragment(fr.INSERT, target=work.iids[new_order[index - 1]], mode="after", source=work.parent)
        work.frags.append((frag, iid))


def _record(tx: Txn, work: _Work, new_order: list[str], *, repaint: bool) -> None:
    """Store the new group; paint it piecewise, or re-render the parent once when ``repaint``."""
    prec = tx.get(work.parent)
    if prec is None:  # reconcile() checked it; a stop hook cannot remove it
        return
    group = {"order": new_order, "iids": work.iids, "embeds": work.embeds} if new_order else None
    tx.put(work.parent, cv.with_keyed(prec, work.slot, group))
    if repaint:
        # One parent morph moves every surviving element by id.
        tx.plan.restructure(work.parent)
    else:
        for frag, fill in work.frags:
            tx.plan.place(frag, fill)
        tx.plan.painted_itself(work.parent)
