"""The conversation value and the pure helpers that read it.

A conversation is one user's visit to one mounted root: a JSON-serialisable
dict. Its keys::

    id            "cv-..." (random, URL-safe)
    format        shape version of this dict
    stack         instance ids of the frames, bottom (root) first
    instances     {iid: record}; records are never mutated, only replaced
    history       undo entries, newest last, at most history_limit of them
    history_limit bound on history
    created, touched   unix seconds: minted, last browser activity (the runtime
                  sets ``touched``; the reaper ends conversations idle too long)
    version       count of committed changes (stores use it as a version)
    owner         hash of the browser session that minted it (or None)
    principal     who it belongs to, fixed at mint
    mount, base   the page path it was minted for and the app's URL prefix
    last_url      the root's last url() projection
    painted       the frame the page currently shows
    root_spec     the root's type and initial state, as mounted ("Start again" rebuilds it)
    ended, result set when the conversation finishes

A record is ``{"type", "state", "parent", "kind", ...}`` where ``kind`` is
``frame`` (on the stack; ``parent`` is its caller), ``eager`` (a
``children()`` slot), ``slot`` (a ``call_in_slot`` child, with ``prev``, the
occupant it displaced) or ``keyed``; ``children`` maps slot names to ids and
``keyed`` holds ordered keyed lists.

History entries are undo logs: the records (and stack) a step replaced, so a
step costs what it changed and unchanged records are shared between steps.

Records are edited only through the named edits at the end of this module
(``with_child``, ``without_child``, ``with_keyed``, ...): each returns a new
record and leaves the old one as it was (the undo log keeps it).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .component import Component, capture_json

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
    now = time.time()
    return {
        "id": cid or new_cid(),
        "format": FORMAT,
        "stack": [],
        "instances": {},
        "history": [],
        "history_limit": history_limit,
        "created": now,
        "touched": now,
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


def frame_spec(embed: Component) -> dict[str, Any]:
    """What a keyed group remembers of an embed: type and state (a changed spec rebuilds the child)."""
    return {"type": type(embed)._stube_type, "state": capture_json(embed)}
