"""Browser tests beyond the reference's scenarios: a flow played to a win, two pages of
one session, and preferences that survive a reload and a server restart."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, open_demo


def test_guess_the_number_played_to_a_win(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/guess")
    low, high = 1, 100
    prompt = page.locator("form.stube-prompt p")
    for attempt in range(1, 8):  # a binary search needs at most 7 guesses
        guess = (low + high) // 2
        page.locator("input[name=answer]").fill(str(guess))
        page.locator("button[type=submit]").click()
        result = page.locator("form.stube-prompt p, div.stube-info p")
        expect(result).to_have_text(re.compile(rf"\(Attempt {attempt}\)|Got it"))
        text = result.inner_text()
        if "Got it" in text:
            assert f"Got it! {guess} in {attempt} attempt" in text
            break
        if "Too low" in text:
            low = guess + 1
        else:
            assert "Too high" in text
            high = guess - 1
    else:
        pytest.fail("no win within seven guesses")
    page.locator("button", has_text="Continue").click()
    expect(page.locator(".stube-ended")).to_contain_text("This conversation has ended.")
    expect(prompt).to_have_count(0)


def test_two_pages_of_one_session_do_not_interfere(demos: Server, context) -> None:  # type: ignore[no-untyped-def]
    first, second = context.new_page(), context.new_page()
    open_demo(first, demos, "/counter")
    open_demo(second, demos, "/counter")
    value = ".stube-counter__value"
    for _ in range(3):
        first.locator('button[aria-label="Increase"]').click()
    expect(first.locator(value)).to_have_text("3")
    second.locator('button[aria-label="Decrease"]').click()
    expect(second.locator(value)).to_have_text("-1")
    expect(first.locator(value)).to_have_text("3")
    # A duplicate of a tab (same address, same conversation) shows its state and keeps in step.
    third = context.new_page()
    third.goto(first.url)
    expect(third.locator(value)).to_have_text("3")
    third.locator('button[aria-label="Increase"]').click()
    expect(third.locator(value)).to_have_text("4")
    expect(first.locator(value)).to_have_text("4")  # pushed over the first page's stream
    expect(second.locator(value)).to_have_text("-1")


def test_preferences_survive_a_reload_and_a_server_restart(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"STUBE_DEMO_VAR": str(tmp_path)}
    server = Server("demos.app:app", env=env).start()
    ctx = browser.new_context()
    ctx.set_default_timeout(15000)
    try:
        page = ctx.new_page()
        open_demo(page, server, "/preferences")
        page.locator('button:text-is("Size")').click()
        expect(page.locator('button[aria-pressed="true"]')).to_have_text("Size")
        page.locator('button:text-is("Hide details")').click()
        expect(page.locator('button:text-is("Show details")')).to_be_visible()
        page.reload()
        expect(page.locator('button[aria-pressed="true"]')).to_have_text("Size")
        server.stop()
        server = Server("demos.app:app", env=env, port=server.port).start()
        open_demo(page, server, "/preferences")  # a fresh conversation after the restart
        expect(page.locator('button[aria-pressed="true"]')).to_have_text("Size")
        expect(page.locator('button:text-is("Show details")')).to_be_visible()
    finally:
        ctx.close()
        server.stop()
