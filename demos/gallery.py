"""The gallery's landing page: every demo, by group, with a link and a line about it."""

from __future__ import annotations

from typing import Any

from stube import Component


class Gallery(Component):
    """Stateless: reads the catalogue when it renders."""

    name = "demo.gallery"
    template = "demos/gallery.html"
    title = "stube examples"

    @property
    def groups(self) -> list[tuple[str, list[Any]]]:
        from .catalogue import by_group  # late: the catalogue imports every demo

        return by_group()

    @property
    def count(self) -> int:
        return sum(len(entries) for _, entries in self.groups)
