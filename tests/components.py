"""Components shared by the kernel tests (one copy instead of one per file), and small helpers."""

from __future__ import annotations

from typing import Any

from stube import Component, answer, end, event, set_keyed_children
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


class WebCounter(Counter):
    """The HTTP tests' counter: +1, +10, an end, a crash, and who the principal is."""

    name = "http/counter"
    template_string = """<div {{ root() }}><form>
<button {{ on("inc") }}>+</button><span class="n">{{ self.n }}</span>
<button {{ on("add", amount=10) }}>+10</button><button {{ on("finish") }}>Done</button>
</form><p class="who">{{ principal() }}</p></div>"""

    @event
    def finish(self):  # type: ignore[no-untyped-def]
        return end(self.n)

    def on_ok(self, value: Any) -> None:  # a resume method: never reachable from the browser
        self.n = -1

    @event
    def boom(self) -> None:
        raise RuntimeError("kaboom")


def debugging(h: Harness) -> Harness:
    """``h`` with banners that show the exception text (``Env(debug=True)``) from now on."""
    h.env.debug = True
    return h
