"""Stock dialogs: ``Confirm``, ``Prompt``, ``Choose`` and ``Info``.

Each is an ordinary component that *answers* its caller, so it works with
``call(..., resume=...)``, ``call_in_slot`` and ``ask()`` alike::

    ok = ask(Confirm("Delete the draft?"))          # True / False
    name = ask(Prompt("Your name?", default="Ada"))  # str, or CANCEL
    if name == CANCEL: ...

Every button sits inside a ``<form>``, so the dialogs also work with
JavaScript disabled (``on()`` renders ``formaction``/``formmethod`` next to
the htmx attributes). Styles live in ``static/stube.css``.
"""

from __future__ import annotations

from typing import Any

from .component import Component, event
from .effects import Answer, answer

__all__ = ["CANCEL", "Choose", "Confirm", "Info", "Prompt", "is_cancel"]

#: What ``Prompt`` and ``Choose`` answer when the user cancels. JSON, because
#: answers travel through conversation state; a dict, so no typed text can equal
#: it; compare with ``==`` (or use :func:`is_cancel`).
CANCEL: dict[str, str] = {"stube": "cancel"}


def is_cancel(value: Any) -> bool:
    """True when ``value`` is the :data:`CANCEL` sentinel (reads better than ``== CANCEL``)."""
    return bool(value == CANCEL)


class Confirm(Component):
    """A yes/no question; answers ``True`` ("Yes") or ``False`` ("No")."""

    template = "stube/ui/confirm.html"

    def __init__(self, question: str = "Are you sure?") -> None:
        self.question = question

    @event
    def yes(self) -> Answer:
        return answer(True)

    @event
    def no(self) -> Answer:
        return answer(False)


class Prompt(Component):
    """A one-line text question; answers the typed string, or :data:`CANCEL`.

    The input is named ``value`` and lifted onto ``self`` before the handler
    runs (``fields``), so the answer is whatever the form carried.
    """

    template = "stube/ui/prompt.html"
    fields = ("value",)

    def __init__(self, question: str = "Please enter a value:", default: str = "") -> None:
        self.question = question
        self.value = default

    @event
    def ok(self) -> Answer:
        value = self.value
        return answer("" if value is None else str(value))

    @event
    def cancel(self) -> Answer:
        return answer(CANCEL)


class Choose(Component):
    """Pick one of ``options`` (JSON values shown with ``str``); answers it, or :data:`CANCEL`."""

    template = "stube/ui/choose.html"

    def __init__(self, question: str = "Pick one:", options: list[Any] | tuple[Any, ...] = ()) -> None:
        self.question = question
        self.options = list(options)

    @event
    def pick(self, index: int) -> Answer | None:
        # Stale or forged indexes change nothing rather than answering garbage.
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.options):
            return None
        return answer(self.options[index])

    @event
    def cancel(self) -> Answer:
        return answer(CANCEL)


class Info(Component):
    """A message with an "OK" button; answers ``None``."""

    template = "stube/ui/info.html"

    def __init__(self, message: str = "") -> None:
        self.message = message

    @event
    def ok(self) -> Answer:
        return answer(None)
