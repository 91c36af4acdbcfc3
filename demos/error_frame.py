"""Error frame: a handler that raises turns its component into an error banner.

The conversation is left exactly as it was before the failing event, and the
event stream stays open: the rest of the page keeps working. As the whole page
is the banner, it offers a way on: "Dismiss" shows the last good state again,
"Start again" replaces the counter by a fresh one.
"""

from __future__ import annotations

from stube import Component, event


class ErrorFrame(Component):
    """A counter with a button that always fails."""

    name = "demo.error-frame"
    template = "demos/error_frame.html"

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def boom(self) -> None:
        self.n += 1000  # never seen: a failed event changes nothing
        raise RuntimeError("Boom! This handler raised on purpose.")
