"""Dialogs: the four stock dialogs strung together by a flow.

Reads top to bottom like the conversation it drives. Every stock dialog's
buttons sit in a form, so this demo also works with JavaScript disabled.
"""

from __future__ import annotations

from stube.flows import ask, flow
from stube.ui import CANCEL, Choose, Confirm, Info, Prompt

COLOURS = ["red", "green", "blue"]


@flow
def dialogs() -> None:
    """Confirm → Prompt → Choose → Info, with every way out handled."""
    if not ask(Confirm("Ready to play?")):
        ask(Info("Maybe next time."))
        return
    name = ask(Prompt("What's your name?", default="Ada"))
    if name == CANCEL:
        ask(Info("Cancelled."))
        return
    name = name.strip() or "stranger"
    colour = ask(Choose(f"Pick a colour, {name}:", COLOURS))
    if colour == CANCEL:
        ask(Info(f"OK {name}, maybe later."))
        return
    ask(Info(f"Hello {name} — your colour is {colour}."))
