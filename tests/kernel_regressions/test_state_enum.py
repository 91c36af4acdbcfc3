"""A `class Color(str, Enum)` attribute is stored as "Color.RED" (str() of the
member), not as its value "red": state silently changes on the first commit."""
from enum import Enum

from stube import Component, event
from stube.testing import Harness


class Color(str, Enum):  # noqa: UP042 (the bug needs a str mix-in, not StrEnum)
    RED = "red"
    BLUE = "blue"


class Picker(Component):
    template_string = '<div {{ root() }}>{{ self.color }}</div>'

    def __init__(self) -> None:
        self.color = "red"

    @event
    def pick_blue(self) -> None:
        self.color = Color.BLUE


def test_str_enum_member_is_stored_as_its_value() -> None:
    h = Harness(Picker())
    h.dispatch("pick_blue")
    assert h.error is None
    assert h.top.color == "blue", h.top.color
    assert "blue" in h.html()
