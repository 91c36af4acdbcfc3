"""Todo: click a label to edit it in place, in a slot inside that row.

``call_in_slot("editor", ...)`` puts an editor into the list for as long as
it takes; its answer (the new text, or ``CANCEL``) arrives at ``on_edit``
and the slot empties again.
"""

from __future__ import annotations

from typing import Any

from stube import Component, answer, call_in_slot, event
from stube.effects import Answer, CallInSlot
from stube.ui import CANCEL


class TodoEditor(Component):
    """An inline form: ``text`` input, Save, Cancel."""

    name = "demo.todo.editor"
    template = "demos/todo_editor.html"
    fields = ("text",)

    def __init__(self, text: str = "") -> None:
        self.text = text

    @event
    def save(self) -> Answer | None:
        text = (self.text or "").strip()
        if not text:
            return None
        return answer(text[:200])

    @event
    def cancel(self) -> Answer:
        return answer(CANCEL)


class Todo(Component):
    """The list: items, the add box, and which row (if any) is being edited."""

    name = "demo.todo"
    template = "demos/todo.html"
    fields = ("draft",)

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = [
            {"id": 1, "text": "click a label to edit it", "done": False},
            {"id": 2, "text": "tick the box when done", "done": False},
        ]
        self.next_id = 3
        self.draft = ""
        self.added = 0
        self.editing: int | None = None

    @property
    def open_count(self) -> int:
        return sum(1 for i in self.items if not i["done"])

    @property
    def done_count(self) -> int:
        return len(self.items) - self.open_count

    def _item(self, id: int) -> dict[str, Any] | None:
        return next((i for i in self.items if i["id"] == id), None)

    @event
    def add(self) -> None:
        text = (self.draft or "").strip()
        if text:
            self.items.append({"id": self.next_id, "text": text[:200], "done": False})
            self.next_id += 1
            self.draft = ""
            self.added += 1  # a fresh input element, so the browser clears what was typed

    @event
    def toggle(self, id: int) -> None:
        item = self._item(id)
        if item is not None:
            item["done"] = not item["done"]

    @event
    def remove(self, id: int) -> None:
        if id != self.editing:
            self.items = [i for i in self.items if i["id"] != id]

    @event
    def edit(self, id: int) -> CallInSlot | None:
        item = self._item(id)
        if item is None or self.editing is not None:
            return None
        self.editing = id
        return call_in_slot("editor", TodoEditor(item["text"]), resume="on_edit")

    def on_edit(self, text: str) -> None:
        item = self._item(self.editing) if self.editing is not None else None
        if item is not None and text != CANCEL:
            item["text"] = text
        self.editing = None
