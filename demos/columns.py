"""Columns: a keyed list of note columns; adding or closing one touches only that column.

``set_keyed_children`` reconciles by key, so the kernel sends one insert or
one remove fragment instead of re-rendering the row: notes typed in the other
columns stay exactly where they are. A column's × posts straight to the board
(``on(..., target=board)``), because keyed children cannot answer.
"""

from __future__ import annotations

import string

from stube import Component, event, set_keyed_children
from stube.effects import SetKeyedChildren


class Column(Component):
    """One column: a title, a close button and a notes box kept on the server."""

    name = "demo.columns.column"
    template = "demos/columns_column.html"
    fields = ("body",)

    def __init__(self, key: str = "A", board: str = "") -> None:
        self.key = key
        self.board = board
        self.body = ""

    @event
    def edit(self) -> None:
        """Typing saves the notes (the field is lifted before this runs)."""


def label(i: int) -> str:
    """A, B, ... Z, AA, AB, ... for the i-th column ever added."""
    letters = string.ascii_uppercase
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = letters[r] + out
    return out


class Columns(Component):
    """The board: keeps the ordered column keys and how many were ever made."""

    name = "demo.columns"
    template = "demos/columns.html"

    def __init__(self) -> None:
        self.keys = ["A", "B", "C"]
        self.made = 3

    def _sync(self) -> SetKeyedChildren:
        return set_keyed_children("columns", [(k, Column(k, board=self.iid or "")) for k in self.keys])

    def start(self) -> SetKeyedChildren:
        return self._sync()

    @event
    def add(self) -> SetKeyedChildren:
        self.keys.append(label(self.made))
        self.made += 1
        return self._sync()

    @event
    def remove_last(self) -> SetKeyedChildren | None:
        if not self.keys:
            return None
        self.keys.pop()
        return self._sync()

    @event
    def close(self, key: str) -> SetKeyedChildren | None:
        if key not in self.keys:
            return None
        self.keys.remove(key)
        return self._sync()
