"""Calendar: a flow that loops over two questions — pick a day, then show it.

The month grid answers an ISO date string (JSON, so it can sit in
conversation state), or :data:`stube.ui.CANCEL`; cancelling ends the flow and
with it the conversation.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt

from stube import Component, answer, event
from stube.effects import Answer
from stube.flows import ask, flow
from stube.ui import CANCEL

MONTHS = list(_cal.month_name)


def month_grid(year: int, month: int) -> list[list[dict[str, int | bool]]]:
    """Six weeks of seven days, Monday first; ``in_month`` marks the clickable days."""
    first = dt.date(year, month, 1)
    start = first - dt.timedelta(days=first.weekday())
    weeks = []
    for w in range(6):
        week = []
        for d in range(7):
            day = start + dt.timedelta(days=w * 7 + d)
            week.append({"day": day.day, "in_month": day.month == month})
        weeks.append(week)
    return weeks


class MonthPicker(Component):
    """A month grid with ‹/› navigation; answers the picked day as ``YYYY-MM-DD``."""

    name = "demo.calendar.month"
    template = "demos/calendar_month.html"

    def __init__(self, year: int | None = None, month: int | None = None) -> None:
        today = dt.date.today()
        self.year = year or today.year
        self.month = month or today.month

    @property
    def title(self) -> str:
        return f"{MONTHS[self.month]} {self.year}"

    @property
    def weeks(self) -> list[list[dict[str, int | bool]]]:
        return month_grid(self.year, self.month)

    @event
    def prev(self) -> None:
        self.year, self.month = (self.year - 1, 12) if self.month == 1 else (self.year, self.month - 1)

    @event
    def next(self) -> None:
        self.year, self.month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)

    @event
    def pick(self, day: int) -> Answer | None:
        try:
            return answer(dt.date(self.year, self.month, day).isoformat())
        except (TypeError, ValueError):
            return None  # a forged or stale day: nothing happens

    @event
    def cancel(self) -> Answer:
        return answer(CANCEL)


class ShowDate(Component):
    """Shows the picked date; "Pick another" answers and the flow loops."""

    name = "demo.calendar.show"
    template = "demos/calendar_show.html"

    def __init__(self, date: str = "") -> None:
        self.date = date

    @property
    def long(self) -> str:
        return dt.date.fromisoformat(self.date).strftime("%A, %d %B %Y")

    @event
    def again(self) -> Answer:
        return answer(None)


@flow
def calendar_demo() -> None:
    """Pick a day, see it, pick another; Cancel ends the conversation."""
    while True:
        day = ask(MonthPicker())
        if day == CANCEL:
            return None
        ask(ShowDate(day))
