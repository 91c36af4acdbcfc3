"""answer-error: a child reports failure to its caller instead of answering.

The edit form calls a (mock) backend. When the save fails it answers with
``answer_error({...})``, carrying the draft; the caller's ``on_error`` method
shows the message and re-opens the form with the typed text. The mock fails
every odd-numbered save of a conversation (the first one included), so the
demo behaves the same in every tab.
"""

from __future__ import annotations

from typing import Any

from stube import Component, answer, answer_error, call_in_slot, event
from stube.effects import Answer, AnswerError, CallInSlot
from stube.ui import CANCEL


class SaveFailed(Exception):
    """What the mock backend raises."""


def mock_save(title: str, attempt: int) -> str:
    """Pretend to store ``title``; odd attempts conflict like a real API's 409 would."""
    if attempt % 2 == 1:
        raise SaveFailed("Slug already taken (mock 409)")
    return title


class EditForm(Component):
    """The dashed form in the slot: answers the saved title, ``CANCEL``, or an error."""

    name = "demo.error-answer.form"
    template = "demos/error_answer_form.html"
    fields = ("draft",)

    def __init__(self, draft: str = "", attempt: int = 1) -> None:
        self.draft = draft
        self.attempt = attempt
        self.problem = ""

    @event
    def save(self) -> Answer | AnswerError | None:
        title = (self.draft or "").strip()
        if not title:
            self.problem = "Please enter a title."
            return None
        try:
            return answer(mock_save(title, self.attempt))
        except SaveFailed as exc:
            # JSON, not the exception: answers may travel through conversation state.
            return answer_error({"message": str(exc), "draft": self.draft})

    @event
    def cancel(self) -> Answer:
        return answer(CANCEL)


class ErrorAnswer(Component):
    """The card: opens the form in a slot and handles both of its outcomes."""

    name = "demo.error-answer"
    template = "demos/error_answer.html"

    def __init__(self) -> None:
        self.editing = False
        self.saves = 0
        self.saved: str | None = None
        self.error: str | None = None

    def _open(self, draft: str = "") -> CallInSlot:
        self.editing = True
        return call_in_slot("editor", EditForm(draft, attempt=self.saves + 1),
                            resume="on_saved", on_error="on_save_failed")

    @event
    def open(self) -> CallInSlot | None:
        if self.editing:
            return None
        self.error = None
        return self._open()

    def on_saved(self, title: str) -> None:
        self.editing = False
        self.error = None
        if title != CANCEL:
            self.saves += 1
            self.saved = title

    def on_save_failed(self, error: dict[str, Any]) -> CallInSlot:
        self.saves += 1
        self.error = f"{error.get('message', 'unknown error')}"
        return self._open(str(error.get("draft", "")))
