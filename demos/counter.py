"""Counter: the smallest stube component, reused by the multicounter and tabs demos."""

from __future__ import annotations

from stube import Component, event


class Counter(Component):
    """A number with − and + buttons; its whole state is ``n``."""

    name = "demo.counter"
    template = "demos/counter.html"

    def __init__(self, n: int = 0) -> None:
        self.n = n

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def dec(self) -> None:
        self.n -= 1


class CounterPage(Component):
    """The ``/counter`` page: a heading, a counter, and a word on what happens."""

    name = "demo.counter-page"
    template = "demos/counter_page.html"

    def children(self) -> dict[str, Component]:
        return {"counter": Counter(0)}
