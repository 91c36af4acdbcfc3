"""Exceptions that are part of stube's public API."""

from __future__ import annotations

from typing import Any


def error_message(error: Any) -> str:
    """The text shown for an error value: its message, or its class name when it has none."""
    if isinstance(error, BaseException):
        return str(error) or type(error).__name__
    return str(error)


class StubeError(Exception):
    """Base class for errors stube raises on purpose."""


class UnknownEvent(StubeError, LookupError):
    """An event name that is not an ``@event`` method of its target instance.

    The HTTP layer answers 404. Nothing in the conversation changes. The
    message names the class, the event asked for and the class's events;
    ``cls``, ``event`` and ``events`` carry the same facts for code.
    """

    def __init__(self, message: str, *, cls: str | None = None, event: str | None = None,
                 events: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.cls = cls
        self.event = event
        self.events = events


class BadPayload(StubeError, ValueError):
    """A payload value that cannot be converted, or a missing required one (HTTP 400)."""


class StateError(StubeError, TypeError):
    """Component state that is not JSON: names the class and the attribute."""


class EffectError(StubeError, RuntimeError):
    """An effect that cannot be applied where it was emitted (e.g. an embedded child answering)."""


class FlowDiverged(StubeError, RuntimeError):
    """A durable flow's replay asked for something other than its log recorded."""


class FlowError(StubeError, RuntimeError):
    """Misuse of flows: ``ask()`` outside a flow, resuming from another thread, and so on."""


class NotSaved(StubeError, RuntimeError):
    """The store could not save a conversation, so the event was not applied.

    The live conversation went back to its last durable value; the HTTP layer
    answers 503 with ``Retry-After`` ("not saved, try again"). ``cid`` names it.
    """

    def __init__(self, cid: str) -> None:
        super().__init__(f"conversation {cid} was not saved; nothing changed, try again")
        self.cid = cid
