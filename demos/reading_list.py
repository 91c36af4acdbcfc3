"""Reading list: the open articles live in the URL, so a link restores the page.

The mount's factory reads ``?items=`` into the root's initial state,
``start()`` turns it into keyed children, and ``url()`` projects the state
back into the address bar after every change (replace, not push).

Both the cards and the toolbar above them are keyed children: a keyed
reconcile does not re-render the parent, so the toolbar (the URL text and
the "Open" buttons) is a one-entry keyed list whose embed changes with the
open set, which makes the kernel rebuild exactly that element.
"""

from __future__ import annotations

from typing import Any

from stube import Component, event, set_keyed_children
from stube.effects import SetKeyedChildren

PATH = "/reading-list"

ARTICLES: dict[str, dict[str, str]] = {
    "clojure": {"title": "Clojure", "body": "A Lisp on the JVM whose persistent data structures make "
                "a conversation an ordinary immutable value."},
    "datastar": {"title": "Datastar", "body": "The hypermedia library the reference stube speaks: "
                 "signals in the browser, HTML patches over server-sent events."},
    "kasten": {"title": "Kasten", "body": "A notes desk built on stube: every opened note becomes a "
               "column, and wiki links open more columns."},
    "seaside": {"title": "Seaside", "body": "The Smalltalk framework where components call each other "
                "like functions and answer like return values."},
}


def parse_items(raw: str | None) -> list[str]:
    """Known article ids from ``"a,b,c"``, in order, without duplicates."""
    out: list[str] = []
    for part in (raw or "").split(","):
        key = part.strip().lower()
        if key in ARTICLES and key not in out:
            out.append(key)
    return out


def url_for(items: list[str]) -> str:
    return f"{PATH}?items={','.join(items)}"


class ReadingCard(Component):
    """One open article; "Close" posts to the list that owns it."""

    name = "demo.reading-list.card"
    template = "demos/reading_list_card.html"

    def __init__(self, key: str = "clojure", owner: str = "") -> None:
        self.key = key
        self.owner = owner

    @property
    def article(self) -> dict[str, str]:
        return ARTICLES[self.key]


class ReadingToolbar(Component):
    """The URL line and one "Open" button per closed article."""

    name = "demo.reading-list.toolbar"
    template = "demos/reading_list_toolbar.html"

    def __init__(self, items: list[str] | None = None, owner: str = "") -> None:
        self.items = list(items or [])
        self.owner = owner

    @property
    def address(self) -> str:
        return url_for(self.items)

    @property
    def closed(self) -> list[str]:
        return [k for k in ARTICLES if k not in self.items]


class ReadingList(Component):
    """Root: ``items`` is the whole state, and the URL mirrors it."""

    name = "demo.reading-list"
    template = "demos/reading_list.html"

    def __init__(self, items: list[str] | None = None) -> None:
        self.items = parse_items(",".join(items or []))

    def start(self) -> list[SetKeyedChildren]:
        return self._sync()

    def url(self) -> str:
        # Relative to the page, so the demo also works when the gallery is mounted under a prefix.
        return f"?items={','.join(self.items)}"

    def _sync(self) -> list[SetKeyedChildren]:
        owner = self.iid or ""
        return [
            set_keyed_children("toolbar", [("toolbar", ReadingToolbar(self.items, owner))]),
            set_keyed_children("cards", [(k, ReadingCard(k, owner)) for k in self.items]),
        ]

    @event
    def open(self, key: str) -> list[SetKeyedChildren] | None:
        if key not in ARTICLES or key in self.items:
            return None
        self.items.append(key)
        return self._sync()

    @event
    def close(self, key: str) -> list[SetKeyedChildren] | None:
        if key not in self.items:
            return None
        self.items.remove(key)
        return self._sync()


def from_request(request: Any) -> ReadingList:
    """Mount factory: ``/reading-list?items=clojure,seaside`` restores those two cards."""
    return ReadingList(parse_items(request.query_params.get("items")))
