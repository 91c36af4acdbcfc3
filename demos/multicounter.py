"""Multicounter: three counters in a keyed list; a click re-renders only its own counter."""

from __future__ import annotations

from stube import Component, set_keyed_children
from stube.effects import SetKeyedChildren

from .counter import Counter


class Multicounter(Component):
    """Keyed children set from ``start()``, so the first paint already holds all three."""

    name = "demo.multicounter"
    template = "demos/multicounter.html"

    def __init__(self, starts: list[int] | None = None) -> None:
        self.starts = list(starts) if starts is not None else [0, 5, 10]

    def start(self) -> SetKeyedChildren:
        return set_keyed_children("counters", [(i, Counter(n)) for i, n in enumerate(self.starts)])
