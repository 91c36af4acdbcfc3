"""Shared counter: one process-wide number, live in every open tab.

A click changes the shared value and publishes it (through ``io``, so the
fan-out happens after the handler). Two eager children subscribe to the same
topic: the counter shows the value, the report lists recent broadcasts.
Subscriptions are not persisted, so both resubscribe in ``wakeup()``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from stube import Component, event, io, subscribe, unsubscribe
from stube.effects import Io, Subscribe, Unsubscribe

TOPIC = "demo.shared-counter"
REPORT_SIZE = 8

_value = 0
_lock = threading.Lock()


def current() -> int:
    with _lock:
        return _value


def bump(delta: int) -> int:
    """Change the shared value atomically and return the new one."""
    global _value
    with _lock:
        _value += delta
        return _value


def reset() -> None:
    """Back to zero (tests)."""
    global _value
    with _lock:
        _value = 0


def _publish(msg: dict[str, Any]) -> int:
    import stube  # the runtime's publish; imported late so this module loads without it

    return stube.publish(TOPIC, msg)


class SharedCounter(Component):
    """Shows the shared value and who changed it last."""

    name = "demo.shared-counter.counter"
    template = "demos/shared_counter_counter.html"

    def __init__(self) -> None:
        self.value = current()
        self.last = "initial"

    def start(self) -> Subscribe:
        return subscribe(TOPIC, "on_message")

    def wakeup(self) -> Subscribe:
        self.value = current()
        return subscribe(TOPIC, "on_message")

    def stop(self) -> Unsubscribe:
        return unsubscribe(TOPIC)

    def _change(self, delta: int) -> Io:
        self.value = bump(delta)
        self.last = "this tab"
        msg = {"value": self.value, "source": self.iid, "at": time.strftime("%H:%M:%S")}
        return io(lambda: _publish(msg))

    @event
    def inc(self) -> Io:
        return self._change(1)

    @event
    def dec(self) -> Io:
        return self._change(-1)

    def on_message(self, msg: dict[str, Any]) -> None:
        """A broadcast from any tab, this one included."""
        if not isinstance(msg, dict) or not isinstance(msg.get("value"), int):
            return
        self.value = msg["value"]
        self.last = "this tab" if msg.get("source") == self.iid else "another tab"


class BroadcastReport(Component):
    """The last few broadcasts this tab has seen."""

    name = "demo.shared-counter.report"
    template = "demos/shared_counter_report.html"

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def start(self) -> Subscribe:
        return subscribe(TOPIC, "on_message")

    def wakeup(self) -> Subscribe:
        return subscribe(TOPIC, "on_message")

    def stop(self) -> Unsubscribe:
        return unsubscribe(TOPIC)

    def on_message(self, msg: dict[str, Any]) -> None:
        if not isinstance(msg, dict):
            return
        entry = {"value": msg.get("value"), "source": str(msg.get("source", "?")), "at": str(msg.get("at", ""))}
        self.seen = [entry, *self.seen][:REPORT_SIZE]


class SharedCounterPage(Component):
    """The ``/shared-counter`` page: the counter and the report side by side."""

    name = "demo.shared-counter"
    template = "demos/shared_counter.html"

    def children(self) -> dict[str, Component]:
        return {"counter": SharedCounter(), "report": BroadcastReport()}
