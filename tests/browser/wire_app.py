"""A tiny application for the wire's browser tests: counter, neighbours, a timer, pub/sub."""

from __future__ import annotations

import stube
from stube import Component, Stube, after, event, io, subscribe


class Counter(Component):
    name = "wire/counter"
    template_string = """
<div {{ root(class="counter") }}>
  <form>
    <button {{ on("dec") }}>-</button>
    <span class="count">{{ self.n }}</span>
    <button {{ on("inc") }}>+</button>
  </form>
</div>"""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def dec(self) -> None:
        self.n -= 1


class Note(Component):
    """An input whose typed text must survive a neighbour's re-render."""

    name = "wire/note"
    template_string = """
<div {{ root() }}><label>Note <input name="note" class="note" value=""></label></div>"""


class Neighbours(Component):
    name = "wire/neighbours"
    template_string = """
<section {{ root() }}><h1>Neighbours</h1>{{ slot("note") }}{{ slot("counter") }}</section>"""

    def children(self) -> dict[str, Component]:
        return {"note": Note(), "counter": Counter()}


class Ticker(Component):
    name = "wire/ticker"
    template_string = """<div {{ root() }}><p>Ticks: <span class="ticks">{{ self.ticks }}</span></p></div>"""

    def __init__(self) -> None:
        self.ticks = 0

    def start(self):  # type: ignore[no-untyped-def]
        return after(0.2, "tick")

    def tick(self):  # type: ignore[no-untyped-def]
        self.ticks += 1
        if self.ticks < 3:
            return after(0.2, "tick")
        return None


class Board(Component):
    name = "wire/board"
    fields = ("text",)
    template_string = """
<div {{ root() }}>
  <ul class="messages">{% for m in self.messages %}<li>{{ m }}</li>{% endfor %}</ul>
  <form><input name="text"><button {{ on("send") }}>Send</button></form>
</div>"""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.text = ""

    def start(self):  # type: ignore[no-untyped-def]
        return subscribe("board", "received")

    @event
    def send(self):  # type: ignore[no-untyped-def]
        text = self.text
        return io(lambda: stube.publish("board", text))

    def received(self, message: str) -> None:
        self.messages.append(message)


app = Stube(secret_key="wire-tests")
app.mount("/counter", Counter)
app.mount("/neighbours", Neighbours)
app.mount("/ticker", Ticker)
app.mount("/board", Board)
