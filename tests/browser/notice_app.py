"""A small app whose events fail in every way a page can see: refusals, a crash, the network."""

from __future__ import annotations

import os

from stube import Component, Stube, event


class Clicker(Component):
    name = "notice/clicker"
    template_string = """
<div {{ root(class="clicker") }}>
  <span class="count">{{ self.n }}</span>
  <button class="inc" {{ on("inc") }}>+</button>
  <button class="add" {{ on("add", amount="many") }}>add many</button>
</div>"""

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def add(self, amount: int) -> None:
        self.n += amount


class Twin(Component):
    """A neighbour whose notice must not be confused with the clicker's."""

    name = "notice/twin"
    template_string = """<div {{ root(class="twin") }}><button class="ping" {{ on("ping") }}>ping</button></div>"""

    @event
    def ping(self) -> None:
        pass


class Page(Component):
    name = "notice/page"
    template_string = """<section {{ root() }}>{{ slot("clicker") }}{{ slot("twin") }}</section>"""

    def children(self) -> dict[str, Component]:
        return {"clicker": Clicker(), "twin": Twin()}


app = Stube(secret_key=os.environ.get("STUBE_SECRET", "notice-tests"))
app.mount("/", Page)

#: The same page in debug mode: notices with details, and the inspector.
debug_app = Stube(secret_key=os.environ.get("STUBE_SECRET", "notice-tests"), debug=True)
debug_app.mount("/", Page)
