"""Breadcrumb: a page component, and a subclass that decorates it with a trail.

``Page`` walks a small site (the gallery's own catalogue: Examples → group →
demo). ``BreadcrumbPage`` subclasses it to add a heading and a breadcrumb
trail around the same body; the Python counterpart of the reference's
``decorate``. Invalid navigation (a stale or forged id) changes nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from stube import Component, event

ROOT = "examples"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


GROUP_SUMMARIES = {
    "Foundation": "Components, events, call and answer: the parts everything else is made of.",
    "Tier 1": "Everyday patterns: editing in place, tabs, state in the URL, errors.",
    "Tier 2": "Reusable components configured by data: trees, tables, pages of rows.",
    "Tier 3": "The server talks first: timers, pub/sub, uploads, browser-drawn widgets.",
    "Book app": "The ToDo application from the Seaside book, start to finish.",
}


@lru_cache(maxsize=1)
def site() -> dict[str, dict[str, Any]]:
    """``{page id: {"title", "summary", "children": [ids], "href"?}}`` built from the catalogue."""
    from .catalogue import CATALOGUE, GROUPS  # late: the catalogue imports this module

    pages: dict[str, dict[str, Any]] = {
        ROOT: {"title": "Examples", "summary": "Every demo in the gallery, by group.", "children": []},
    }
    for group in GROUPS:
        gid = slug(group)
        pages[ROOT]["children"].append(gid)
        pages[gid] = {"title": group, "summary": GROUP_SUMMARIES.get(group, ""), "children": []}
    for entry in CATALOGUE:
        pid = slug(entry.path) or "home"
        if pid in pages:
            continue
        pages[slug(entry.group)]["children"].append(pid)
        pages[pid] = {"title": entry.title, "summary": entry.blurb, "children": [], "href": entry.path}
    return pages


class Page(Component):
    """One page of the site and the path that led to it (``trail``, root first)."""

    name = "demo.breadcrumb.page"
    template = "demos/breadcrumb_page.html"

    def __init__(self, trail: list[str] | None = None) -> None:
        self.trail = list(trail or [ROOT])

    @property
    def page(self) -> dict[str, Any]:
        return site()[self.trail[-1]]

    def title_of(self, pid: str) -> str:
        return site()[pid]["title"]

    def summary_of(self, pid: str) -> str:
        return site()[pid]["summary"]

    @event
    def open(self, page: str) -> None:
        if page in self.page["children"]:
            self.trail.append(page)

    @event
    def jump(self, index: int) -> None:
        if isinstance(index, int) and 0 <= index < len(self.trail) - 1:
            self.trail = self.trail[:index + 1]


class BreadcrumbPage(Page):
    """``Page`` decorated with a heading and a breadcrumb trail; same state, same events."""

    name = "demo.breadcrumb"
    template = "demos/breadcrumb.html"

    def __init__(self, trail: list[str] | None = None) -> None:
        super().__init__(trail or [ROOT, "tier-2"])
