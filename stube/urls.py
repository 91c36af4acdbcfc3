"""The URLs stube renders (events, back, SSE, static files, pages), under a mount prefix.

Its own module so the template helpers, the renderer and the HTTP layer share
it without importing each other.
"""

from __future__ import annotations


class Urls:
    """Every URL stube renders, under the prefix the app is mounted at."""

    __slots__ = ("base",)

    def __init__(self, base: str = "") -> None:
        self.base = base.rstrip("/")

    def event(self, cid: str, iid: str, name: str) -> str:
        return f"{self.base}/_stube/event/{cid}/{iid}/{name}"

    def back(self, cid: str) -> str:
        return f"{self.base}/_stube/back/{cid}"

    def sse(self, cid: str) -> str:
        return f"{self.base}/_stube/sse/{cid}"

    def static(self, path: str) -> str:
        return f"{self.base}/_stube/static/{path}"

    def page(self, mount: str, cid: str | None = None) -> str:
        path = self.base + (mount if mount.startswith("/") else "/" + mount)
        if not path:
            path = "/"
        return f"{path}?cv={cid}" if cid else path
