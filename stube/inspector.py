"""The inspector's view of a conversation: what one instance is, holds and was.

Debug-only (``Stube(debug=True)``). The conversation is plain data, so the
inspector is a pure reading of it: no hooks into the kernel, nothing that can
change state. The HTTP layer checks the session and renders the result with
``templates/stube/inspector.html``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import conversation as cv


@dataclass(frozen=True, slots=True)
class Step:
    """The instance's state after one step of the conversation's history (newest first)."""

    back: int                  # 0 is now, 1 the step before, ...
    state: str | None          # pretty JSON; None when the instance did not exist then
    changed: bool              # did this step change the instance's record?
    oldest: bool = False       # the oldest step remembered: what changed it is no longer known


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything the inspector panel shows for one instance."""

    cid: str
    iid: str
    type: str
    kind: str
    parent: str | None
    state: str
    slots: list[tuple[str, str, str]] = field(default_factory=list)          # (slot, iid, type)
    keyed: list[tuple[str, list[tuple[str, str, str]]]] = field(default_factory=list)  # (slot, [(key, iid, type)])
    frames: list[tuple[str, str]] = field(default_factory=list)              # (iid, type), bottom first
    steps: list[Step] = field(default_factory=list)


def pretty(value: Any) -> str:
    """State as the user wrote it: indented JSON, keys in their order."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def inspect(conv: Mapping[str, Any], iid: str) -> Inspection | None:
    """Describe instance ``iid`` of ``conv``; ``None`` when the conversation has no such instance."""
    instances: Mapping[str, dict[str, Any]] = conv["instances"]
    rec = instances.get(iid)
    if rec is None:
        return None
    slots = [(name, child, _type(instances, child)) for name, child in rec.get("children", {}).items()]
    keyed = [
        (slot, [(key, group["iids"][key], _type(instances, group["iids"][key])) for key in group["order"]])
        for slot, group in rec.get("keyed", {}).items()
    ]
    frames = [(f, _type(instances, f)) for f in conv["stack"]]
    return Inspection(
        cid=conv["id"], iid=iid, type=rec["type"], kind=rec["kind"], parent=rec.get("parent"),
        state=pretty(rec["state"]), slots=slots, keyed=keyed, frames=frames, steps=history(conv, iid),
    )


def history(conv: Mapping[str, Any], iid: str) -> list[Step]:
    """The instance at each step the conversation remembers, newest first.

    Walks the undo log backwards; a step whose record is the very object of the
    step after it did not touch the instance (records are replaced, never
    mutated), so the panel dims it.
    """
    steps: list[Step] = []
    here: Mapping[str, Any] = conv
    for back, entry in enumerate(reversed(conv.get("history", []))):
        before = cv.undo(here, entry)
        now, then = here["instances"].get(iid), before["instances"].get(iid)
        steps.append(Step(back, pretty(now["state"]) if now is not None else None, now is not then))
        here = before
    rec = here["instances"].get(iid)
    steps.append(Step(len(steps), pretty(rec["state"]) if rec is not None else None, False, oldest=True))
    return steps


def _type(instances: Mapping[str, dict[str, Any]], iid: str) -> str:
    rec = instances.get(iid)
    return rec["type"] if rec is not None else "?"
