"""A resume/on_error name that the caller does not have is only detected when the
child answers; that answer is then rolled back on every attempt, so the user is
stuck in the dialog (Yes/No both fail) with no way out but the back button."""
from typing import Any

from stube import Component, call, event
from stube.testing import Harness
from tests.components import Confirm


class Doc(Component):
    template_string = '<div {{ root() }}>{{ self.deleted }}</div>'

    def __init__(self) -> None:
        self.deleted = False

    @event
    def delete(self) -> Any:
        return call(Confirm(), resume="on_confrim")     # typo

    def on_confirm(self, ok: bool) -> None:
        self.deleted = ok


def test_unknown_resume_fails_when_calling_not_when_answering() -> None:
    h = Harness(Doc(), raise_errors=False)
    h.dispatch("delete")
    if h.error is None:                                  # accepted: the dialog is up
        h.dispatch("no", target=Confirm)
        h.dispatch("yes", target=Confirm)
        assert h.frames == [Doc._stube_type], f"stuck in the dialog: {h.frames}, error={h.error!r}"
