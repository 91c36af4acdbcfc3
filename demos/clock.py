"""Timers: a live clock and a fast counter, both driven by ``after()``.

Each tick re-arms the next one. A generation number travels in the timer's
payload; pausing bumps it, so a tick that was already scheduled arrives
stale and is ignored instead of doubling the rate after a resume.
"""

from __future__ import annotations

import time

from stube import Component, after, event
from stube.effects import After


class LiveClock(Component):
    """HH:MM:SS, re-armed every second while running."""

    name = "demo.clock.live"
    template = "demos/clock_live.html"

    def __init__(self) -> None:
        self.now = time.strftime("%H:%M:%S")
        self.ticks = 0
        self.running = True
        self.gen = 0

    def start(self) -> After:
        return after(1, "tick", gen=self.gen)

    def wakeup(self) -> After | None:
        # Timers are not persisted: a restored (or rewound) clock arms a new one.
        self.gen += 1
        return after(1, "tick", gen=self.gen) if self.running else None

    def tick(self, gen: int) -> After | None:
        """Timer delivery (internal: not reachable from the browser)."""
        if gen != self.gen or not self.running:
            return None
        self.now = time.strftime("%H:%M:%S")
        self.ticks += 1
        return after(1, "tick", gen=self.gen)

    @event
    def pause(self) -> None:
        self.running = False
        self.gen += 1

    @event
    def resume(self) -> After | None:
        if self.running:
            return None
        self.running = True
        self.gen += 1
        self.now = time.strftime("%H:%M:%S")
        return after(1, "tick", gen=self.gen)


class Turbo(Component):
    """A number that grows four times a second."""

    name = "demo.clock.turbo"
    template = "demos/clock_turbo.html"
    interval = 0.25

    def __init__(self) -> None:
        self.n = 0
        self.running = True
        self.gen = 0

    def start(self) -> After:
        return after(self.interval, "tick", gen=self.gen)

    def wakeup(self) -> After | None:
        self.gen += 1
        return after(self.interval, "tick", gen=self.gen) if self.running else None

    def tick(self, gen: int) -> After | None:
        if gen != self.gen or not self.running:
            return None
        self.n += 1
        return after(self.interval, "tick", gen=self.gen)

    @event
    def stop_counting(self) -> None:
        self.running = False
        self.gen += 1

    @event
    def start_counting(self) -> After | None:
        if self.running:
            return None
        self.running = True
        self.gen += 1
        return after(self.interval, "tick", gen=self.gen)

    @event
    def reset(self) -> None:
        self.n = 0


class Clock(Component):
    """The ``/clock`` page: two independent timer-driven children."""

    name = "demo.clock"
    template = "demos/clock.html"

    def children(self) -> dict[str, Component]:
        return {"clock": LiveClock(), "turbo": Turbo()}
