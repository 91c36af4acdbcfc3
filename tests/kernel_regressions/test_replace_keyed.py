"""replace() returned by a keyed (or eager) child climbs to the enclosing frame and
replaces the whole page: the list, its siblings and the parent's state are
stopped and discarded. answer() from the same place is refused with a clear
EffectError; replace() should either swap just that child or be refused too."""
from typing import Any

from stube import Component, event, replace, set_keyed_children
from stube.testing import Harness


class Row(Component):
    template_string = '<li {{ root() }}>{{ self.t }}</li>'

    def __init__(self, t: str = "") -> None:
        self.t = t

    @event
    def edit(self) -> Any:
        return replace(RowEditor(self.t))     # Seaside: this row becomes an editor


class RowEditor(Component):
    template_string = '<li {{ root() }}><input value="{{ self.t }}"></li>'

    def __init__(self, t: str = "") -> None:
        self.t = t


class Table(Component):
    template_string = '<ul {{ root() }}>{{ self.title }}{{ keyed("rows") }}</ul>'

    def __init__(self) -> None:
        self.title = "My table"

    def start(self) -> Any:
        return set_keyed_children("rows", [("a", Row("alpha")), ("b", Row("beta"))])


def test_replace_from_a_keyed_row_does_not_destroy_the_page() -> None:
    h = Harness(Table())
    row = h.find(Row)
    h.dispatch("edit", target=row.iid)
    assert h.frames == [Table._stube_type], h.frames      # the table is still the page
    assert "beta" in h.html()
