"""The reference's browser scenarios (inventory section 6), against the demo gallery.

Each test opens a fresh browser context, navigates to a demo and drives it
the way the reference's Playwright suite does; selectors and texts are the
reference's, so the port is held to the same user-visible contract.
``signal-mirror`` is not ported (Datastar-specific).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, open_demo


def test_breadcrumb_trail_extends_and_rewinds(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/breadcrumb")
    expect(page.locator("section[id^=ix] > h2")).to_have_text("Breadcrumb decoration")
    trail = page.locator("nav[aria-label=Breadcrumb] button")
    expect(trail).to_have_count(2)
    expect(trail.nth(1)).to_have_text("Tier 2")
    page.locator('button:has(strong:has-text("Tree"))').click()
    expect(trail).to_have_count(3)
    expect(trail.last).to_have_text("Tree")
    trail.first.click()
    expect(trail).to_have_count(1)


def test_calc_three_plus_four_equals_seven(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/calc")
    expect(page.locator("h2")).to_have_text("Calculator")
    for key in ("3", "+", "4", "="):
        page.locator(f'button:text-is("{key}")').click()
    expect(page.locator("section[id^=ix] > div").first).to_have_text("7")


def test_calendar_pick_a_day_advances_to_the_show_date_screen(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/calendar")
    expect(page.locator("section[id^=ix] header")).to_be_visible()
    page.locator('div[style*=cursor] >> text="15"').click()
    expect(page.locator("h3")).to_have_text("You picked")
    expect(page.locator("p strong")).to_contain_text("-15")


def test_columns_add_and_remove_a_keyed_column(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/columns")
    expect(page.locator("h1")).to_have_text("Columns")
    cards = page.locator("article.stube-card")
    expect(cards).to_have_count(3)
    cards.nth(2).evaluate("el => el.setAttribute('data-e2e-keep', 'y')")
    page.locator('button:has-text("Add column")').click()
    expect(cards).to_have_count(4)
    assert cards.nth(2).get_attribute("data-e2e-keep") == "y"
    page.locator('button:has-text("Remove last")').click()
    expect(cards).to_have_count(3)


def test_dialog_flow_end_to_end(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/dialogs")
    expect(page.locator("p.stube-card__body")).to_have_text("Ready to play?")
    page.locator('button:text-is("Yes")').click()
    expect(page.locator("label.stube-label")).to_have_text("What's your name?")
    page.locator("input[name=value]").fill("Ada")
    page.locator('button:text-is("OK")').click()
    expect(page.locator("p.stube-card__body")).to_have_text("Pick a colour, Ada:")
    page.locator('button:text-is("red")').click()
    expect(page.locator("p.stube-card__body")).to_have_text("Hello Ada — your colour is red.")
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_dialog_flow_without_javascript(demos: Server, browser) -> None:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(java_script_enabled=False)
    ctx.set_default_timeout(15000)
    try:
        page = ctx.new_page()
        page.goto(demos.url + "/dialogs")
        expect(page.locator("p.stube-card__body")).to_have_text("Ready to play?")
        page.locator('button:text-is("Yes")').click()
        expect(page.locator("label.stube-label")).to_have_text("What's your name?")
        page.locator("input[name=value]").fill("Grace")
        page.locator("input[name=value]").press("Enter")  # Enter submits OK, the first submit button
        expect(page.locator("p.stube-card__body")).to_have_text("Pick a colour, Grace:")
        page.locator('button:text-is("blue")').click()
        expect(page.locator("p.stube-card__body")).to_have_text("Hello Grace — your colour is blue.")
    finally:
        ctx.close()


def test_error_answer_restores_form_with_draft(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/error-answer")
    expect(page.locator("h2")).to_have_text("answer-error demo")
    page.locator('button:has-text("Open edit form")').click()
    expect(page.locator("input[name=draft]")).to_be_visible()
    page.locator("input[name=draft]").fill("hello")
    page.locator("button[type=submit]").click()
    expect(page.locator(".stube-error")).to_contain_text("Save failed")
    expect(page.locator("input[name=draft]")).to_have_value("hello")


def test_error_frame_boom_renders_banner_without_dropping_sse(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/error-frame")
    expect(page.locator("h2")).to_have_text("Error frame demo")
    page.locator('button:has-text("+1")').click()
    expect(page.locator("section[id^=ix] strong")).to_have_text("1")
    page.locator('button:has-text("Boom")').click()
    expect(page.locator(".stube-error")).to_be_visible()
    expect(page.locator('button:has-text("+1")')).to_have_count(0)


def test_guess_flow_advances_on_each_guess(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/guess")
    expect(page.locator("form.stube-prompt p")).to_have_text("Pick a number from 1 to 100.")
    page.locator("input[name=answer]").fill("1")
    page.locator("button[type=submit]").click()
    shown = page.locator("form.stube-prompt p, div.stube-info p")
    expect(shown).not_to_have_text("Pick a number from 1 to 100.")
    expect(shown).to_have_text(re.compile(r"\S"))


def test_multicounter_plus_does_not_rerender_siblings(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/multicounter")
    counters = page.locator(".stube-counter")
    for i, value in enumerate(("0", "5", "10")):
        expect(counters.nth(i).locator("span")).to_have_text(value)
    counters.nth(1).evaluate("el => el.setAttribute('data-e2e-sentinel', 'kept')")
    counters.nth(0).locator("button").last.click()
    for i, value in enumerate(("1", "5", "10")):
        expect(counters.nth(i).locator("span")).to_have_text(value)
    assert counters.nth(1).get_attribute("data-e2e-sentinel") == "kept"


def test_paginated_list_next_and_prev_change_pages(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/paginated-list")
    expect(page.locator("h2")).to_have_text("Paginated list")
    previous, following = page.locator('button:has-text("Previous")'), page.locator('button:has-text("Next")')
    expect(previous).to_be_disabled()
    expect(following).to_be_enabled()
    following.click()
    expect(previous).to_be_enabled()
    previous.click()
    expect(previous).to_be_disabled()


def test_preserved_widget_canvas_survives_parent_rerender(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/preserved-widget")
    expect(page.locator("h1")).to_have_text("Preserved widget")
    canvas = page.locator("canvas")
    expect(canvas).to_be_visible()
    expect(canvas).to_have_attribute("data-drawn", "true")
    canvas.evaluate("el => el.setAttribute('data-e2e-stamp', 'kept')")
    pixels = canvas.evaluate("el => el.toDataURL()")
    button = page.locator('button:has-text("Re-render parent")')
    button.click()
    expect(page.locator('section[id^=ix] p:has(strong:has-text("Parent renders:"))')).to_contain_text("1")
    button.click()
    expect(page.locator('section[id^=ix] p:has(strong:has-text("Parent renders:"))')).to_contain_text("2")
    assert canvas.get_attribute("data-e2e-stamp") == "kept"
    assert canvas.evaluate("el => el.toDataURL()") == pixels  # the random dots did not move


def test_protected_counter_signed_out(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/protected-counter")
    expect(page.locator("h2")).to_have_text("Protected counter")
    assert "only available to a signed-in user" in page.content()
    expect(page.locator('button:has-text("+")')).to_have_count(0)


def test_protected_counter_signed_in(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/protected-counter?user=ada")
    expect(page.locator("h2")).to_have_text("Protected counter")
    expect(page.locator("section[id^=ix] strong")).to_have_text("ada")
    page.locator('button:has-text("+")').click()
    expect(page.locator("section[id^=ix] div >> nth=1")).to_contain_text("1")


def test_reading_list_items_query_restores_columns(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/reading-list?items=clojure,datastar,seaside")
    expect(page.locator("h1")).to_have_text("Reading list")
    cards = page.locator("article.stube-card")
    expect(cards).to_have_count(3)
    page.locator('article.stube-card:has-text("Datastar") button:text-is("Close")').click()
    expect(cards).to_have_count(2)
    expect(page).to_have_url(re.compile(r"\?items=clojure,seaside$"))


def test_table_report_header_click_toggles_name_sort(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/table-report")
    expect(page.locator("h2")).to_have_text("Table report")
    first = page.locator("table tbody tr").first.locator("td").first
    expect(first).to_have_text("Ada")
    page.locator('th button:has-text("Name")').click()
    expect(first).to_have_text("Margaret")


def test_tabs_inactive_tab_state_survives(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/tabs")
    expect(page.locator("h2")).to_have_text("Tabbed navigation")
    expect(page.locator("textarea")).to_have_count(0)
    page.locator('nav button:text-is("Notes")').click()
    page.locator("textarea").fill("hello stube")
    expect(page.locator("text=Length: 11 chars")).to_be_visible()
    page.locator('nav button:text-is("Counter")').click()
    expect(page.locator("textarea")).to_have_count(0)
    page.locator('nav button:text-is("Notes")').click()
    expect(page.locator("textarea")).to_have_value("hello stube")


def test_todo_clicking_a_label_mounts_the_editor_only_in_that_row(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/todo")
    expect(page.locator("h2")).to_have_text("Todo")
    expect(page.locator("ul li")).to_have_count(2)
    page.locator("ul li:first-of-type span").click()
    expect(page.locator("ul li:first-of-type input[name=text]")).to_be_visible()
    expect(page.locator("ul li:nth-of-type(2) span")).to_have_text("tick the box when done")
    expect(page.locator("ul li:nth-of-type(2) input[name=text]")).to_have_count(0)


def test_tree_expand_all_reveals_children(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/tree")
    expect(page.locator("h2")).to_have_text("Tree")
    before = page.locator("li").count()
    page.locator('button:has-text("Expand all")').click()
    expect(page.locator("li")).not_to_have_count(before)
    assert page.locator("li").count() > before


def test_url_counter_seeds_from_query_and_tracks_state(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/url-counter?n=5")
    expect(page.locator("h2")).to_have_text("URL-state counter")
    assert ">5<" in page.content()
    page.locator('button:has-text("+")').click()
    expect(page.locator("section[id^='ix'] span:has-text('6')")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?n=6$"))


def test_wizard_back_preserves_typed_value(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/wizard")
    expect(page.locator("form label")).to_have_text("What's your name?")
    page.locator("input[name=answer]").fill("Ada")
    page.locator("button[type=submit]").click()
    expect(page.locator("form label")).to_have_text("Favourite colour?")
    page.locator('button:has-text("Back")').click()
    expect(page.locator("form label")).to_have_text("What's your name?")
    expect(page.locator("input[name=answer]")).to_have_value("Ada")


# -- beyond the reference's scenarios -------------------------------------------------------------


def test_clock_ticks_in_the_browser(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/clock")
    expect(page.locator("text=/[1-9]\\d* ticks? delivered by after\\(\\)/")).to_be_visible(timeout=5000)


def test_chat_reaches_another_tab(demos: Server, context) -> None:  # type: ignore[no-untyped-def]
    first, second = context.new_page(), context.new_page()
    open_demo(first, demos, "/chat")
    open_demo(second, demos, "/chat")
    message = "hello from tab one"
    first.locator("input[name=text]").fill(message)
    first.locator('button:text-is("Send")').click()
    expect(first.locator("ol")).to_contain_text(message)
    expect(first.locator("input[name=text]")).to_have_value("")
    expect(second.locator("ol")).to_contain_text(message)


def test_seaside_todo_login_and_new_task(demos: Server, page: Page) -> None:
    open_demo(page, demos, "/seaside-todo")
    page.locator("input[name=email]").fill("peter@example.com")
    page.locator("input[name=password]").fill("seaside")
    page.locator('button:text-is("Login")').click()
    expect(page.locator("h2")).to_have_text("ToDo-List of Peter")
    page.locator('nav button:text-is("New Task")').click()
    modal = page.locator(".stube-modal-backdrop")
    expect(modal).to_be_visible()
    modal.locator("input[name=title]").fill("Plan the talk")
    modal.locator('button:text-is("Save")').click()
    expect(modal).to_have_count(0)
    expect(page.locator("table")).to_contain_text("Plan the talk")


def test_preferences_follow_the_browser_session(demos: Server, context) -> None:  # type: ignore[no-untyped-def]
    first = context.new_page()
    open_demo(first, demos, "/preferences")
    first.locator('button:text-is("Size")').click()
    expect(first.locator('button[aria-pressed="true"]')).to_have_text("Size")
    first.locator('button:text-is("Hide details")').click()
    expect(first.locator('button:text-is("Show details")')).to_be_visible()
    second = context.new_page()  # same context: same cookie, so the same session stash
    open_demo(second, demos, "/preferences")
    expect(second.locator('button[aria-pressed="true"]')).to_have_text("Size")
    expect(second.locator("ol li").first).to_contain_text("Mercury")
    expect(second.locator('button:text-is("Show details")')).to_be_visible()


def test_durable_wizard_survives_a_server_restart(browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = Server("demos.app:app", env={"STUBE_DEMO_VAR": str(tmp_path)}).start()
    ctx = browser.new_context()
    ctx.set_default_timeout(15000)
    try:
        page = ctx.new_page()
        open_demo(page, server, "/durable-wizard")
        page.locator("input[name=answer]").fill("Ada")
        page.locator("button[type=submit]").click()
        expect(page.locator("form label")).to_have_text("Favourite colour?")
        server.stop()
        server = Server("demos.app:app", env={"STUBE_DEMO_VAR": str(tmp_path)}, port=server.port).start()
        page.reload()
        expect(page.locator("form label")).to_have_text("Favourite colour?")
        page.locator("input[name=answer]").fill("teal")
        page.locator("button[type=submit]").click()
        expect(page.locator("h2")).to_have_text("All set, Ada!")
    finally:
        ctx.close()
        server.stop()


def test_embedded_widget_in_a_host_page(page: Page) -> None:
    server = Server("demos.embedded:host").start()
    try:
        response = page.goto(server.url + "/widget")
        assert response is not None and response.status == 200
        expect(page.locator("h1")).to_have_text("Host Starlette app")
        card = page.locator("article")
        expect(card.locator("h2")).to_have_text("Embedded stube widget")
        expect(card).to_contain_text("Host context says: plain Starlette")
        card.locator('button:has-text("+")').click()
        card.locator('button:has-text("+")').click()
        expect(card.locator(".stube-big")).to_have_text("2")
        assert page.url.endswith("/widget")  # the host's address is left alone
    finally:
        server.stop()
