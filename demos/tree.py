"""Tree: a recursive renderer over fixed data; the state is just the set of open branches."""

from __future__ import annotations

from typing import Any

from stube import Component, event

TREE: dict[str, Any] = {
    "id": "project", "label": "stube", "kind": "project", "children": [
        {"id": "src", "label": "stube/", "kind": "package", "children": [
            {"id": "kernel", "label": "kernel.py", "kind": "module"},
            {"id": "render", "label": "render.py", "kind": "module"},
            {"id": "effects", "label": "effects.py", "kind": "module"},
            {"id": "ui", "label": "ui.py", "kind": "module"},
        ]},
        {"id": "examples", "label": "demos/", "kind": "package", "children": [
            {"id": "foundation", "label": "Foundation", "kind": "group", "children": [
                {"id": "counter", "label": "counter.py", "kind": "demo"},
                {"id": "wizard", "label": "wizard.py", "kind": "demo"},
            ]},
            {"id": "tier-2", "label": "Tier 2", "kind": "group", "children": [
                {"id": "tree", "label": "tree.py", "kind": "demo"},
                {"id": "table", "label": "table_report.py", "kind": "demo"},
                {"id": "pages", "label": "paginated_list.py", "kind": "demo"},
            ]},
            {"id": "tier-3", "label": "Tier 3", "kind": "group", "children": [
                {"id": "chat", "label": "chat.py", "kind": "demo"},
                {"id": "clock", "label": "clock.py", "kind": "demo"},
            ]},
        ]},
        {"id": "tests", "label": "tests/", "kind": "package", "children": [
            {"id": "t-kernel", "label": "test_kernel.py", "kind": "test"},
            {"id": "t-demos", "label": "test_demos_tier2.py", "kind": "test"},
        ]},
        {"id": "readme", "label": "README.md", "kind": "file"},
    ],
}


def branches(node: dict[str, Any] = TREE) -> list[str]:
    """Ids of every node that has children, pre-order."""
    out = [node["id"]] if node.get("children") else []
    for child in node.get("children", []):
        out += branches(child)
    return out


class Tree(Component):
    """Expand and collapse branches; ``open`` is a list used as a set."""

    name = "demo.tree"
    template = "demos/tree.html"

    def __init__(self) -> None:
        self.open = ["project", "src", "examples", "tier-2"]

    @property
    def root_node(self) -> dict[str, Any]:
        return TREE

    @event
    def toggle(self, node: str) -> None:
        if node in self.open:
            self.open.remove(node)
        elif node in branches():
            self.open.append(node)

    @event
    def expand_all(self) -> None:
        self.open = branches()

    @event
    def collapse_all(self) -> None:
        self.open = []
