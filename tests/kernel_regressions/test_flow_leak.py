"""A transaction that starts a flow and then fails is rolled back, but the flow's
suspended greenlet stays in Env.live under an instance id that never existed:
one leaked continuation (frames, locals) per failed attempt, until the
conversation ends (never, in a Harness)."""
from typing import Any

from stube import Component, call, event, patch
from stube.flows import ask, flow
from stube.testing import Harness


class Leaf(Component):
    template_string = '<div {{ root() }}>leaf</div>'


@flow
def wizard():
    big = list(range(100_000))   # locals kept alive by the suspended greenlet
    ask(Leaf())
    return len(big)


class Home(Component):
    template_string = '<div {{ root() }}>home</div>'

    @event
    def go(self) -> Any:
        # The second effect is invalid (no id): the whole transaction fails.
        return [call(wizard()), patch("<p>oops</p>")]


def test_failed_transaction_does_not_leave_live_flows_behind() -> None:
    h = Harness(Home(), raise_errors=False)
    for _ in range(5):
        h.dispatch("go")
        assert h.error is not None          # rolled back, banner shown
    assert h.frames == [Home._stube_type]    # nothing of the flow is in the conversation
    live = [k for k in h.env.live if k[1] not in h.conversation["instances"]]
    assert live == [], f"{len(live)} orphaned flow continuations"
