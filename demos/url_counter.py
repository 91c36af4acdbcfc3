"""URL-state counter: the count is in the address bar, so a link or reload restores it.

The mount's factory reads ``?n=``; ``url()`` returns ``("push", ...)`` so
every change is a new browser-history entry.
"""

from __future__ import annotations

from typing import Any

from stube import Component, event


class UrlCounter(Component):
    """A counter whose ``url()`` projects ``n`` into the query string."""

    name = "demo.url-counter"
    template = "demos/url_counter.html"

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def url(self) -> tuple[str, str]:
        # Relative to the page, so it also works when the gallery is mounted under a prefix.
        return ("push", f"?n={self.n}")

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def dec(self) -> None:
        self.n -= 1


def parse_n(raw: str | None) -> int:
    try:
        return max(-10**9, min(10**9, int(raw or 0)))
    except ValueError:
        return 0


def from_request(request: Any) -> UrlCounter:
    """Mount factory: ``/url-counter?n=42`` starts at 42 (anything else at 0)."""
    return UrlCounter(parse_n(request.query_params.get("n")))
