"""Tabs: three eager children, only the active one rendered.

The hidden tabs stay alive in the conversation, so the counter's value and
the typed notes are still there when you come back. The notes box saves as
you type (its ``text`` field is lifted onto the component by a handler that
does nothing else).
"""

from __future__ import annotations

from typing import Literal

from stube import Component, event

from .counter import Counter

Tab = Literal["counter", "notes", "about"]
TABS: list[tuple[str, str]] = [("counter", "Counter"), ("notes", "Notes"), ("about", "About")]


class Notes(Component):
    """A textarea whose text lives on the server."""

    name = "demo.tabs.notes"
    template = "demos/tabs_notes.html"
    fields = ("text",)

    def __init__(self) -> None:
        self.text = ""

    @event
    def sync(self) -> None:
        """Nothing to do: ``text`` was lifted from the form before this ran."""


class About(Component):
    """Static text: a component without state is fine too."""

    name = "demo.tabs.about"
    template = "demos/tabs_about.html"


class Tabs(Component):
    """Remembers which tab is active; the children remember everything else."""

    name = "demo.tabs"
    template = "demos/tabs.html"

    def __init__(self) -> None:
        self.active = "counter"

    @property
    def tabs(self) -> list[tuple[str, str]]:
        return TABS

    def children(self) -> dict[str, Component]:
        return {"counter": Counter(0), "notes": Notes(), "about": About()}

    @event
    def select(self, tab: Tab) -> None:
        if tab in dict(TABS):
            self.active = tab
