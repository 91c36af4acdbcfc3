"""Checking a stored flow log against today's code, in a test (re-exported by :mod:`stube.testing`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .component import FlowComponent
from .live import DONE, _Live, new_token


@dataclass(frozen=True, slots=True)
class Replay:
    """What :func:`replay_flow` found: the flow finished with ``result``, or waits for ``next``."""

    finished: bool
    result: Any
    #: The component spec (or ``io`` effect) the flow asks for after the log.
    next: Any
    #: Log entries consumed.
    steps: int


def replay_flow(flow: type[FlowComponent], log: Sequence[list[Any]], *args: Any, **kwargs: Any) -> Replay:
    """Replay a stored log against today's flow code; :class:`~stube.FlowDiverged` if it no longer fits.

    ::

        stored = h.conversation["instances"][iid]["state"]
        replay_flow(checkout, stored["log"], *stored.get("args", []), **stored.get("kwargs", {}))

    ``io`` functions are never called for logged steps; ``remember`` returns
    the logged values. Keep a few real logs in your tests so a code change
    that would strand users mid-flow fails a test first.
    """
    if not (isinstance(flow, type) and issubclass(flow, FlowComponent) and flow is not FlowComponent):
        raise TypeError(f"replay_flow() needs a @flow, got {flow!r}")
    if flow._flow_signature is not None:
        flow._flow_signature.bind(*args, **kwargs)
    entries = [list(e) if isinstance(e, tuple) else e for e in log]
    live = _Live(flow, new_token(), None)
    live.replay, live.cursor = entries, 0
    try:
        kind, payload = live.replay_to(live.begin(args, kwargs))
        if kind == DONE:
            return Replay(True, payload, None, live.cursor)
        return Replay(False, None, payload, live.cursor)
    finally:
        live.kill()
