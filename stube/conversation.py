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
    ended, result set when the conversation finishes

A record is ``{"type", "state", "parent", "kind", ...}`` where ``kind`` is
``frame`` (on the stack; ``parent`` is its caller), ``eager`` (a
``children()`` slot), ``slot`` (a ``call_in_slot`` child, with ``prev``, the
occupant it displaced) or ``keyed``; ``children`` maps slot names to ids and
``keyed`` holds ordered keyed lists.

History entries are undo logs: the records (and stack) a step replaced, so a
step costs what it changed and unchanged records are shared between steps.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

FORMAT = 1
DEFAULT_HISTORY_LIMIT = 50

CID_RE = re.compile(r"cv-[A-Za-z0-9_-]{8,64}")
IID_RE = re.compile(r"ix-[a-f0-9]{6,32}")


def new_cid() -> str:
    """A random conversation id: never collides with one restored from a store."""
    return "cv-" + secrets.token_urlsafe(12)


def new_iid(taken: Mapping[str, Any] | set[str]) -> str:
    while True:
        iid = "ix-" + secrets.token_hex(5)
        if iid not in taken:
            return iid


def valid_cid(cid: str) -> bool:
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


def subtree(instances: Mapping[str, dict], iid: str, include_prev: bool = True) -> list[str]:
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
            return x == top
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
