"""The stock dialogs: what each shows, what each answers, and that they work without JavaScript."""

from __future__ import annotations

import json
from typing import Any

import pytest

from demos.testing import DemoHarness, dom
from stube import Component, call
from stube.ui import CANCEL, Choose, Confirm, Info, Prompt, is_cancel


class Caller(Component):
    """Calls one dialog and records its answer."""

    name = "test.ui.caller"
    template_string = '<div {{ root() }}>answered</div>'

    def __init__(self) -> None:
        self.answers: list[Any] = []

    def start(self) -> Any:
        # The dialog to call is handed over out of band: state must stay JSON.
        return call(_pending.pop(), resume="on_answer")

    def on_answer(self, value: Any) -> None:
        self.answers.append(value)


_pending: list[Component] = []


def ask(dialog: Component) -> DemoHarness:
    _pending.append(dialog)
    h = DemoHarness(Caller())
    assert h.frames[-1] == type(dialog)._stube_type
    return h


def answered(h: DemoHarness) -> Any:
    assert h.frames == ["test.ui.caller"], h.frames
    return h.top.answers[-1]


def test_cancel_is_a_json_string_sentinel() -> None:
    assert CANCEL == {"stube": "cancel"} and json.loads(json.dumps(CANCEL)) == CANCEL
    assert is_cancel({"stube": "cancel"}) and not is_cancel("stube.ui.cancel") and not is_cancel(None)


def test_confirm_markup_and_answers() -> None:
    h = ask(Confirm("Delete the draft?"))
    page = h.page
    assert page.one("section.stube-card.stube-modal p.stube-card__body").text == "Delete the draft?"
    no, yes = page.select("form button")
    assert (no.text, yes.text) == ("No", "Yes")
    assert "stube-button--primary" in yes.classes and "stube-button--primary" not in no.classes
    h.click("Yes")
    assert answered(h) is True

    h = ask(Confirm("Delete the draft?"))
    h.click("No")
    assert answered(h) is False


def test_confirm_default_question() -> None:
    assert ask(Confirm()).page.one("p.stube-card__body").text == "Are you sure?"


def test_prompt_markup() -> None:
    page = ask(Prompt("What's your name?", default="Ada")).page
    form = page.one("form.stube-card.stube-modal")
    assert form.one("label.stube-label").text == "What's your name?"
    field = form.one("input.stube-input")
    assert field.get("name") == "value" and field.get("value") == "Ada"
    assert "autofocus" in field.attrs
    assert form.one("label").get("for") == field.get("id")
    buttons = form.select("button")
    # OK first in DOM order so Enter in the input submits it; CSS puts it on the right.
    assert [b.text for b in buttons] == ["OK", "Cancel"]
    assert buttons[0].get("type") == "submit" and "stube-button--primary" in buttons[0].classes


def test_prompt_answers_the_typed_value_field() -> None:
    h = ask(Prompt("Name?", default="Ada"))
    h.click("OK", fields={"value": "Grace"})
    assert answered(h) == "Grace"


def test_prompt_without_a_typed_value_answers_the_default() -> None:
    h = ask(Prompt("Name?", default="Ada"))
    h.click("OK")
    assert answered(h) == "Ada"
    assert ask(Prompt()).page.one("label.stube-label").text == "Please enter a value:"


def test_prompt_cancel() -> None:
    h = ask(Prompt("Name?"))
    h.click("Cancel", fields={"value": "typed but cancelled"})
    assert answered(h) == CANCEL


def test_choose_markup_and_answers() -> None:
    h = ask(Choose("Pick a colour:", ["red", "green", "blue"]))
    page = h.page
    assert page.one("p.stube-card__body").text == "Pick a colour:"
    options = page.select("button.stube-button--block")
    assert [b.text for b in options] == ["red", "green", "blue"]
    assert page.has_button("Cancel")
    h.click("green")
    assert answered(h) == "green"


def test_choose_answers_the_option_value_itself() -> None:
    h = ask(Choose(options=[1, {"id": 2}]))
    assert h.page.one("p.stube-card__body").text == "Pick one:"
    h.dispatch("pick", index=1)
    assert answered(h) == {"id": 2}


def test_choose_cancel_and_stale_index() -> None:
    h = ask(Choose("Pick:", ["a"]))
    h.dispatch("pick", index=5)            # a forged or stale index changes nothing
    assert h.frames[-1] == "stube.ui.Choose"
    h.click("Cancel")
    assert answered(h) == CANCEL


def test_info() -> None:
    h = ask(Info("Saved."))
    page = h.page
    assert page.one("p.stube-card__body").text == "Saved."
    assert [b.text for b in page.select("button")] == ["OK"]
    h.click("OK")
    assert answered(h) is None


@pytest.mark.parametrize("dialog", [Confirm("Q?"), Prompt("Q?"), Choose("Q?", ["a", "b"]), Info("Q.")],
                         ids=["confirm", "prompt", "choose", "info"])
def test_every_button_sits_in_a_form_and_posts_without_javascript(dialog: Component) -> None:
    page = ask(dialog).page
    buttons = page.select("button")
    assert buttons
    for b in buttons:
        node = b.parent
        while node is not None and node.tag != "form":
            node = node.parent
        assert node is not None, f"{b.text!r} is outside any form"
        assert b.get("formaction") and b.get("formmethod") == "post"
        assert b.get("formaction").startswith(b.get("hx-post"))
        assert b.get("type") in (None, "submit")  # a submit button, so the form posts it


def test_dialog_state_is_json() -> None:
    for dialog in (Confirm(), Prompt(), Choose(options=["x"]), Info("m")):
        h = ask(dialog)
        assert h.roundtrip() == h.conversation


def test_markup_is_escaped() -> None:
    page = dom(ask(Info("<b>bold</b>")).html())
    assert page.one("p.stube-card__body").text == "<b>bold</b>"
    assert not page.select("b")
