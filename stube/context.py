"""Ambient context: what handlers, hooks, templates and flows may read.

``stube.app()``, ``stube.principal()`` and ``stube.conversation_id()`` read a
context variable the kernel sets around every dispatch and render. Outside
one they return ``None``. Greenlet flows carry their own ``contextvars``
context, so the same readers work inside ``ask()``-based code.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator


@dataclass(frozen=True, slots=True)
class Ambient:
    app: Any = None
    principal: Any = None
    cid: str | None = None


_ambient: ContextVar[Ambient] = ContextVar("stube_ambient", default=Ambient())


def app() -> Any:
    """Host dependencies given to ``Stube(app=...)`` (never persisted)."""
    return _ambient.get().app


def principal() -> Any:
    """Who the conversation belongs to, computed once at mint by ``principal=fn(request)``."""
    return _ambient.get().principal


def conversation_id() -> str | None:
    """The id of the conversation being dispatched or rendered."""
    return _ambient.get().cid


def current() -> Ambient:
    return _ambient.get()


@contextlib.contextmanager
def ambient(app: Any = None, principal: Any = None, cid: str | None = None) -> Iterator[Ambient]:
    """Bind the readers above for the duration of a block."""
    value = Ambient(app, principal, cid)
    token = _ambient.set(value)
    try:
        yield value
    finally:
        _ambient.reset(token)
