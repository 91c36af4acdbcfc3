"""Components shared by the kernel tests (one copy instead of one per file), and small helpers."""

from __future__ import annotations

from typing import Any

from stube import Component, answer, event, set_keyed_children
from stube.testing import Harness


class Counter(Component):
    """A number and two ways to change it."""

    template_string = '<div {{ root() }}><span class="n">{{ self.n }}</span></div>'

    def __init__(self, n: int = 0) -> None:
        self.n = n

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def add(self, amount: int) -> None:
        self.n += amount


class Confirm(Component):
    """A yes/no dialog: answers ``True`` or ``False``."""

    template_string = '<div {{ root() }}><p class="q">{{ self.q }}</p></div>'

    def __init__(self, q: str = "Sure?") -> None:
        self.q = q

    @event
    def yes(self) -> Any:
        return answer(True)

    @event
    def no(self) -> Any:
        return answer(False)


class Leaf(Component):
    """A labelled ``<i>``: the smallest keyed or slot child."""

    template_string = '<i {{ root() }}>{{ self.label }}</i>'

    def __init__(self, label: str = "") -> None:
        self.label = label


class Group(Component):
    """A keyed list of ``n`` leaves, filled by its own ``start()``."""

    template_string = '<section {{ root() }}>{{ keyed("leaves") }}</section>'

    def __init__(self, n: int = 2) -> None:
        self.n = n

    def start(self) -> Any:
        return set_keyed_children("leaves", [(i, Leaf(f"leaf{i}")) for i in range(self.n)])


def debugging(h: Harness) -> Harness:
    """``h`` with banners that show the exception text (``Env(debug=True)``) from now on."""
    h.env.debug = True
    return h
