"""A non-durable flow keeps answers in its in-memory replay log *by reference*.
If flow code mutates an answer, a later replay (back(), a failed transaction)
feeds the mutated object back, and the rebuilt flow sees different data."""
from typing import Any

from stube import Component, answer, event
from stube.flows import ask, flow
from stube.testing import Harness


class Pick(Component):
    template_string = '<div {{ root() }}>pick</div>'

    @event
    def choose(self) -> Any:
        return answer(["apple"])


class Confirm(Component):
    template_string = '<div {{ root() }}>{{ self.q }}</div>'

    def __init__(self, q: str) -> None:
        self.q = q

    @event
    def yes(self) -> Any:
        return answer(True)


@flow
def basket():
    items = ask(Pick())
    items.append("pear")                    # ordinary list handling in flow code
    ask(Confirm("step2"))
    return ask(Confirm(f"basket={items}"))


def test_replay_after_back_sees_the_original_answer() -> None:
    h = Harness(basket())
    h.dispatch("choose", target=Pick)        # items = ['apple', 'pear']
    h.dispatch("yes", target=Confirm)        # now on the "basket=..." confirm
    assert "basket=[&#39;apple&#39;, &#39;pear&#39;]" in h.html()
    h.back()                                 # back to "step2"
    h.dispatch("yes", target=Confirm)        # the flow is rebuilt from its log
    html = h.html()
    assert "basket=[&#39;apple&#39;, &#39;pear&#39;]" in html, html
