"""A flow placed in children() (or a keyed list) that *returns* answers with
fx.Answer, which the kernel refuses for eager/keyed instances: the whole
transaction is rolled back, so the user's last answer is never accepted and
they are stuck on the last question with an error banner, forever."""
from typing import Any

from stube import Component, answer, event
from stube.flows import ask, flow
from stube.testing import Harness


class Confirm(Component):
    template_string = '<div {{ root() }}>{{ self.q }}</div>'

    def __init__(self, q: str) -> None:
        self.q = q

    @event
    def yes(self) -> Any:
        return answer(True)


@flow
def survey():
    ok = ask(Confirm("Enjoying it?"))
    return ok


class Page(Component):
    template_string = '<main {{ root() }}>page {{ slot("s") }}</main>'

    def children(self):
        return {"s": survey()}


def test_embedded_flow_can_finish() -> None:
    h = Harness(Page())
    assert "Enjoying it?" in h.html()
    h.dispatch("yes", target=Confirm)
    assert h.error is None, repr(h.error)
    assert "Enjoying it?" not in h.html()
