"""The conversation value and the pure helpers that read it.

A conversation is one user's visit to one mounted root: a JSON-serialisable
dict. Its keys::

    id            "cv-..." (random, URL-safe)
    format        shape version of this dict
    stack         instance ids of the frames, bottom (root) first
    instances     {iid: record}; records are never mutated, only replaced
    history       undo entries, newest last, at most history_limit of them
    history_limit bound on history
    touched       unix seconds of the last browser activity (minted, then set by
                  the runtime; the reaper ends conversations idle too long)
    version       count of committed changes (stores use it as a version)
    owner         hash of the browser session that minted it (or None)
    principal     who it belongs to, fixed at mint
    mount, base   the page path it was minted for and the app's URL prefix
    last_url      the root's last url() projection
    painted       the frame the page currently shows
    root_spec     the root's type and initial state, as mounted ("Start again" rebuilds it)
    ended, result set when the conversation finishes
    step          label of the step the conversation is at (absent: 0); a recorded
                  fold labels its result with its new ``version``, so labels are unique
    future        redo items (present only after going back): what Forward re-applies,
                  nearest step last; the next recorded fold drops them (the conversation branches)

A key whose value is its default (:data:`DEFAULTS`: no history, no owner, no
``last_url``, not ended, ...) may be absent, and readers treat it as that
default. The runtime holds the conversations it serves in that compact form
(:func:`compact`: a page view keeps ten keys, not nineteen); values of 0.2,
which spell every key out, read the same. Stores get :func:`stored` (the keys
their shape check requires, filled in). ``created`` (0.2) is no longer written.

A record is ``{"type", "state", "parent", "kind", ...}`` where ``kind`` is
``frame`` (on the stack; ``parent`` is its caller), ``eager`` (a
``children()`` slot), ``slot`` (a ``call_in_slot`` child, with ``prev``, the
occupant it displaced) or ``keyed``; ``children`` maps slot names to ids and
``keyed`` holds ordered keyed lists.

History entries are undo logs: the records (and stack) a step replaced, so a
step costs what it changed and unchanged records are shared between steps.
An entry's ``v`` is the label of the step it restores and ``f`` the form
fields the event that left that step lifted (``{iid: {field: value}}``), so
going back shows the step as the user left it (see :func:`travel`).

Records are edited only through the named edits at the end of this module
(``with_child``, ``without_child``, ``with_keyed``, ...): each returns a new
record and leaves the old one as it was (the undo log keeps it).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .component import Component, capture_json
from .jsonstate import same_json

FORMAT = 1
DEFAULT_HISTORY_LIMIT = 50

CID_RE = re.compile(r"cv-[A-Za-z0-9_-]{8,64}")


def new_cid() -> str:
    """A random conversation id: never collides with one restored from a store."""
    return "cv-" + secrets.token_urlsafe(12)


def new_iid(taken: Mapping[str, Any] | set[str]) -> str:
    while True:
        iid = "ix-" + secrets.token_hex(5)
        if iid not in taken:
            return iid


def valid_cid(cid: Any) -> bool:
    """Is ``cid`` shaped like an id ``new_cid`` makes (checked before any store sees it)?"""
    return isinstance(cid, str) and CID_RE.fullmatch(cid) is not None


def empty(cid: str | None = None, *, owner: str | None = None, principal: Any = None,
          history_limit: int = DEFAULT_HISTORY_LIMIT, mount: str | None = None,
          base: str = "") -> dict[str, Any]:
    return {
        "id": cid or new_cid(),
        "format": FORMAT,
        "stack": [],
        "instances": {},
        "history": [],
        "history_limit": history_limit,
        "touched": time.time(),
        "version": 0,
        "owner": owner,
        "principal": principal,
        "mount": mount,
        "base": base,
        "last_url": None,
        "painted": None,
        "ended": False,
        "result": None,
    }


#: Top-level keys that may be absent, and the value an absent one has. (``version``,
#: ``format``, ``stack``, ``instances`` and ``touched`` are always present.)
DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "history": [], "history_limit": DEFAULT_HISTORY_LIMIT, "owner": None, "principal": None, "mount": None,
    "base": "", "last_url": None, "painted": None, "ended": False, "result": None, "step": 0})
#: Keys of 0.2 that nothing reads any more (dropped by :func:`compact`).
_RETIRED = frozenset({"created"})


def compact(conv: dict[str, Any]) -> dict[str, Any]:
    """``conv`` without the keys whose value is their default (or retired): what the runtime holds.

    A new dict, sized for the keys it keeps (a dict with more than ten keys
    takes 464 bytes, with ten or fewer 272); ``conv`` itself when nothing goes.
    """
    drop = [k for k, v in conv.items() if k in _RETIRED or (k in DEFAULTS and same_json(v, DEFAULTS[k]))]
    return {k: v for k, v in conv.items() if k not in drop} if drop else conv


def stored(conv: dict[str, Any]) -> dict[str, Any]:
    """``conv`` as a store gets it: with the ``history`` list every store's shape check requires."""
    if "history" in conv:
        return conv
    return {**conv, "history": []}


def history_limit(conv: Mapping[str, Any]) -> int:
    limit = conv.get("history_limit", DEFAULT_HISTORY_LIMIT)
    return limit if type(limit) is int else DEFAULT_HISTORY_LIMIT


def top(conv: Mapping[str, Any]) -> str | None:
    stack = conv["stack"]
    return stack[-1] if stack else None


def frames(conv: Mapping[str, Any]) -> list[str]:
    """Type names of the frames, bottom first."""
    inst = conv["instances"]
    return [inst[i]["type"] for i in conv["stack"]]


def subtree(instances: Mapping[str, dict[str, Any]], iid: str, include_prev: bool = True) -> list[str]:
    """``iid`` and everything it owns, pre-order: slot children, keyed children, displaced occupants."""
    out: list[str] = []
    todo: list[tuple[str, bool]] = [(iid, include_prev)]  # a stack, not recursion: prev chains grow long
    while todo:
        x, with_prev = todo.pop()
        rec = instances.get(x)
        if rec is None:
            continue
        out.append(x)
        nxt: list[tuple[str, bool]] = [(child, True) for child in rec.get("children", {}).values()]
        for group in rec.get("keyed", {}).values():
            iids = group["iids"]
            nxt.extend((iids[key], True) for key in group["order"])
        if with_prev and rec.get("prev"):
            nxt.append((rec["prev"], True))
        todo.extend(reversed(nxt))
    return out


def undo(conv: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """Apply one history entry: the conversation as it was before that step."""
    out = dict(conv)
    instances = dict(conv["instances"])
    for iid, rec in entry.get("i", {}).items():
        if rec is None:
            instances.pop(iid, None)
        else:
            instances[iid] = rec
    out["instances"] = instances
    if "s" in entry:
        out["stack"] = list(entry["s"])
    for key, value in entry.get("t", {}).items():
        out[key] = value
    return out


def step_of(conv: Mapping[str, Any]) -> int:
    """The label of the step ``conv`` is at (see ``step`` in the module docstring)."""
    step = conv.get("step", 0)
    return step if isinstance(step, int) else 0


def redo_entry(conv: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``entry`` taken on ``conv``: applied with :func:`undo`, it brings ``conv`` back."""
    inst = conv["instances"]
    iids = dict.fromkeys([*entry.get("i", {}), *entry.get("f", {})])
    out: dict[str, Any] = {"i": {iid: inst.get(iid) for iid in iids}}
    if "s" in entry:
        out["s"] = list(conv["stack"])
    if "t" in entry:
        out["t"] = {k: conv.get(k) for k in entry["t"]}
    return out


def with_fields(conv: dict[str, Any], fields: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """``conv`` with form fields typed into instances put back into their state (a step as it was left)."""
    if not fields:
        return conv
    instances = dict(conv["instances"])
    for iid, values in fields.items():
        rec = instances.get(iid)
        if rec is not None and isinstance(rec.get("state"), dict) and values:
            instances[iid] = with_state(rec, {**rec["state"], **values})
    return {**conv, "instances": instances}


def reachable(conv: Mapping[str, Any], step: int) -> bool:
    """Can :func:`travel` reach ``step`` (it is in the history or the redo list)?"""
    return step == step_of(conv) or any(e.get("v") == step for e in conv.get("history") or ()) or any(
        item.get("v") == step for item in conv.get("future") or ())


def travel(conv: Mapping[str, Any], step: int) -> dict[str, Any] | None:
    """The conversation at the step labelled ``step``: back through ``history`` or forward through ``future``.

    Going back moves each undone step to the redo list (``future``); going
    forward moves it back to ``history``. Either way the step arrived at shows
    the fields the user had typed before leaving it. ``None``: no such step
    (older than ``history_limit``, or on a branch a later event discarded).
    """
    history: list[dict[str, Any]] = conv.get("history") or []
    future: list[dict[str, Any]] = list(conv.get("future") or ())
    back = next((k for k in range(len(history) - 1, -1, -1) if history[k].get("v") == step), None)
    out: dict[str, Any] = dict(conv)
    if back is not None:
        for entry in reversed(history[back:]):
            future.append({"u": entry, "r": redo_entry(out, entry), "v": step_of(out)})
            out = undo(out, entry)
            out["step"] = entry.get("v")
        out["history"] = history[:back]
        out["future"] = future
        return with_fields(out, history[back].get("f"))
    ahead = next((k for k in range(len(future) - 1, -1, -1) if future[k].get("v") == step), None)
    if ahead is None:
        return None
    redone = list(history)
    for item in reversed(future[ahead:]):
        out = undo(out, item["r"])
        out["step"] = item["v"]
        redone.append(item["u"])
    out["history"] = redone
    out["future"] = future[:ahead]
    if not out["future"]:
        del out["future"]
    nxt = future[ahead - 1]["u"] if ahead else None  # the step that left this one: what was typed then
    return with_fields(out, nxt.get("f") if nxt is not None else None)


def displayed(conv: Mapping[str, Any], iid: str) -> bool:
    """Is the instance part of what the page shows: the top frame and the children it renders?

    A frame under a dialog, a slot occupant displaced by ``call_in_slot``, or a
    child of either is not: the browser cannot legitimately click it.
    """
    instances = conv["instances"]
    stack = conv["stack"]
    if not stack:
        return False
    top = stack[-1]
    x = iid
    while True:
        rec = instances.get(x)
        if rec is None:
            return False
        kind = rec["kind"]
        if kind == "frame":
            return bool(x == top)
        parent = rec["parent"]
        prec = instances.get(parent)
        if prec is None:
            return False
        if kind != "keyed" and prec.get("children", {}).get(rec.get("slot")) != x:
            return False
        x = parent


def find(conv: Mapping[str, Any], type_name: str) -> Iterable[str]:
    """Instance ids of one type, frames top-down first, then the rest."""
    inst = conv["instances"]
    seen = set()
    for frame in reversed(conv["stack"]):
        for iid in subtree(inst, frame):
            if iid not in seen:
                seen.add(iid)
                if inst[iid]["type"] == type_name:
                    yield iid
    for iid, rec in inst.items():
        if iid not in seen and rec["type"] == type_name:
            yield iid


# -- named record edits (each returns a new record; the old one is never changed) --

#: An empty keyed group: no keys yet.
EMPTY_GROUP: Mapping[str, Any] = {"order": [], "iids": {}, "embeds": {}}


def new_record(type_name: str, state: dict[str, Any], *, parent: str | None, kind: str,
               slot: str | None = None, resume: str | None = None, on_error: str | None = None,
               prev: str | None = None) -> dict[str, Any]:
    """A fresh instance record; optional keys are present only when set."""
    rec: dict[str, Any] = {"type": type_name, "state": state, "parent": parent, "kind": kind}
    if slot is not None:
        rec["slot"] = slot
    if resume:
        rec["resume"] = resume
    if on_error:
        rec["on_error"] = on_error
    if prev:
        rec["prev"] = prev
    return rec


def with_state(rec: Mapping[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "state": state}


def with_child(rec: Mapping[str, Any], slot: str, iid: str) -> dict[str, Any]:
    """``rec`` with ``iid`` in ``slot`` (what ``slot(name)`` renders)."""
    return {**rec, "children": {**rec.get("children", {}), slot: iid}}


def with_children(rec: Mapping[str, Any], children: Mapping[str, str]) -> dict[str, Any]:
    """``rec`` with these slots filled (an instance's eager ``children()``)."""
    return {**rec, "children": {**rec.get("children", {}), **children}}


def without_child(rec: Mapping[str, Any], slot: str, restore: str | None = None) -> dict[str, Any]:
    """``rec`` with ``slot`` given back to ``restore`` (the displaced occupant), or emptied."""
    children = dict(rec.get("children", {}))
    if restore is not None:
        children[slot] = restore
    else:
        children.pop(slot, None)
    new = {**rec, "children": children}
    if not children:
        del new["children"]
    return new


def child(rec: Mapping[str, Any] | None, slot: str | None) -> str | None:
    """The instance in ``slot`` of ``rec`` (``None`` when empty or ``rec`` is gone)."""
    if rec is None or slot is None:
        return None
    return rec.get("children", {}).get(slot)  # type: ignore[no-any-return]


def keyed_group(rec: Mapping[str, Any] | None, slot: str | None) -> Mapping[str, Any]:
    """The keyed group in ``slot`` (``order``, ``iids``, ``embeds``); empty when there is none."""
    if rec is None or slot is None:
        return EMPTY_GROUP
    return rec.get("keyed", {}).get(slot) or EMPTY_GROUP


def with_keyed(rec: Mapping[str, Any], slot: str, group: Mapping[str, Any] | None) -> dict[str, Any]:
    """``rec`` with the keyed group in ``slot`` replaced (``None`` drops it)."""
    groups = dict(rec.get("keyed", {}))
    if group is not None:
        groups[slot] = group
    else:
        groups.pop(slot, None)
    new = {**rec, "keyed": groups}
    if not groups:
        del new["keyed"]
    return new


def with_keyed_entry(group: Mapping[str, Any], key: str, iid: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``group`` with ``key`` now held by ``iid``, built from ``spec``."""
    return {**group, "iids": {**group["iids"], key: iid}, "embeds": {**group["embeds"], key: spec}}


def key_of(group: Mapping[str, Any], iid: str) -> str | None:
    """The key under which ``iid`` sits in a keyed group."""
    return next((k for k, x in group.get("iids", {}).items() if x == iid), None)


def reparented(rec: Mapping[str, Any], parent: str) -> dict[str, Any]:
    """A frame whose caller left: it answers to ``parent`` now, with nobody to resume."""
    new = {k: v for k, v in rec.items() if k not in ("resume", "on_error")}
    new["parent"] = parent
    return new


def shared_root(spec: dict[str, Any], rec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new root's ``root_spec`` and record, the very objects the last root of its type got when equal.

    Most page views of a mount start from the same state, and neither value is
    ever changed in place (records are replaced, ``root_spec`` is copied before
    use), so conversations can share them instead of holding a copy each. The
    record is shared only when its state holds nothing but scalars: renders
    share the stored containers, and a list one user's render appended to must
    not show up in another user's page.
    """
    name = spec["type"]
    hit = _ROOTS.get(name)
    if hit is not None and same_json(hit[0]["state"], spec["state"]):
        spec, canonical = hit
    else:
        state = spec["state"]
        flat = all(type(v) in _SCALARS for v in state.values())
        canonical = new_record(name, state, parent=None, kind="frame") if flat else None
        if len(_ROOTS) >= 256:
            _ROOTS.clear()
        _ROOTS[name] = (spec, canonical)
    if (canonical is not None and rec.keys() == canonical.keys() and rec["type"] == name
            and rec["parent"] is None and rec["kind"] == "frame" and same_json(rec["state"], canonical["state"])):
        rec = canonical
    return spec, rec


#: ``type name -> (root_spec, shareable record or None)`` of the last root minted of each type.
_ROOTS: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
_SCALARS = (str, int, float, bool, type(None))


def frame_spec(embed: Component) -> dict[str, Any]:
    """What a keyed group remembers of an embed: type and state (a changed spec rebuilds the child)."""
    return {"type": type(embed)._stube_type, "state": capture_json(embed)}
