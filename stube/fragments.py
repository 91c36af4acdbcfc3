"""Fragments: wire-neutral descriptions of what changed on the page.

The kernel produces them; :mod:`stube.wire` turns them into htmx partials
(for event responses and SSE pushes), and a Harness simply collects them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Replace the conversation's container content (a new frame became the page).
PAGE = "page"
#: Morph the element with id ``target`` (an instance re-rendered in place).
MORPH = "morph"
#: An error banner replacing the element with id ``target``.
ERROR = "error"
#: Insert HTML relative to ``target``: ``mode`` is ``append``, ``prepend`` or ``after``.
INSERT = "insert"
#: Remove the element with id ``target``.
REMOVE = "remove"
#: An application ``patch()``: morph by the id of its top element.
PATCH = "patch"
#: Run JavaScript in the page (``execute_script``).
SCRIPT = "script"
#: Set the browser URL; ``mode`` is ``push`` or ``replace``.
HISTORY = "history"
#: The conversation moved to another step (``backtrack``): ``mode`` is ``push`` or ``replace``, ``html``
#: the step's address (empty: keep the address a ``HISTORY`` fragment or the page set), ``step`` its label.
STEP = "step"
#: The conversation ended; the stream closes. ``html`` is what the page shows instead (when the kernel rendered it).
CLOSE = "close"


@dataclass(slots=True)
class Fragment:
    """One change to the page: ``kind`` (a constant above), its ``target`` element id, ``html``, ``mode``."""

    kind: str
    target: str = ""
    html: str = ""
    mode: str = ""
    #: The instance whose markup this is (used to drop fragments a bigger render covers).
    source: str = ""
    #: ``STEP`` fragments: the step's label and the conversation's version after the fold.
    step: int | None = None
    version: int | None = None

    def __repr__(self) -> str:
        body = self.html if len(self.html) < 60 else self.html[:57] + "..."
        return f"<Fragment {self.kind} {self.mode} #{self.target} {body!r}>"
