"""Protected counter: what the page offers depends on ``stube.principal()``.

The gallery computes the principal from ``?user=`` when a conversation is
minted (a stand-in for real sign-in), and it is fixed from then on. The
conversation also belongs to the browser session that minted it, so a
copied event URL does nothing in another browser.
"""

from __future__ import annotations

import stube
from stube import Component, event


class ProtectedCounter(Component):
    """A counter only a signed-in principal may change."""

    name = "demo.protected-counter"
    template = "demos/protected_counter.html"

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        if stube.principal():
            self.n += 1

    @event
    def dec(self) -> None:
        if stube.principal():
            self.n -= 1
