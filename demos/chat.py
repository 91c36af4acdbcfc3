"""Chat: every open ``/chat`` tab sees every message, through pub/sub.

Sending keeps the message in a small process-wide list (so a new tab starts
with recent history), shows it locally at once, and publishes it with
``io(...)`` so the fan-out runs after the handler. Each tab subscribes in
``start()``, resubscribes in ``wakeup()`` (subscriptions are not persisted)
and drops duplicates by message id.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from stube import Component, event, io, subscribe, unsubscribe
from stube.effects import Io, Subscribe, Unsubscribe

TOPIC = "demo.chat"
KEEP = 30

_recent: list[dict[str, Any]] = []
_lock = threading.Lock()


def recent() -> list[dict[str, Any]]:
    """The last :data:`KEEP` messages of this process, oldest first."""
    with _lock:
        return [dict(m) for m in _recent]


def remember(msg: dict[str, Any]) -> None:
    with _lock:
        _recent.append(dict(msg))
        del _recent[:-KEEP]


def clear() -> None:
    """Forget the process-wide history (tests)."""
    with _lock:
        _recent.clear()


def _publish(msg: dict[str, Any]) -> int:
    import stube  # the runtime's publish; imported late so this module loads without it

    return stube.publish(TOPIC, msg)


class Chat(Component):
    """The chat card. ``name`` and ``text`` are form fields lifted before ``send``."""

    name = "demo.chat"
    template = "demos/chat.html"
    fields = ("name", "text")

    def __init__(self) -> None:
        self.name = "Ada"
        self.text = ""
        self.sent = 0
        self.messages = recent()

    def start(self) -> Subscribe:
        return subscribe(TOPIC, "on_message")

    def wakeup(self) -> Subscribe:
        for msg in recent():
            self._add(msg)
        return subscribe(TOPIC, "on_message")

    def stop(self) -> Unsubscribe:
        return unsubscribe(TOPIC)

    @event
    def send(self) -> Io | None:
        text = (self.text or "").strip()
        if not text:
            return None
        msg = {
            "id": uuid.uuid4().hex,
            "name": (self.name or "").strip()[:40] or "Anonymous",
            "text": text[:500],
            "at": time.strftime("%H:%M:%S"),
        }
        remember(msg)
        self._add(msg)
        self.text = ""
        self.sent += 1  # a fresh input element, so the browser clears what was typed
        return io(lambda: _publish(msg))

    def on_message(self, msg: dict[str, Any]) -> None:
        """Delivered by ``stube.publish`` (not an ``@event``: the browser cannot forge one)."""
        if isinstance(msg, dict) and {"id", "name", "text"} <= msg.keys():
            self._add({k: str(msg.get(k, "")) for k in ("id", "name", "text", "at")})

    def _add(self, msg: dict[str, Any]) -> None:
        if any(m["id"] == msg["id"] for m in self.messages):
            return
        self.messages = (self.messages + [msg])[-KEEP:]
