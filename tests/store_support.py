"""Real conversations for the store tests and benchmarks, built with the Harness."""

from __future__ import annotations

import copy
from typing import Any

from stube import Component, answer, call, event
from stube.conversation import new_cid
from stube.testing import Harness


class Confirm(Component):
    name = "store-tests/confirm"
    template_string = '<div {{ root() }}>{{ self.question }} <button {{ on("yes") }}>Yes</button></div>'

    def __init__(self, question: str) -> None:
        self.question = question

    @event
    def yes(self) -> Any:
        return answer(True)


class Counter(Component):
    name = "store-tests/counter"
    template_string = (
        '<div {{ root() }}><span class="count">{{ self.n }}</span>'
        '<button {{ on("inc") }}>+</button><button {{ on("reset") }}>reset</button></div>'
    )

    def __init__(self, n: int = 0, notes: list[str] | None = None) -> None:
        self.n = n
        self.notes = notes or []

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def add(self, amount: int, note: str = "") -> None:
        self.n += amount
        if note:
            self.notes.append(note)

    @event
    def reset(self) -> Any:
        return call(Confirm("Reset the counter?"), resume="on_reset")

    def on_reset(self, ok: bool) -> None:
        if ok:
            self.n = 0


def counter_conversation(events: int = 3) -> dict[str, Any]:
    """A counter conversation after ``events`` increments, a call and its answer: real kernel output."""
    h = Harness(Counter(n=1))
    for _ in range(events):
        h.dispatch("inc")
    h.dispatch("add", amount=5, note="ünïcode ✓ \"quoted\" </script>")
    h.dispatch("reset")
    assert h.frames == ["store-tests/confirm", "store-tests/counter"][::-1]
    h.dispatch("yes")
    h.dispatch("inc")
    assert h.top.n == 1
    return h.conversation


def big_conversation(note_size: int) -> dict[str, Any]:
    """A conversation whose state carries ``note_size`` characters, for slow writes."""
    h = Harness(Counter(n=0))
    h.dispatch("add", amount=1, note="x" * note_size)
    h.dispatch("inc")
    return h.conversation


def clone(conv: dict[str, Any], cid: str | None = None, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``conv`` under a fresh id (or ``cid``), with top-level ``changes``."""
    out = copy.deepcopy(conv)
    out["id"] = cid or new_cid()
    out.update(changes)
    return out
