"""A list[str] / list[int] parameter fed by repeated form fields (checkboxes,
<select multiple>) works with 2+ values but is a 400 with exactly one."""
from stube import Component, event, kernel
from stube.kernel import Event
from stube.testing import Harness


class Filters(Component):
    template_string = '<form {{ root() }}>{{ self.tags }} {{ self.ids }}</form>'

    def __init__(self) -> None:
        self.tags = []
        self.ids = []

    @event
    def apply(self, tags: list[str] = [], ids: list[int] = []) -> None:
        self.tags = tags
        self.ids = ids


def wire(h: Harness, **payload):
    """What the HTTP layer passes for a form post: one value -> str, repeated -> list of str."""
    out = kernel.run(h.conversation, Event(h.conversation["stack"][-1], "apply", payload, convert=True), h.env)
    return h._take(out)


def test_two_checked_boxes() -> None:
    h = Harness(Filters())
    wire(h, tags=["red", "blue"], ids=["1", "2"])
    assert h.top.tags == ["red", "blue"] and h.top.ids == [1, 2]


def test_one_checked_box_str() -> None:
    h = Harness(Filters())
    wire(h, tags="red")
    assert h.top.tags == ["red"]


def test_one_checked_box_int() -> None:
    h = Harness(Filters())
    wire(h, ids="7")
    assert h.top.ids == [7]
