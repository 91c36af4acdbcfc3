"""A failed event is visible: a notice next to the component, dismissible, announced to assistive tech."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import open_demo
from tests.servers import Server


def notice(page):  # type: ignore[no-untyped-def]
    return page.locator("[data-stube-notice]")


def test_a_bad_payload_shows_a_notice_beside_its_component(page, notice_server: Server) -> None:
    open_demo(page, notice_server, "/")
    page.click(".add")  # amount="many" is not an int: 400
    box = notice(page)
    expect(box).to_have_count(1)
    expect(box).to_have_attribute("role", "alert")
    expect(box).to_have_attribute("data-stube-notice", "400")
    expect(box).to_contain_text("not accepted")
    # It sits right before the component that sent the event, not before its neighbour.
    assert box.evaluate("el => el.nextElementSibling.classList.contains('clicker')")
    assert page.locator(".count").inner_text() == "0"


def test_dismiss_removes_the_notice_and_a_success_clears_it(page, notice_server: Server) -> None:
    open_demo(page, notice_server, "/")
    page.click(".add")
    expect(notice(page)).to_have_count(1)
    page.click(".stube-notice-close")
    expect(notice(page)).to_have_count(0)
    page.click(".add")
    expect(notice(page)).to_have_count(1)
    page.click(".inc")  # a later success of the same component clears it
    expect(page.locator(".count")).to_have_text("1")
    expect(notice(page)).to_have_count(0)


def test_a_foreign_session_gets_a_notice_with_a_reload_link(page, context, notice_server: Server) -> None:
    open_demo(page, notice_server, "/")
    context.clear_cookies()  # the page now belongs to "another" session: 403
    page.click(".inc")
    box = notice(page)
    expect(box).to_have_attribute("data-stube-notice", "403")
    expect(box.locator("a.stube-notice-reload")).to_have_count(1)


def test_a_server_error_and_a_network_error_are_both_shown(page, notice_server: Server) -> None:
    open_demo(page, notice_server, "/")
    page.route("**/_stube/event/**", lambda route: route.fulfill(status=500, body="Internal Server Error"))
    page.click(".ping")
    box = notice(page)
    expect(box).to_have_attribute("data-stube-notice", "500")
    expect(box).to_contain_text("Something went wrong")
    # Production pages do not show the server's text.
    expect(box.locator(".stube-notice-detail")).to_have_count(0)
    assert box.evaluate("el => el.nextElementSibling.classList.contains('twin')")
    page.unroute("**/_stube/event/**")
    page.route("**/_stube/event/**", lambda route: route.abort())
    page.click(".inc")
    expect(page.locator(".clicker").locator("xpath=preceding-sibling::*[1]")).to_have_attribute(
        "data-stube-notice", "0")
    expect(notice(page).filter(has_text="Could not reach the server")).to_have_count(1)


def test_debug_pages_show_the_status_and_the_server_text(page, debug_server: Server) -> None:
    open_demo(page, debug_server, "/")
    page.click(".add")
    detail = notice(page).locator(".stube-notice-detail")
    expect(detail).to_contain_text("400")
    expect(detail).to_contain_text("amount")
