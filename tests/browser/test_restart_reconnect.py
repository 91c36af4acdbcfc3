"""A page open while its server restarts (SIGTERM, then a new process on the same SQLite file) misses nothing.

The old process ends the page's stream at SIGTERM; htmx reconnects (with its
backoff) once the new process listens; a change made by another tab while the
page was disconnected arrives first, and the pushes after it too.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import expect

from tests.uvicorn_proc import HX, Uvicorn

pytestmark = pytest.mark.slow


def test_a_page_open_during_a_restart_sees_the_changes_made_after_it(tmp_path: Path, page) -> None:  # type: ignore[no-untyped-def]
    env = {"FAULTS_STORE": f"sqlite:{tmp_path / 'stube.db'}"}
    server = Uvicorn("tests.faults_app:plain", tmp_path / "a.log", env=env).start()
    try:
        with page.expect_request(lambda r: "/_stube/sse/" in r.url):
            page.goto(server.url + "/counter")
        page.locator("button").click()
        expect(page.locator(".n")).to_have_text("1")  # acknowledged and saved

        seconds, by_itself = server.stop(signal.SIGTERM)
        assert by_itself, server.text()
        print(f"\nthe old process exited {seconds:.2f} s after SIGTERM")
        server = Uvicorn("tests.faults_app:plain", tmp_path / "b.log", env=env, port=server.port).start()

        post = page.locator("button").get_attribute("hx-post")
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        with httpx2.Client(base_url=server.url, cookies=cookies, timeout=10) as other_tab:
            tab = {**HX, "X-Stube-Page": "another-tab"}
            assert other_tab.post(post, headers=tab).status_code == 200  # n = 2, made on the new process
            expect(page.locator(".n")).to_have_text("2", timeout=20_000)  # the reconnected page caught up
            assert other_tab.post(post, headers=tab).status_code == 200
            expect(page.locator(".n")).to_have_text("3")  # and the next change is pushed
        page.locator("button").click()
        expect(page.locator(".n")).to_have_text("4")  # the page's own events work on the new process
        assert page.js_errors == []
    finally:
        server.kill()
