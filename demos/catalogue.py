"""The mount table of the gallery: one entry per demo, grouped like the reference's.

``root`` is what ``app.mount(path, root)`` takes: a component class, a flow,
or a factory ``(request) -> component`` for demos that read the query string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import (
    breadcrumb,
    calc,
    calendar,
    chat,
    clock,
    columns,
    counter,
    dialogs,
    durable_wizard,
    error_answer,
    error_frame,
    file_upload,
    guess,
    multicounter,
    paginated_list,
    preferences,
    preserved_widget,
    protected_counter,
    reading_list,
    seaside_todo,
    shared_counter,
    table_report,
    tabs,
    todo,
    tree,
    url_counter,
    wizard,
)

GROUPS: list[str] = ["Foundation", "Tier 1", "Tier 2", "Tier 3", "Book app"]


@dataclass(frozen=True)
class Entry:
    path: str
    title: str
    group: str
    blurb: str
    #: What the gallery mounts at ``path``; ``None`` for a demo served by its own host app.
    root: type | Callable[[Any], Any] | None

    def __iter__(self):  # ``path, title, group, blurb, root = entry``
        return iter((self.path, self.title, self.group, self.blurb, self.root))


CATALOGUE: list[Entry] = [
    # Foundation
    Entry("/counter", "Counter", "Foundation",
          "The smallest component: state in attributes, two events, a morph.", counter.CounterPage),
    Entry("/multicounter", "Multicounter", "Foundation",
          "Three counters in a keyed list; a click re-renders only its own counter.", multicounter.Multicounter),
    Entry("/calc", "Calculator", "Foundation",
          "One component, many events: a pocket calculator.", calc.Calculator),
    Entry("/wizard", "Wizard (task component)", "Foundation",
          "A hand-written task: start() calls the first step, resume methods thread the answers. "
          "Back re-opens a step with what you typed.", wizard.Wizard),
    Entry("/durable-wizard", "Wizard (durable flow)", "Foundation",
          "The same wizard as straight-line code with ask(); durable, so it survives a restart.",
          durable_wizard.durable_wizard),
    Entry("/dialogs", "Stock dialogs", "Foundation",
          "Confirm, Prompt, Choose and Info strung together by a flow. Works without JavaScript.",
          dialogs.dialogs),
    Entry("/guess", "Guess the number", "Foundation",
          "A flow loops over a custom prompt until you find the number.", guess.guess),
    Entry("/calendar", "Calendar", "Foundation",
          "A flow over two questions: pick a day from a month grid, then see it.", calendar.calendar_demo),
    # Tier 1
    Entry("/todo", "Todo", "Tier 1",
          "Click a label to edit it in place: call_in_slot puts an editor into that row only.", todo.Todo),
    Entry("/tabs", "Tabs", "Tier 1",
          "Three live children, one rendered; counter and notes survive switching tabs.", tabs.Tabs),
    Entry("/url-counter", "URL-state counter", "Tier 1",
          "The count lives in the address bar (?n=), with a history entry per click.",
          url_counter.from_request),
    Entry("/reading-list", "Reading list", "Tier 1",
          "Open articles are restored from ?items= and written back as you open and close them.",
          reading_list.from_request),
    Entry("/breadcrumb", "Breadcrumb", "Tier 1",
          "A page component decorated by a subclass with a breadcrumb trail.", breadcrumb.BreadcrumbPage),
    Entry("/preferences", "Preferences", "Tier 1",
          "Sort order and a collapsed panel kept in the browser session's stash.", preferences.Preferences),
    Entry("/error-frame", "Error frame", "Tier 1",
          "A handler that raises becomes an in-place error banner; nothing else breaks.",
          error_frame.ErrorFrame),
    Entry("/error-answer", "answer-error", "Tier 1",
          "A child reports a failed save to its caller, which re-opens the form with the draft.",
          error_answer.ErrorAnswer),
    Entry("/protected-counter", "Protected counter", "Tier 1",
          "What you see depends on stube.principal() (sign in with ?user=ada).",
          protected_counter.ProtectedCounter),
    # Tier 2
    Entry("/tree", "Tree", "Tier 2",
          "A recursive renderer; the state is the set of open branches.", tree.Tree),
    Entry("/table-report", "Table report", "Tier 2",
          "A reusable sortable table configured by column descriptions.", table_report.TableReportPage),
    Entry("/paginated-list", "Paginated list", "Tier 2",
          "A reusable list component with page buttons; keeps only the page and its row source's name.",
          paginated_list.PaginatedPage),
    Entry("/columns", "Columns", "Tier 2",
          "Keyed columns: adding or closing one sends one insert or remove, never a full re-render.",
          columns.Columns),
    # Tier 3
    Entry("/clock", "Timers", "Tier 3",
          "A live clock and a fast counter pushed by after(), with pause and resume.", clock.Clock),
    Entry("/chat", "Chat", "Tier 3",
          "Pub/sub between tabs: every open /chat page sees every message.", chat.Chat),
    Entry("/shared-counter", "Shared counter", "Tier 3",
          "One process-wide number, live in every tab, with a report of the broadcasts.",
          shared_counter.SharedCounterPage),
    Entry("/file-upload", "File upload", "Tier 3",
          "A multipart form posted as an event, with or without JavaScript.", file_upload.FileUpload),
    Entry("/preserved-widget", "Preserved widget", "Tier 3",
          "A canvas drawn by browser code survives every re-render of its parent.",
          preserved_widget.PreservedWidget),
    # Book app
    Entry("/seaside-todo", "Seaside book ToDo", "Book app",
          "The ToDo application from the Seaside book: login, sign-up, filters, a generated editor.",
          seaside_todo.TodoApp),
    # Served by its own Starlette host, mounted beside the gallery (see demos/app.py).
    Entry("/embedded/", "Embedded in a host app", "Tier 3",
          "A Starlette host with its own routes (/healthz, /api/foo) and a stube widget rendered into its page.",
          None),
]

def by_group() -> list[tuple[str, list[Entry]]]:
    """``[(group, [entries])]`` in :data:`GROUPS` order."""
    return [(g, [e for e in CATALOGUE if e.group == g]) for g in GROUPS]
