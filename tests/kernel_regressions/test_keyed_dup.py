"""A keyed child whose start() fills its own keyed list is sent twice: inside its
INSERT html and again as per-grandchild INSERTs (duplicate ids in the DOM)."""
from typing import Any

from stube import Component, call_in_slot, event, set_keyed_children
from stube.testing import Harness
from tests.components import Group, Leaf


class Board(Component):
    template_string = ('<div {{ root() }}>{{ keyed("groups") }}'
                       '{% if has_slot("panel") %}{{ slot("panel") }}{% endif %}</div>')

    def __init__(self) -> None:
        self.keys = []

    def children(self):
        return {"panel": Leaf("placeholder")}

    @event
    def add(self) -> Any:
        self.keys.append(len(self.keys))
        return set_keyed_children("groups", [(k, Group()) for k in self.keys])

    @event
    def open(self) -> Any:
        return call_in_slot("panel", Group(3))


def _ids_sent(frags) -> list[str]:
    import re
    html = "".join(f.html for f in frags)
    return re.findall(r'<i id="(ix-[0-9a-f]+)"', html)


def test_new_keyed_child_with_own_keyed_list_is_not_sent_twice() -> None:
    h = Harness(Board())
    frags = h.dispatch("add")
    ids = _ids_sent(frags)
    assert len(ids) == len(set(ids)), [(f.kind, f.mode, f.target) for f in frags]


def test_call_in_slot_child_with_own_keyed_list_is_not_sent_twice() -> None:
    h = Harness(Board())
    frags = h.dispatch("open")
    ids = _ids_sent(frags)
    assert len(ids) == len(set(ids)), [(f.kind, f.mode, f.target) for f in frags]
