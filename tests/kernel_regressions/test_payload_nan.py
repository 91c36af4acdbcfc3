"""float parameters accept "nan"/"inf"/"1e999": the handler stores a value state
cannot hold, and the user gets a component-error banner instead of a 400."""
import pytest

from stube import BadPayload, Component, event, kernel
from stube.kernel import Event
from stube.testing import Harness


class Price(Component):
    template_string = '<div {{ root() }}>{{ self.p }}</div>'

    def __init__(self) -> None:
        self.p = 0.0

    @event
    def set(self, p: float) -> None:
        self.p = p


@pytest.mark.parametrize("raw", ["nan", "inf", "1e999"])
def test_non_finite_float_is_a_bad_payload(raw: str) -> None:
    h = Harness(Price())
    iid = h.conversation["stack"][-1]
    with pytest.raises(BadPayload):
        kernel.run(h.conversation, Event(iid, "set", {"p": raw}, convert=True), h.env)
