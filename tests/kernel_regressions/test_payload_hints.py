"""With `from __future__ import annotations`, one unresolvable annotation (a
TYPE_CHECKING-only import, typically in the return type) makes get_type_hints()
fail, and then *every* parameter silently receives str instead of its type."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stube import Component, event, kernel
from stube.kernel import Event
from stube.testing import Harness

if TYPE_CHECKING:
    from stube.effects import Effect


class Counter(Component):
    template_string = '<div {{ root() }}>{{ self.n }}</div>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def add(self, amount: int) -> Effect | None:
        self.n += amount
        return None


def test_int_annotation_is_honoured_when_return_annotation_is_type_checking_only() -> None:
    h = Harness(Counter())
    iid = h.conversation["stack"][-1]
    out = kernel.run(h.conversation, Event(iid, "add", {"amount": "10"}, convert=True), h.env)
    h._take(out)
    assert h.error is None, h.error
    assert h.top.n == 10
