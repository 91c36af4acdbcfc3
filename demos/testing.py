"""Helpers for testing the demos the way a user sees them: visible text and a tiny DOM.

The tests assert what a browser scenario would (a heading's text, which row
holds an input) instead of component internals, so they keep passing when
the implementation changes and fail when the page does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from typing import Any

from stube.testing import Harness

from . import TEMPLATES

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
HIDDEN = {"style", "script", "template"}


class Node:
    """An element: ``tag``, ``attrs`` and ``children`` (nodes or text strings)."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Node | str] = []

    # -- reading --

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def get(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    @property
    def text(self) -> str:
        """Visible text, whitespace collapsed (style/script/hidden elements left out)."""
        return " ".join("".join(self._text()).split())

    def _text(self) -> Iterator[str]:
        if self.tag in HIDDEN or "hidden" in self.attrs:
            return
        for child in self.children:
            if isinstance(child, str):
                yield child
            else:
                if child.tag in ("br", "p", "li", "div", "tr", "td", "th"):
                    yield " "
                yield from child._text()
                if child.tag in ("p", "li", "div", "td", "th"):
                    yield " "

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def select(self, selector: str) -> list[Node]:
        """Descendants matching a small CSS subset: ``tag.class[attr=value]`` steps, space-separated."""
        steps = selector.split()
        found: list[Node] = [self]
        for step in steps:
            match = _compile(step)
            out: list[Node] = []
            seen: set[int] = set()
            for node in found:
                for d in node.iter():
                    if id(d) not in seen and match(d):
                        seen.add(id(d))
                        out.append(d)
            found = out
        return found

    def one(self, selector: str) -> Node:
        """Exactly one match (like Playwright's strict locators)."""
        found = self.select(selector)
        if len(found) != 1:
            raise AssertionError(f"{selector!r} matched {len(found)} elements")
        return found[0]

    def button(self, label: str) -> Node:
        """The one button whose visible text is exactly ``label``."""
        found = [b for b in self.select("button") if b.text == label]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} buttons labelled {label!r}")
        return found[0]

    def has_button(self, label: str) -> bool:
        return any(b.text == label for b in self.select("button"))

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"


_STEP = re.compile(r"^(?P<tag>[a-z0-9*]+)?(?P<rest>(?:[.#][\w-]+|\[[^\]]+\])*)$")
_PART = re.compile(r"\.([\w-]+)|#([\w-]+)|\[([\w-]+)(?:([*^$]?=)\"?([^\]\"]*)\"?)?\]")


def _compile(step: str):
    m = _STEP.match(step)
    if not m:
        raise ValueError(f"unsupported selector step {step!r}")
    tag = m.group("tag")
    parts = _PART.findall(m.group("rest"))

    def match(node: Node) -> bool:
        if tag and tag != "*" and node.tag != tag:
            return False
        for cls, ident, attr, op, value in parts:
            if cls and cls not in node.classes:
                return False
            if ident and node.attrs.get("id") != ident:
                return False
            if attr:
                if attr not in node.attrs:
                    return False
                have = node.attrs.get(attr) or ""
                if op == "=" and have != value:
                    return False
                if op == "*=" and value not in have:
                    return False
                if op == "^=" and not have.startswith(value):
                    return False
                if op == "$=" and not have.endswith(value):
                    return False
        return True

    return match


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def dom(html: str) -> Node:
    """Parse an HTML fragment or page into a :class:`Node` tree."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def text(html: str) -> str:
    """The visible text of an HTML fragment."""
    return dom(html).text


class DemoHarness(Harness):
    """A :class:`Harness` with the gallery's templates and user-level readers."""

    def __init__(self, root: Any, *, templates: Sequence[Any] = (), **options: Any) -> None:
        super().__init__(root, templates=[TEMPLATES, *templates], **options)

    @property
    def page(self) -> Node:
        """What the browser shows now (the top frame)."""
        return dom(self.html())

    @property
    def text(self) -> str:
        return self.page.text

    def click(self, label: str, *, within: Node | None = None, fields: dict[str, Any] | None = None) -> Any:
        """Press the button labelled ``label``, as a browser would: its ``hx-post`` names the
        instance and event, its ``hx-vals`` the payload, and its form's fields come along."""
        scope = within if within is not None else self.page
        return self.press(scope.button(label), fields=fields)

    def press(self, element: Node, *, fields: dict[str, Any] | None = None) -> Any:
        """Trigger the htmx request ``element`` (a button, checkbox, ...) is wired to."""
        import json

        url = element.get("hx-post")
        if not url:
            raise AssertionError(f"{element!r} posts no event")
        iid, event = url.rstrip("/").split("/")[-2:]
        payload = json.loads(element.get("hx-vals") or "{}")
        return self.dispatch(event, target=iid, fields=fields or {}, **payload)
