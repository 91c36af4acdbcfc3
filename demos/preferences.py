"""Preferences: view settings kept in the browser session's stash.

``stash = ("sort", "collapsed")`` makes the kernel recover those attributes
from the session's stash every time the component is created, and write
back just the keys a dispatch changed. Open the page in a second tab (same
browser): it starts with the sort order and panel you chose here.
"""

from __future__ import annotations

from typing import Any, Literal

from stube import Component, event

Sort = Literal["name", "size", "distance"]

PLANETS: list[dict[str, Any]] = [
    {"name": "Mercury", "size": 4879, "distance": 57.9},
    {"name": "Venus", "size": 12104, "distance": 108.2},
    {"name": "Earth", "size": 12756, "distance": 149.6},
    {"name": "Mars", "size": 6792, "distance": 227.9},
    {"name": "Jupiter", "size": 142984, "distance": 778.6},
    {"name": "Saturn", "size": 120536, "distance": 1433.5},
    {"name": "Uranus", "size": 51118, "distance": 2872.5},
    {"name": "Neptune", "size": 49528, "distance": 4495.1},
]
SORTS: list[tuple[str, str]] = [("name", "Name"), ("size", "Size"), ("distance", "Distance")]


class Preferences(Component):
    """A sortable list with a collapsible details panel; both choices persist per browser session."""

    name = "demo.preferences"
    template = "demos/preferences.html"
    stash = ("sort", "collapsed")
    stash_vsn = 1

    def __init__(self) -> None:
        self.sort = "name"
        self.collapsed = False

    def migrate_stash(self, old_vsn: int, data: dict[str, Any]) -> dict[str, Any] | None:
        return None  # there is only one shape so far: start from the defaults

    @property
    def sorts(self) -> list[tuple[str, str]]:
        return SORTS

    @property
    def planets(self) -> list[dict[str, Any]]:
        key = self.sort if self.sort in dict(SORTS) else "name"
        return sorted(PLANETS, key=lambda p: p[key])

    @event
    def sort_by(self, key: Sort) -> None:
        if key in dict(SORTS):
            self.sort = key

    @event
    def toggle_details(self) -> None:
        self.collapsed = not self.collapsed
