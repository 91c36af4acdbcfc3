"""DESIGN: "A handle() catch-all only receives names that are not attributes of
the class." resolve() uses getattr(cls, name, None), so a class attribute whose
value is None (template, template_string, FlowComponent.error, any `x = None`
default) is treated as missing and routed to handle()."""
from typing import Any

import pytest

from stube import Component, UnknownEvent
from stube.testing import Harness


class Catch(Component):
    template_string = '<div {{ root() }}>{{ self.seen }}</div>'
    selected: str | None = None          # an ordinary class-level default

    def __init__(self) -> None:
        self.seen = []

    def handle(self, name: str, **payload: Any) -> None:
        self.seen = self.seen + [name]


def test_class_attribute_names_do_not_reach_handle() -> None:
    h = Harness(Catch())
    for name in ("template", "selected"):
        with pytest.raises(UnknownEvent):
            h.dispatch(name)
    assert h.top.seen == []
