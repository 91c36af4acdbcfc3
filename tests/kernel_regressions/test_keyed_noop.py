"""Re-issuing an unchanged set_keyed_children (a refresh button, a polling
timer) still replaces the parent record: every call adds an undo step (and a
version bump / store save) although nothing changed. A 1 s poll evicts the
user's real back() history within history_limit seconds, and each back() then
visibly does nothing."""
from typing import Any

from stube import Component, event, set_keyed_children
from stube.testing import Harness


class Row(Component):
    template_string = '<li {{ root() }}>{{ self.t }}</li>'

    def __init__(self, t: str = "") -> None:
        self.t = t


class Inbox(Component):
    template_string = '<ul {{ root() }}><b>{{ self.filter }}</b>{{ keyed("rows") }}</ul>'

    def __init__(self) -> None:
        self.filter = "all"

    def start(self) -> Any:
        return self.poll()

    @event
    def only_unread(self) -> None:
        self.filter = "unread"

    @event
    def poll(self) -> Any:          # also what an after(5, "poll") timer runs
        return set_keyed_children("rows", [("m1", Row("hello")), ("m2", Row("world"))])


def test_unchanged_reconcile_is_not_an_undo_step() -> None:
    h = Harness(Inbox())
    h.dispatch("only_unread")
    steps, version = len(h.conversation["history"]), h.conversation["version"]
    for _ in range(3):
        h.dispatch("poll")
    assert h.fragments == []
    assert len(h.conversation["history"]) == steps
    assert h.conversation["version"] == version
    h.back()                                        # the user's last real action is undone
    assert h.top.filter == "all"
