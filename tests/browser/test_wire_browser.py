"""The wire in a real browser: clicks, morphs that keep typed input, SSE pushes, pub/sub."""

from __future__ import annotations

from playwright.sync_api import expect


def test_counter_clicked_several_times(wire_server, page):
    page.goto(wire_server.url + "/counter")
    plus = page.locator("button", has_text="+")
    for _ in range(5):
        plus.click()
    expect(page.locator(".count")).to_have_text("5")
    page.locator("button", has_text="-").click()
    expect(page.locator(".count")).to_have_text("4")
    assert "cv=cv-" in page.url  # the address names the conversation
    assert page.js_errors == []


def test_reload_resumes_the_conversation(wire_server, page):
    page.goto(wire_server.url + "/counter")
    page.locator("button", has_text="+").click()
    page.locator("button", has_text="+").click()
    expect(page.locator(".count")).to_have_text("2")
    page.reload()
    expect(page.locator(".count")).to_have_text("2")
    page.locator("button", has_text="+").click()
    expect(page.locator(".count")).to_have_text("3")


def test_typed_input_survives_a_neighbour_rerender(wire_server, page):
    page.goto(wire_server.url + "/neighbours")
    note = page.locator("input.note")
    note.click()
    note.type("half a thought")
    page.locator("button", has_text="+").click()
    expect(page.locator(".count")).to_have_text("1")
    expect(note).to_have_value("half a thought")


def test_timer_updates_the_page_over_sse(wire_server, page):
    page.goto(wire_server.url + "/ticker")
    expect(page.locator(".ticks")).to_have_text("3", timeout=5000)


def test_publish_in_one_page_reaches_another(wire_server, context):
    first = context.new_page()
    second = context.new_page()
    first.goto(wire_server.url + "/board")
    second.goto(wire_server.url + "/board")
    # Wait until both pages' streams are connected before publishing.
    first.wait_for_timeout(300)
    first.locator("input[name=text]").fill("hello from one")
    first.locator("button", has_text="Send").click()
    expect(second.locator(".messages li")).to_have_text(["hello from one"])
    expect(first.locator(".messages li")).to_have_text(["hello from one"])


ATTACKER = "http://127.0.0.1:9/attack"  # another port on the same host: same *site*, so Lax cookies go along


def _attack_page(action: str) -> str:
    return (f'<form id="f" method="post" action="{action}"></form>'
            '<script>document.getElementById("f").submit()</script>')


def test_a_page_on_another_port_cannot_drive_the_counter(wire_server, page):
    page.goto(wire_server.url + "/counter")
    page.locator("button", has_text="+").click()
    expect(page.locator(".count")).to_have_text("1")
    action = wire_server.url + page.locator("button", has_text="+").get_attribute("hx-post")
    own = page.url
    page.route(ATTACKER, lambda route: route.fulfill(body=_attack_page(action), content_type="text/html"))
    with page.expect_response(action) as answer:
        page.goto(ATTACKER)
    assert answer.value.status == 403  # 0.1 answered 303 and counted the forged click
    page.goto(own)
    expect(page.locator(".count")).to_have_text("1")


def test_the_app_own_pages_still_send_events_with_their_origin(wire_server, page):
    seen = []
    page.on("request", lambda r: seen.append(r) if "/_stube/event/" in r.url else None)
    page.goto(wire_server.url + "/counter")
    page.locator("button", has_text="+").click()
    expect(page.locator(".count")).to_have_text("1")
    headers = seen[0].all_headers()
    assert headers.get("origin") == wire_server.url  # the check really looked at an Origin ...
    assert headers.get("sec-fetch-site") == "same-origin"  # ... and at Sec-Fetch-Site


def test_rapid_clicks_are_queued_not_dropped(wire_server, page):
    """Five clicks before the first answer arrives all count: a conversation's events queue in order."""
    page.goto(wire_server.url + "/counter")
    page.evaluate("""() => {
        const plus = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === '+');
        for (let i = 0; i < 5; i++) plus.click();
    }""")
    expect(page.locator(".count")).to_have_text("5")
    assert page.js_errors == []
