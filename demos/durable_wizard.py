"""The wizard again, as a durable flow: the same steps, written as straight-line code.

``@flow(durable=True)`` persists the flow as its arguments plus the log of
answers it received, and rebuilds it after a restart by replaying that log,
so this conversation survives a server restart like a task component does.
Compare with :mod:`demos.wizard`.
"""

from __future__ import annotations

from stube.flows import ask, flow

from .wizard import BACK, COLOUR_Q, NAME_Q, RESTART, DecoratedSummary, Step


@flow(durable=True)
def durable_wizard() -> dict[str, str] | None:
    """Answers ``{"name", "colour"}``; Back on the first step answers ``None``."""
    name = colour = ""
    step = "name"
    while True:
        if step == "name":
            value = ask(Step(NAME_Q, name, placeholder="Ada"))
            if value == BACK:
                return None
            name, step = value, "colour"
        elif step == "colour":
            value = ask(Step(COLOUR_Q, colour, placeholder="teal"))
            if value == BACK:
                step = "name"
            else:
                colour, step = value, "summary"
        else:
            value = ask(DecoratedSummary(name, colour))
            if value == RESTART:
                name = colour = ""
                step = "name"
            elif value == BACK:
                step = "colour"
            else:
                return {"name": name, "colour": colour}
