"""Preserved widget: a canvas drawn by browser code survives its parent's re-renders.

The canvas carries ``hx-preserve`` and ``hx-morph-skip`` (and a stable id),
so htmx keeps the very same element, pixels and attributes included, while
the component around it re-renders. The drawing code is a small script in
the template that runs once per page and draws any canvas not drawn yet.
"""

from __future__ import annotations

from stube import Component, event


class PreservedWidget(Component):
    """Counts its own re-renders; the canvas inside is left alone by every one of them."""

    name = "demo.preserved-widget"
    template = "demos/preserved_widget.html"

    def __init__(self) -> None:
        self.renders = 0
        self.show_canvas = True

    @event
    def rerender(self) -> None:
        self.renders += 1

    @event
    def toggle_canvas(self) -> None:
        self.show_canvas = not self.show_canvas
