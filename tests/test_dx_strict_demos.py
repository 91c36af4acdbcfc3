"""Every demo renders under strict templates (what ``Stube(debug=True)`` uses), in every state a
few clicks reach: no template reads a name or key that is not there."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

import stube.testing
from demos.catalogue import CATALOGUE
from demos.gallery import Gallery
from demos.testing import DemoHarness, Node, dom
from stube.component import Component
from stube.context import ambient
from stube.render import RenderState, Templates, Urls, render_instance

#: What the crawler types into inputs (the seaside todo's demo account, so Login gets in).
FILL = {"email": "peter@example.com", "password": "seaside", "repeat": "seaside", "username": "Peter"}
DEPTH = 3
MAX_STATES = 40


@pytest.fixture(autouse=True)
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stube.testing, "Templates", functools.partial(Templates, strict=True))


def make_root(root: Any) -> Any:
    """What ``app.mount`` makes of a catalogue root: a class, a flow, or a factory(request)."""
    if isinstance(root, type) and issubclass(root, Component):
        return root
    return root(SimpleNamespace(query_params={}, headers={}, cookies={}))


def strict_page(h: DemoHarness) -> str:
    """The top frame rendered strictly, raising instead of the banner ``render_page`` would show."""
    conv = h.conversation
    if not conv["stack"]:
        return ""
    with ambient(h.env.app, conv.get("principal"), conv["id"]):
        rs = RenderState(conv["instances"], conv["id"], Urls(conv.get("base") or ""), h.env.templates)
        return str(render_instance(rs, conv["stack"][-1]))


def presses(page: Node) -> Iterator[tuple[str, Node]]:
    for node in page.iter():
        if node.get("hx-post") and "/_stube/event/" in node.get("hx-post") and node.tag == "button":
            yield node.text or node.get("aria-label") or node.get("hx-post"), node


def form_fields(page: Node) -> dict[str, Any]:
    """Every named input on the page with its value (FILL where the page has none), as a browser posts a form."""
    out: dict[str, Any] = {}
    for node in page.iter():
        name = node.get("name")
        if node.tag in ("input", "textarea", "select") and name:
            out[name] = node.get("value") or FILL.get(name, "x")
    return out


def replay(root: Any, path: tuple[int, ...]) -> DemoHarness:
    h = DemoHarness(make_root(root), raise_errors=False)
    check(h, "the first page")
    for i in path:
        page = dom(strict_page(h))
        label, node = list(presses(page))[i]
        h.press(node, fields=form_fields(page))
        check(h, f"after pressing {label!r}")
    return h


def check(h: DemoHarness, when: str) -> None:
    if isinstance(h.error, jinja2.UndefinedError):
        raise AssertionError(f"{when}: {h.error}")
    strict_page(h)


MOUNTS = [("/", Gallery)] + [(e.path, e.root) for e in CATALOGUE if e.root is not None]


@pytest.mark.parametrize(("mount", "root"), MOUNTS, ids=[m for m, _ in MOUNTS])
def test_demo_renders_strictly_in_every_state_a_few_clicks_reach(mount: str, root: Any) -> None:
    todo: list[tuple[int, ...]] = [()]
    seen = 0
    while todo and seen < MAX_STATES:
        path = todo.pop(0)
        h = replay(root, path)
        seen += 1
        if len(path) < DEPTH:
            count = len(list(presses(dom(strict_page(h)))))
            todo.extend(path + (i,) for i in range(count))
    assert seen > 1 or not todo  # the crawl moved past the first page when it had buttons
