"""Paginated list: a reusable list component placed in a page as an eager child.

``PaginatedList`` keeps only the page number, the page size and the *name*
of its row source; rows are produced at render time.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from stube import Component, event

from .sources import rows as source_rows

FIRST = ["Ada", "Alan", "Barbara", "Brian", "Claude", "Donald", "Edsger", "Frances", "Grace", "Guido",
         "Hedy", "John", "Katherine", "Ken", "Leslie", "Linus", "Margaret", "Niklaus", "Radia",
         "Rich", "Shafi", "Sophie", "Tim", "Tony", "Whitfield", "Yukihiro", "Anita", "Bjarne",
         "Carl", "Dennis", "Edgar", "Fran", "Gerald", "Hal", "Ivan", "Jean", "Kristen"]
TEAMS = ["Kernel", "Runtime", "Docs", "Tooling", "Infra"]
ROLES = ["Maintainer", "Reviewer", "Contributor", "Triager"]


@lru_cache(maxsize=1)
def _contributors() -> tuple[dict[str, Any], ...]:
    return tuple(
        {"n": i + 1, "name": name, "team": TEAMS[(i * 3) % len(TEAMS)],
         "role": ROLES[(i * 7) % len(ROLES)], "tickets": (i * 37 + 11) % 90 + 3}
        for i, name in enumerate(FIRST)
    )


def contributors() -> list[dict[str, Any]]:
    """37 deterministic contributors."""
    return [dict(r) for r in _contributors()]


class PaginatedList(Component):
    """A titled table with page buttons. ``columns`` is ``[[key, label], ...]``."""

    name = "demo.paginated-list.list"
    template = "demos/paginated_list_list.html"

    def __init__(self, title: str, source: str, columns: list[list[str]], per_page: int = 7) -> None:
        self.title = title
        self.source = source
        self.columns = [list(c) for c in columns]
        self.per_page = max(1, per_page)
        self.page = 1

    def _rows(self) -> list[dict[str, Any]]:
        return source_rows(self.source)

    @property
    def total(self) -> int:
        return len(self._rows())

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def visible(self) -> list[dict[str, Any]]:
        start = (self.page - 1) * self.per_page
        return self._rows()[start:start + self.per_page]

    @property
    def range_label(self) -> str:
        if not self.total:
            return "0 of 0"
        first = (self.page - 1) * self.per_page + 1
        last = min(self.total, self.page * self.per_page)
        return f"{first}–{last} of {self.total}"

    @event
    def go(self, page: int) -> None:
        if isinstance(page, int) and 1 <= page <= self.pages:
            self.page = page

    @event
    def next(self) -> None:
        self.page = min(self.pages, self.page + 1)

    @event
    def previous(self) -> None:
        self.page = max(1, self.page - 1)


class PaginatedPage(Component):
    """The ``/paginated-list`` page around one ``PaginatedList``."""

    name = "demo.paginated-list"
    template = "demos/paginated_list.html"

    def children(self) -> dict[str, Component]:
        return {"list": PaginatedList(
            "Contributors", "demos.paginated_list:contributors",
            [["n", "#"], ["name", "Name"], ["team", "Team"], ["role", "Role"], ["tickets", "Tickets"]],
        )}
