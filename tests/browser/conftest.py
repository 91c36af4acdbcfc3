"""Browser fixtures: Debian's Chromium through Playwright, against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("STUBE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run the tests through ./run test, which installs Debian's chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def context(browser):  # type: ignore[no-untyped-def]
    """A fresh browser context per test (fresh cookies, so a fresh stube session)."""
    ctx = browser.new_context()
    ctx.set_default_timeout(15000)  # generous: CI machines are small and sometimes busy
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):  # type: ignore[no-untyped-def]
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.js_errors = errors  # type: ignore[attr-defined]
    yield p


@pytest.fixture(scope="module")
def demos() -> Iterator[Server]:
    """The demo gallery (``demos.app:app``) under uvicorn."""
    server = Server("demos.app:app").start()
    yield server
    server.stop()


def open_demo(page, server: Server, path: str) -> None:  # type: ignore[no-untyped-def]
    """Navigate, require a 200, and wait until the conversation's first paint is in the page."""
    from playwright.sync_api import expect

    response = page.goto(server.url + path)
    assert response is not None and response.status == 200
    expect(page.locator("[data-stube-cid] > *").first).to_be_attached()


@pytest.fixture(scope="session")
def wire_server() -> Iterator[Server]:
    """The small wire test app (tests/browser/wire_app.py)."""
    server = Server("tests.browser.wire_app:app").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def notice_server() -> Iterator[Server]:
    """tests/browser/notice_app.py: events that fail in every way a page can see."""
    server = Server("tests.browser.notice_app:app").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def debug_server() -> Iterator[Server]:
    """The same app with ``debug=True``: detailed notices and the inspector."""
    server = Server("tests.browser.notice_app:debug_app").start()
    yield server
    server.stop()
