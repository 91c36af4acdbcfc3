"""Foundation demos, driven the way their browser scenarios drive them."""

from __future__ import annotations

import datetime as dt

import pytest

from demos.calc import Calculator
from demos.calendar import MonthPicker, calendar_demo
from demos.counter import CounterPage
from demos.dialogs import dialogs
from demos.durable_wizard import durable_wizard
from demos.guess import GuessPrompt, guess
from demos.multicounter import Multicounter
from demos.testing import DemoHarness
from demos.wizard import Wizard
from stube import fragments as fr
from stube.flows import replay_flow

# -- counter --------------------------------------------------------------------------


def test_counter_page() -> None:
    h = DemoHarness(CounterPage)
    assert h.page.one("h2").text == "Counter"
    assert h.page.one(".stube-counter span").text == "0"
    h.click("+")
    h.click("+")
    h.click("−")
    assert h.page.one(".stube-counter span").text == "1"


# -- multicounter ---------------------------------------------------------------------


def test_multicounter_click_rerenders_only_its_own_counter() -> None:
    h = DemoHarness(Multicounter)
    page = h.page
    assert page.one("h1").text == "Multicounter"
    counters = page.select(".stube-counter")
    assert [c.one("span").text for c in counters] == ["0", "5", "10"]
    frags = h.click("+", within=counters[0])
    assert [(f.kind, f.target) for f in frags] == [(fr.MORPH, counters[0].get("id"))]
    assert [c.one("span").text for c in h.page.select(".stube-counter")] == ["1", "5", "10"]


# -- calculator -----------------------------------------------------------------------


def press(h: DemoHarness, keys: str) -> str:
    for key in keys.split():
        h.click(key)
    return h.page.one("section div").text  # the display: the section's first div


def test_calc_three_plus_four_equals_seven() -> None:
    h = DemoHarness(Calculator)
    assert h.page.one("h2").text == "Calculator"
    assert press(h, "3 + 4 =") == "7"


@pytest.mark.parametrize("keys, shown", [
    ("1 2 + 3 × 2 =", "30"),            # left to right, like a pocket calculator
    ("7 ÷ 2 =", "3.5"),
    ("8 ÷ 0 =", "Err"),
    ("8 ÷ 0 = 5", "5"),                 # a digit after Err starts afresh
    ("9 − 1 2 =", "-3"),
    ("5 ±", "-5"),
    ("1 . 5 + . 5 =", "2"),             # integers are shown without ".0"
    ("1 . . 2", "1.2"),
    ("4 + 1 C", "0"),
    ("2 + 3 = =", "5"),
])
def test_calc_semantics(keys: str, shown: str) -> None:
    assert press(DemoHarness(Calculator), keys) == shown


# -- wizard (task component) and the durable flow -------------------------------------


@pytest.mark.parametrize("root", [Wizard, durable_wizard], ids=["task", "durable-flow"])
def test_wizard_back_preserves_typed_value(root: type) -> None:
    h = DemoHarness(root)
    assert h.page.one("form label").text == "What's your name?"
    assert h.page.one("input[name=answer]").get("placeholder") == "Ada"
    h.click("Next", fields={"answer": "Ada"})
    assert h.page.one("form label").text == "Favourite colour?"
    h.click("Back")
    assert h.page.one("form label").text == "What's your name?"
    assert h.page.one("input[name=answer]").get("value") == "Ada"


@pytest.mark.parametrize("root", [Wizard, durable_wizard], ids=["task", "durable-flow"])
def test_wizard_summary_start_over_and_back(root: type) -> None:
    h = DemoHarness(root)
    h.click("Next", fields={"answer": "Ada"})
    h.click("Next", fields={"answer": "teal"})
    text = h.text
    assert "Decorated by subclassing" in text
    assert "All set, Ada!" in text
    assert "Your favourite colour is teal." in text
    assert h.page.one("strong").get("style") == "color: teal"
    h.click("Back")
    assert h.page.one("form label").text == "Favourite colour?"
    assert h.page.one("input[name=answer]").get("value") == "teal"
    h.click("Next", fields={"answer": "red"})
    h.click("Start over")
    assert h.page.one("form label").text == "What's your name?"
    assert h.page.one("input[name=answer]").get("value") == ""


@pytest.mark.parametrize("root", [Wizard, durable_wizard], ids=["task", "durable-flow"])
def test_wizard_back_on_first_step_ends_the_conversation(root: type) -> None:
    h = DemoHarness(root)
    h.click("Back")
    assert h.ended


def test_wizard_requires_an_answer_and_never_styles_with_user_input() -> None:
    h = DemoHarness(Wizard)
    h.click("Next", fields={"answer": "   "})
    assert "Please type an answer." in h.text
    h.click("Next", fields={"answer": "Ada"})
    h.click("Next", fields={"answer": "red; background: url(x)"})
    assert h.page.one("strong").get("style") is None


def test_task_wizard_persists_as_plain_json() -> None:
    h = DemoHarness(Wizard)
    h.click("Next", fields={"answer": "Ada"})
    assert h.roundtrip() == h.conversation


def test_durable_wizard_log_replays_against_todays_code() -> None:
    h = DemoHarness(durable_wizard)
    h.click("Next", fields={"answer": "Ada"})
    h.click("Next", fields={"answer": "teal"})
    state = next(r["state"] for r in h.conversation["instances"].values() if r["type"] == durable_wizard._stube_type)
    assert h.roundtrip() == h.conversation  # durable: the log is state
    replay = replay_flow(durable_wizard, state["log"], *state.get("args", ()), **state.get("kwargs", {}))
    assert not replay.finished
    assert (replay.next.name, replay.next.colour) == ("Ada", "teal")


# -- dialogs ----------------------------------------------------------------------------


def test_dialogs_flow_end_to_end() -> None:
    h = DemoHarness(dialogs)
    assert h.page.one("p.stube-card__body").text == "Ready to play?"
    h.click("Yes")
    assert h.page.one("label.stube-label").text == "What's your name?"
    assert h.page.one("input[name=value]").get("value") == "Ada"
    h.click("OK", fields={"value": "Ada"})
    assert h.page.one("p.stube-card__body").text == "Pick a colour, Ada:"
    h.click("red")
    assert h.page.one("p.stube-card__body").text == "Hello Ada — your colour is red."
    h.click("OK")
    assert h.ended


@pytest.mark.parametrize("steps, message", [
    ([("No", None)], "Maybe next time."),
    ([("Yes", None), ("Cancel", None)], "Cancelled."),
    ([("Yes", None), ("OK", {"value": "Grace"}), ("Cancel", None)], "OK Grace, maybe later."),
])
def test_dialogs_every_way_out(steps: list, message: str) -> None:
    h = DemoHarness(dialogs)
    for label, fields in steps:
        h.click(label, fields=fields)
    assert h.page.one("p.stube-card__body").text == message
    h.click("OK")
    assert h.ended


# -- guess ------------------------------------------------------------------------------


def test_guess_flow_advances_on_each_guess() -> None:
    h = DemoHarness(guess(target=42))
    assert h.page.one("form.stube-prompt p").text == "Pick a number from 1 to 100."
    h.click("Guess", fields={"answer": "1"})
    assert h.page.one("form.stube-prompt p").text == "Too low — try again. (Attempt 1)"
    h.click("Guess", fields={"answer": "90"})
    assert h.page.one("form.stube-prompt p").text == "Too high — try again. (Attempt 2)"
    h.click("Guess", fields={"answer": "42"})
    assert h.page.one("div.stube-info p").text == "🎉 Got it! 42 in 3 attempts."
    h.click("Continue")
    assert h.ended and h.result == 3


def test_guess_rejects_non_numbers_without_counting_them() -> None:
    h = DemoHarness(guess(target=7))
    h.click("Guess", fields={"answer": "seven"})
    assert "Please enter a number." in h.text
    assert h.page.one("form.stube-prompt p").text == "Pick a number from 1 to 100."
    h.click("Guess", fields={"answer": "7"})
    assert h.page.one("div.stube-info p").text == "🎉 Got it! 7 in 1 attempt."


def test_guess_random_target_is_remembered_across_a_rewind() -> None:
    h = DemoHarness(guess)
    for n in range(1, 101):
        h.click("Guess", fields={"answer": str(n)})
        if h.find(GuessPrompt) is None:
            break
    target = n
    h.back()  # rewind to the prompt before the winning guess: the flow replays its log
    h.click("Guess", fields={"answer": str(target)})
    assert f"Got it! {target} in" in h.text


# -- calendar ---------------------------------------------------------------------------


def test_calendar_pick_a_day_shows_the_date_and_loops() -> None:
    h = DemoHarness(calendar_demo)
    page = h.page
    header = page.one("section header")
    today = dt.date.today()
    assert today.strftime("%B") in header.text and str(today.year) in header.text
    cells = [c for c in page.select("div[style*=cursor]") if c.text == "15"]
    assert len(cells) == 1
    h.press(cells[0].one("button"))
    assert h.page.one("h3").text == "You picked"
    assert h.page.one("p strong").text == today.replace(day=15).isoformat()
    h.click("Pick another")
    assert h.find(MonthPicker) is not None
    h.click("Cancel")
    assert h.ended


def test_calendar_grid_and_navigation() -> None:
    h = DemoHarness(calendar_demo)
    picker = h.find(MonthPicker)
    h.dispatch("prev", target=picker.iid)
    h.dispatch("prev", target=picker.iid)
    picker = h.find(MonthPicker)
    first = dt.date(picker.year, picker.month, 1)
    page = h.page
    assert first.strftime("%B") in page.one("header").text
    clickable = page.select("div[style*=cursor] button")
    days = (first.replace(month=first.month % 12 + 1, year=first.year + first.month // 12) - first).days
    assert [b.text for b in clickable] == [str(d) for d in range(1, days + 1)]
    assert len(page.select(".demo-cal__cell")) == 42  # six Monday-first weeks
    h.dispatch("pick", target=picker.iid, day=40)  # a forged day changes nothing
    assert h.find(MonthPicker) is not None
