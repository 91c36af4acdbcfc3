"""Wizard, written as a task component: ``start()`` makes the first call and each
``on_*`` method threads the answers forward.

The same wizard written as a flow is :mod:`demos.durable_wizard`; both use
the step and summary components defined here. Steps answer the typed text,
or :data:`BACK`; the summary answers :data:`BACK` or :data:`RESTART`. "Back"
re-opens the previous step with what was typed; "Back" on the first step
ends the conversation.
"""

from __future__ import annotations

import re

from stube import Component, answer, call, end, event
from stube.effects import Answer, Call, End

#: Sentinels the steps answer (strings, because answers must be JSON).
BACK = "demo.wizard.back"
RESTART = "demo.wizard.restart"

NAME_Q = "What's your name?"
COLOUR_Q = "Favourite colour?"

_SAFE_COLOUR = re.compile(r"^(?:[A-Za-z]{1,20}|#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6})$")


class Step(Component):
    """One question, one text input named ``answer``; Next and Back."""

    name = "demo.wizard.step"
    template = "demos/wizard_step.html"
    fields = ("answer",)

    def __init__(self, question: str = "", value: str = "", placeholder: str = "") -> None:
        self.question = question
        self.answer = value
        self.placeholder = placeholder
        self.problem = ""

    @event
    def next(self) -> Answer | None:
        text = (self.answer or "").strip()
        if not text:
            self.problem = "Please type an answer."
            return None
        return answer(text[:100])

    @event
    def back(self) -> Answer:
        return answer(BACK)


class Summary(Component):
    """The last page: what was entered, "Start over" and "Back"."""

    name = "demo.wizard.summary"
    template = "demos/wizard_summary.html"

    def __init__(self, name: str = "", colour: str = "") -> None:
        self.name = name  # the class-level ``name`` (type name) is read from the class, never from here
        self.colour = colour

    @property
    def css_colour(self) -> str | None:
        """The colour, if it is safe to put in a style attribute (a word or a hex code)."""
        return self.colour if _SAFE_COLOUR.match(self.colour or "") else None

    @event
    def restart(self) -> Answer:
        return answer(RESTART)

    @event
    def back(self) -> Answer:
        return answer(BACK)


class DecoratedSummary(Summary):
    """``Summary`` with a banner on top: the Python way to say the reference's ``decorate``.

    A subclass keeps the events and state of its base and swaps the template
    for one that extends the base template.
    """

    name = "demo.wizard.decorated-summary"
    template = "demos/wizard_summary_decorated.html"


class Wizard(Component):
    """The task: asks for a name, then a colour, then shows the summary."""

    name = "demo.wizard"
    template_string = '<div {{ root() }}><p class="stube-muted">The wizard has finished.</p></div>'

    def __init__(self) -> None:
        self.name = ""
        self.colour = ""

    def start(self) -> Call:
        return self._ask_name()

    def _ask_name(self) -> Call:
        return call(Step(NAME_Q, self.name, placeholder="Ada"), resume="on_name")

    def _ask_colour(self) -> Call:
        return call(Step(COLOUR_Q, self.colour, placeholder="teal"), resume="on_colour")

    def on_name(self, value: str) -> Call | End:
        if value == BACK:
            return end(None)
        self.name = value
        return self._ask_colour()

    def on_colour(self, value: str) -> Call:
        if value == BACK:
            return self._ask_name()
        self.colour = value
        return call(DecoratedSummary(self.name, self.colour), resume="on_summary")

    def on_summary(self, value: str) -> Call:
        if value == RESTART:
            self.name = self.colour = ""
            return self._ask_name()
        return self._ask_colour()
