"""Carrying one session's stash over to another (a session id rotated at sign-in)."""

from __future__ import annotations

from .actor import Stash, Views, _same

__all__ = ["move"]


async def move(stash: Stash, source: str, target: str) -> bool:
    """Carry session ``source``'s views over to session ``target``, then delete ``source``'s.

    A view both hold keeps ``target``'s slice (with the same ``vsn``, the two data
    dicts merge and ``target``'s keys win). Each step is one durable write on its
    session's actor. ``True`` if ``source`` had anything to carry.
    """
    src, dst = stash.key_for(source), stash.key_for(target)
    if src == dst:
        return False
    views: Views = await stash.read(src, lambda v: v)  # slices are replaced on write, never mutated
    if not views:
        return False

    def merge(cur: Views) -> Views | None:
        out = dict(views)
        for name, mine in cur.items():
            theirs = out.get(name)
            if theirs is not None and theirs["vsn"] == mine["vsn"]:
                mine = {"vsn": mine["vsn"], "data": {**theirs["data"], **mine["data"]}}
            out[name] = mine
        return None if _same(out, cur) else out

    await stash.update(dst, merge)
    await stash.update(src, lambda cur: {} if cur else None)
    return True
