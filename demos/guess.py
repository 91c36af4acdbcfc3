"""Guess the number: a flow loops over a custom prompt until the guess is right.

The prompt validates its own input (a non-number re-renders it with a
message) and answers an ``int``, so the flow only ever sees numbers.
"""

from __future__ import annotations

import random

from stube import Component, answer, event
from stube.effects import Answer
from stube.flows import ask, flow, remember

LOW, HIGH = 1, 100


class GuessPrompt(Component):
    """``form.stube-prompt``: a message, a number input named ``answer`` and "Guess"."""

    name = "demo.guess.prompt"
    template = "demos/guess_prompt.html"
    fields = ("answer",)

    def __init__(self, message: str = "") -> None:
        self.message = message
        self.answer = ""
        self.problem = ""

    @event
    def guess(self) -> Answer | None:
        try:
            n = int(str(self.answer).strip())
        except ValueError:
            self.problem = "Please enter a number."
            return None
        return answer(n)


class GuessInfo(Component):
    """``div.stube-info``: the win message and "Continue"."""

    name = "demo.guess.info"
    template = "demos/guess_info.html"

    def __init__(self, message: str = "") -> None:
        self.message = message

    @event
    def ok(self) -> Answer:
        return answer(None)


def attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


@flow
def guess(target: int | None = None) -> int:
    """Answers the number of attempts it took. ``target`` is for tests; normally it is random."""
    if target is None:
        # remember(): a replay of this flow (after back()) must see the same number.
        target = remember(lambda: random.randint(LOW, HIGH))
    message = f"Pick a number from {LOW} to {HIGH}."
    tries = 0
    while True:
        n = ask(GuessPrompt(message))
        tries += 1
        if n < target:
            message = f"Too low — try again. (Attempt {tries})"
        elif n > target:
            message = f"Too high — try again. (Attempt {tries})"
        else:
            ask(GuessInfo(f"🎉 Got it! {target} in {attempts(tries)}."))
            return tries
