"""What a host (the runtime, a Harness) asks of flows: free continuations, and may this be saved?

A live, non-durable continuation (a greenlet or a generator) cannot be
serialised. :func:`saveable` is the runtime's save guard (every store gets the
same guarantee without importing flows); :func:`live_continuations` names the
instances for its warning; :func:`release` frees continuations of instances
that left, of a conversation the host forgets, or of everything at shutdown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from ..component import lookup
from .component import FlowComponent
from .live import _Live

#: The ``flow`` state values of flows whose continuation lives only in memory.
_IN_MEMORY = ("greenlet", "generator")


class _HoldsLive(Protocol):
    """The kernel's ``Env``, as far as releasing continuations goes."""

    live: dict[Any, Any]


def release(env: _HoldsLive, cid: str | None, iids: Iterable[str] | None = None) -> None:
    """Free flow continuations held in ``env.live``.

    ``release(env, cid, out.removed)`` after every committed fold: instances
    that left the conversation (``stop`` already ended the continuation of a
    flow removed by answer/replace/end; this also covers instances that vanish
    without ``stop``, e.g. ``back()`` rewinding past them, and drops the
    in-memory log). ``release(env, cid)`` frees a whole conversation the host
    forgets; ``release(env, None)`` frees everything (shutdown).
    """
    live = env.live
    if not live:
        return
    if iids is not None:
        keys: Iterable[Any] = [(cid, iid) for iid in iids]
    elif cid is not None:
        keys = [k for k in live if isinstance(k, tuple) and len(k) == 2 and k[0] == cid]
    else:
        keys = [k for k, v in live.items() if isinstance(v, _Live)]
    for key in keys:
        entry = live.pop(key, None)
        if isinstance(entry, _Live):
            entry.kill()


def _in_memory(conv: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for iid, rec in conv["instances"].items():
        state = rec.get("state")
        if type(state) is not dict or state.get("flow") not in _IN_MEMORY or state.get("error"):
            continue
        try:
            cls = lookup(rec["type"])
        except LookupError:
            cls = None  # a type this process does not know: assume the worst
        if cls is not None and not (issubclass(cls, FlowComponent) and not cls._flow_durable):
            continue
        yield iid, rec["type"]


def live_continuations(conv: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(iid, flow type name)`` for every instance holding a live, unserialisable continuation.

    Non-durable flows that are running are listed; durable flows (their log is
    in their state) and flows showing an error (they hold no continuation) are not.
    """
    return list(_in_memory(conv))


def saveable(conv: Mapping[str, Any]) -> bool:
    """May ``conv`` be saved? Not while it holds a live, non-durable flow continuation.

    Saving one anyway would be harmless (its state is JSON; restored, the flow
    shows "progress lost"), but the live conversation could no longer move to
    another process or survive a restart, so hosts skip the save and warn.
    """
    return next(_in_memory(conv), None) is None
