"""stube: server-driven web components for Starlette and htmx.

Components call each other and answer like functions; flows write the same
thing as straight-line code; the whole visit is a JSON value that every event
folds into its next value.
"""

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
from .kernel import Event, dispatch
from .render import Templates

__version__ = "0.1.0"

__all__ = [
    "BadPayload",
    "Component",
    "EffectError",
    "Event",
    "FlowDiverged",
    "FlowError",
    "StateError",
    "StubeError",
    "Templates",
    "UnknownEvent",
    "after",
    "answer",
    "answer_error",
    "app",
    "back",
    "call",
    "call_in_slot",
    "conversation_id",
    "dispatch",
    "dispatch_to",
    "end",
    "event",
    "execute_script",
    "history",
    "io",
    "patch",
    "principal",
    "replace",
    "set_keyed_children",
    "subscribe",
    "unsubscribe",
]
