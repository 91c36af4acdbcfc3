"""Seaside backtracking in Chromium: the browser's Back and Forward move the conversation (issue 15)."""

from __future__ import annotations

import re

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
    ctx.set_default_timeout(8000)
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
