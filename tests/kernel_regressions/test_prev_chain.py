"""Each call_in_slot() into an occupied slot keeps the displaced occupant (Seaside
semantics). subtree() walks that chain recursively, so a long-lived panel that
opens a detail view per click without closing the previous one breaks after
~1000 clicks: every later removal/ending of that subtree raises RecursionError."""
from typing import Any

from stube import Component, call_in_slot, end, event
from stube.testing import Harness


class Detail(Component):
    template_string = '<p {{ root() }}>{{ self.row }}</p>'

    def __init__(self, row: int = 0) -> None:
        self.row = row


class Master(Component):
    template_string = '<div {{ root() }}>{% if has_slot("detail") %}{{ slot("detail") }}{% endif %}</div>'

    @event
    def show(self, row: int) -> Any:
        return call_in_slot("detail", Detail(row))

    @event
    def quit(self) -> Any:
        return end("bye")


def test_long_prev_chain() -> None:
    h = Harness(Master())
    for i in range(1100):
        h.dispatch("show", row=i)
        assert h.error is None
    h.dispatch("quit")
    assert h.error is None, repr(h.error)
    assert h.ended
