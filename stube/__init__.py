"""stube: server-driven web components for Starlette and htmx.

Components call each other and answer like functions; flows write the same
thing as straight-line code; the whole visit is a JSON value that every event
folds into its next value.
"""

from typing import Any

from . import ui
from .bus import LocalBus
from .component import Component, event
from .context import app, conversation_id, principal
from .effects import (
    after,
    answer,
    answer_error,
    back,
    call,
    call_in_slot,
    dispatch_to,
    end,
    execute_script,
    history,
    io,
    patch,
    replace,
    set_keyed_children,
    subscribe,
    unsubscribe,
)
from .errors import BadPayload, EffectError, FlowDiverged, FlowError, StateError, StubeError, UnknownEvent
from .flows import AskFailed, ask, flow, remember
from .http import Stube  # noqa: E402  (the module is stube.http; stube.app() stays the reader)
from .kernel import Event, dispatch
from .render import Templates
from .rotate import rotate_session
from .runtime import publish
from .stash import FileStashStore, InMemoryStashStore, SessionStash, Stash, StashConflict, StashStore
from .stash.sqlite import SQLiteStashStore
from .store import ConversationStore, FileStore, InMemoryStore, StaleWrite
from .store.sqlite import SQLiteStore
from .ui import CANCEL

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Redis backends load on first use, so the ``redis`` package stays optional."""
    if name == "RedisStore":
        from .redis_store import RedisStore

        return RedisStore
    if name == "RedisBus":
        from .bus import RedisBus

        return RedisBus
    if name == "RedisStashStore":
        from .stash_redis import RedisStashStore

        return RedisStashStore
    raise AttributeError(f"module 'stube' has no attribute {name!r}")


__all__ = [
    "AskFailed",
    "CANCEL",
    "BadPayload",
    "Component",
    "ConversationStore",
    "EffectError",
    "Event",
    "FileStashStore",
    "FileStore",
    "FlowDiverged",
    "FlowError",
    "InMemoryStashStore",
    "InMemoryStore",
    "LocalBus",
    "RedisBus",
    "RedisStashStore",
    "RedisStore",
    "SQLiteStashStore",
    "SQLiteStore",
    "SessionStash",
    "StaleWrite",
    "Stash",
    "StashConflict",
    "StashStore",
    "StateError",
    "Stube",
    "StubeError",
    "Templates",
    "UnknownEvent",
    "after",
    "answer",
    "answer_error",
    "app",
    "ask",
    "back",
    "call",
    "call_in_slot",
    "conversation_id",
    "dispatch",
    "dispatch_to",
    "end",
    "event",
    "execute_script",
    "flow",
    "history",
    "io",
    "patch",
    "principal",
    "publish",
    "remember",
    "replace",
    "rotate_session",
    "set_keyed_children",
    "subscribe",
    "ui",
    "unsubscribe",
]
