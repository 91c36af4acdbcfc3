"""Variant of the keyed duplicate bug: a new keyed child whose start() does
call_in_slot() into its occupied eager slot. Its INSERT already carries the new
slot child, then a second fragment morphs the *displaced* occupant, which is not
on the page at all (htmx: target not found)."""
from typing import Any

from stube import Component, call_in_slot, event, set_keyed_children
from stube.testing import Harness
from tests.components import Leaf
from tests.kernel_regressions.minidom import Dom


class Card(Component):
    template_string = '<section {{ root() }}>{{ slot("body") }}</section>'

    def children(self):
        return {"body": Leaf("loading")}

    def start(self) -> Any:
        return call_in_slot("body", Leaf("editor"))


class List(Component):
    template_string = '<div {{ root() }}>{{ keyed("cards") }}</div>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def add(self) -> Any:
        self.n += 1
        return set_keyed_children("cards", [(i, Card()) for i in range(self.n)])


def test_fragments_apply_cleanly() -> None:
    h = Harness(List())
    cid = h.conversation["id"]
    dom = Dom(cid, h.html())
    frags = h.dispatch("add")
    dom.apply(frags, cid)            # raises when a fragment's target is not on the page
    assert dom.html() == Dom(cid, h.html()).html()
