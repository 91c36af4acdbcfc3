"""Seaside backtracking in Chromium: the browser's Back and Forward move the conversation (issue 15)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, open_demo

LABEL = "form label"
ANSWER = "input[name=answer]"


def next_with(page: Page, text: str) -> None:
    page.locator(ANSWER).fill(text)
    page.locator("button[type=submit]").click()


def wizard_three_steps_in(page: Page, server: Server, path: str = "/wizard") -> None:
    open_demo(page, server, path)
    expect(page.locator(LABEL)).to_have_text("What's your name?")
    next_with(page, "Ada")
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    next_with(page, "teal")
    expect(page.locator("h2")).to_have_text("All set, Ada!")


def test_back_twice_shows_step_one_as_typed_forward_shows_step_two_and_a_new_answer_branches(
        demos: Server, page: Page) -> None:
    wizard_three_steps_in(page, demos)
    page.evaluate("window.sameDocument = true")
    page.go_back()
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    expect(page.locator(ANSWER)).to_have_value("teal")
    page.go_back()
    expect(page.locator(LABEL)).to_have_text("What's your name?")
    expect(page.locator(ANSWER)).to_have_value("Ada")
    page.go_forward()
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    expect(page.locator(ANSWER)).to_have_value("teal")
    page.go_back()
    expect(page.locator(LABEL)).to_have_text("What's your name?")
    next_with(page, "Grace")
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    next_with(page, "red")
    expect(page.locator("h2")).to_have_text("All set, Grace!")
    assert page.evaluate("window.sameDocument") is True  # Back/Forward moved the conversation, no reload
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_without_javascript_back_and_forward_get_the_step_addresses(demos: Server, browser) -> None:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(java_script_enabled=False)
    ctx.set_default_timeout(15000)
    try:
        page = ctx.new_page()
        response = page.goto(demos.url + "/wizard")
        assert response is not None and response.status == 200
        next_with(page, "Ada")
        expect(page.locator(LABEL)).to_have_text("Favourite colour?")
        assert re.search(r"[?&]step=\d+", page.url)
        next_with(page, "teal")
        expect(page.locator("h2")).to_have_text("All set, Ada!")
        page.go_back()
        expect(page.locator(LABEL)).to_have_text("Favourite colour?")
        expect(page.locator(ANSWER)).to_have_value("teal")
        page.go_back()
        expect(page.locator(LABEL)).to_have_text("What's your name?")
        expect(page.locator(ANSWER)).to_have_value("Ada")
        page.go_forward()
        expect(page.locator(LABEL)).to_have_text("Favourite colour?")
        page.go_back()
        expect(page.locator(LABEL)).to_have_text("What's your name?")
        next_with(page, "Grace")
        next_with(page, "red")
        expect(page.locator("h2")).to_have_text("All set, Grace!")
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def short() -> Iterator[Server]:
    """tests/browser/backtrack_app.py: history_limit=2."""
    server = Server("tests.browser.backtrack_app:app").start()
    yield server
    server.stop()


def test_back_past_history_limit_shows_the_current_step_with_a_notice(short: Server, page: Page) -> None:
    open_demo(page, short, "/counter")
    value = page.locator(".stube-counter__value")
    plus = page.locator('button[aria-label="Increase"]')
    entries = page.evaluate("history.length")
    for n in range(1, 5):
        plus.click()
        expect(value).to_have_text(str(n))
    assert page.evaluate("history.length") == entries  # counter clicks replace the entry, they never push
    open_demo(page, short, "/wizard")
    for text, label in (("Ada", "Favourite colour?"), ("teal", None)):
        next_with(page, text)
        if label:
            expect(page.locator(LABEL)).to_have_text(label)
    expect(page.locator("h2")).to_have_text("All set, Ada!")
    page.locator('button:has-text("Back")').click()  # the summary's own Back: a step of its own
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    next_with(page, "red")
    expect(page.locator("h2")).to_have_text("All set, Ada!")
    # Back waits for each step to show: three quick Backs may reach the server as one, or as two,
    # and "where the conversation is now" then depends on how many travels the server saw.
    page.go_back()
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    page.go_back()
    expect(page.locator("h2")).to_have_text("All set, Ada!")
    page.go_back()  # the name step is three steps back: older than history_limit=2
    expect(page.locator("[data-stube-step-gone]")).to_contain_text("last 2 steps")
    expect(page.locator("h2")).to_have_text("All set, Ada!")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_two_pages_of_one_conversation_follow_the_one_that_goes_back(demos: Server, context) -> None:  # type: ignore[no-untyped-def]
    first = context.new_page()
    wizard_three_steps_in(first, demos)
    second = context.new_page()
    second.goto(first.url)  # the same conversation in another tab (the address names it)
    expect(second.locator("h2")).to_have_text("All set, Ada!")
    expect(second.locator("[data-stube-cid]")).to_have_attribute("data-stube-cid", re.compile("cv-"))
    first.go_back()
    expect(first.locator(LABEL)).to_have_text("Favourite colour?")
    expect(second.locator(LABEL)).to_have_text("Favourite colour?")
    expect(second.locator(ANSWER)).to_have_value("teal")
    second.reload()  # the second tab's address follows too: a reload stays on this step
    expect(second.locator(LABEL)).to_have_text("Favourite colour?")
    expect(first.locator(LABEL)).to_have_text("Favourite colour?")
    next_with(second, "navy")
    expect(second.locator("h2")).to_have_text("All set, Ada!")
    expect(first.locator("h2")).to_have_text("All set, Ada!")
    expect(first.locator("body")).to_contain_text("navy")


def test_a_durable_flow_goes_back_and_continues_from_there(short: Server, page: Page) -> None:
    open_demo(page, short, "/durable-wizard")
    next_with(page, "Ada")
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    next_with(page, "teal")
    expect(page.locator("h2")).to_have_text("All set, Ada!")
    page.go_back()
    page.go_back()
    expect(page.locator(LABEL)).to_have_text("What's your name?")
    expect(page.locator(ANSWER)).to_have_value("Ada")
    page.go_forward()
    expect(page.locator(LABEL)).to_have_text("Favourite colour?")
    next_with(page, "plum")
    expect(page.locator("h2")).to_have_text("All set, Ada!")
    expect(page.locator("body")).to_contain_text("plum")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_url_projection_keeps_its_address_and_back_moves_its_state(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/url-counter?n=5")
    plus = page.locator('button:has-text("+")')
    shown = page.locator("section[id^='ix'] span").filter(has_text=re.compile(r"^\d+$")).first
    plus.click()
    expect(page).to_have_url(re.compile(r"\?n=6$"))
    plus.click()
    expect(page).to_have_url(re.compile(r"\?n=7$"))
    page.evaluate("window.sameDocument = true")
    page.go_back()
    expect(page).to_have_url(re.compile(r"\?n=6$"))
    expect(shown).to_have_text("6")
    page.go_forward()
    expect(shown).to_have_text("7")
    page.go_back()
    expect(shown).to_have_text("6")
    plus.click()  # continues from 6
    expect(shown).to_have_text("7")
    assert page.evaluate("window.sameDocument") is True
