"""The inspector in a real browser: toggle, outline, a click opens an instance's panel, Escape ends it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import open_demo


def test_clicking_a_component_while_inspecting_shows_its_state_instead_of_acting(page, debug_server) -> None:
    open_demo(page, debug_server, "/")
    page.click(".inc")
    expect(page.locator(".count")).to_have_text("1")
    toggle = page.locator(".stube-inspector-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.locator("html.stube-inspecting")).to_have_count(1)
    page.click(".inc")  # inspected, not delivered
    panel = page.locator("[data-stube-inspector-panel]")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_have_text("notice/clicker")
    expect(panel.locator(".stube-inspector-state")).to_contain_text('"n": 1')
    expect(panel.locator(".stube-inspector-frames li")).to_have_count(1)
    expect(panel.locator(".stube-step-changed")).to_have_count(1)
    expect(page.locator(".count")).to_have_text("1")
    panel.locator(".stube-inspector-close").click()
    expect(panel).to_have_count(0)
    # The parent shows its slots; Escape leaves inspecting, and clicks act again.
    page.click("section[data-stube-component='notice/page'] > div.twin", position={"x": 1, "y": 1})
    expect(page.locator("[data-stube-inspector-panel] h2")).to_have_text("notice/twin")
    page.keyboard.press("Escape")
    expect(page.locator("html.stube-inspecting")).to_have_count(0)
    expect(page.locator("[data-stube-inspector-panel]")).to_have_count(0)
    page.click(".inc")
    expect(page.locator(".count")).to_have_text("2")
    assert not page.js_errors  # type: ignore[attr-defined]


def test_the_keyboard_shortcut_toggles_inspecting(page, debug_server) -> None:
    open_demo(page, debug_server, "/")
    page.keyboard.press("Alt+Shift+I")
    expect(page.locator("html.stube-inspecting")).to_have_count(1)
    page.keyboard.press("Alt+Shift+I")
    expect(page.locator("html.stube-inspecting")).to_have_count(0)


def test_production_pages_have_no_inspector(page, notice_server) -> None:
    open_demo(page, notice_server, "/")
    expect(page.locator(".stube-inspector-toggle")).to_have_count(0)
    page.keyboard.press("Alt+Shift+I")
    expect(page.locator("html.stube-inspecting")).to_have_count(0)
