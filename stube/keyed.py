"""Keyed child lists: reconcile an ordered ``[(key, embed), ...]`` against what exists.

Unchanged keys are untouched; removed keys are stopped and removed (one
``remove`` fragment each); a key whose embed changed is rebuilt under the
same instance id (one morph); new keys are created, started and inserted in
place (``prepend``/``after``/``append``). When the surviving keys change
their relative order, the parent re-renders once instead (morphing keeps
every child's element by id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import fragments as fr
from .component import Component, capture_json
from .fragments import Fragment

if TYPE_CHECKING:
    from .kernel import Txn


def spec(embed: Component) -> dict:
    return {"type": type(embed)._stube_type, "state": capture_json(embed)}


def reconcile(tx: Txn, parent: str, slot: str, pairs: tuple[tuple[str, Component], ...], *,
              rerender_parent: bool = False) -> None:
    prec = tx.get(parent)
    if prec is None:
        return
    old = prec.get("keyed", {}).get(slot) or {"order": [], "iids": {}, "embeds": {}}
    old_order: list[str] = old["order"]
    new_order = [key for key, _ in pairs]
    new_set = set(new_order)
    old_set = set(old_order)
    iids = dict(old["iids"])
    embeds = dict(old["embeds"])
    container = f"{parent}--{slot}"
    frags: list[tuple[Fragment, str | None]] = []

    # Removes first, then rebuilds, then new keys (the order hooks observe).
    for key in old_order:
        if key not in new_set:
            iid = iids.pop(key)
            embeds.pop(key, None)
            tx.remove_tree(iid)
            frags.append((Fragment(fr.REMOVE, target=iid, owner=parent), None))

    started: list[str] = []
    for key, embed in pairs:
        if key in old_set:
            want = spec(embed)
            if want != embeds.get(key):
                iid = iids[key]
                tx.remove_tree(iid)
                _, created = tx.instantiate(embed, parent=parent, kind="keyed", slot=slot, iid=iid)
                embeds[key] = want
                started.extend(created)
                frags.append((Fragment(fr.MORPH, target=iid, owner=parent), iid))

    survivors_before = [k for k in old_order if k in new_set]
    survivors_after = [k for k in new_order if k in old_set]
    reordered = survivors_before != survivors_after

    minted: list[str] = []
    for index, (key, embed) in enumerate(pairs):
        if key in old_set:
            continue
        iid, created = tx.instantiate(embed, parent=parent, kind="keyed", slot=slot)
        iids[key] = iid
        embeds[key] = spec(embed)
        minted.extend(created)
        if index == len(pairs) - 1:
            frag = Fragment(fr.INSERT, target=container, mode="append", owner=parent)
        elif index == 0:
            frag = Fragment(fr.INSERT, target=container, mode="prepend", owner=parent)
        else:
            frag = Fragment(fr.INSERT, target=iids[new_order[index - 1]], mode="after", owner=parent)
        frags.append((frag, iid))

    if not frags and not minted and not started and new_order == old_order:
        # Nothing changed (a poll re-sending the same list): no record, no undo step, no fragment.
        if rerender_parent:
            tx.forced[parent] = None
        return
    prec = tx.get(parent)
    groups = dict(prec.get("keyed", {}))
    if new_order:
        groups[slot] = {"order": new_order, "iids": iids, "embeds": embeds}
    else:
        groups.pop(slot, None)
    new = {**prec, "keyed": groups}
    if not groups:
        del new["keyed"]
    tx.put(parent, new)

    if reordered or rerender_parent:
        # One parent morph moves every surviving element by id.
        tx.forced[parent] = None
    else:
        tx.structural.extend(frags)
        tx.emitted.add(parent)
    tx.start_all(started + minted)
