"""Chromium against three uvicorn processes behind nginx on one Redis (tests/scale_app.py):
no sticky sessions, yet the pages behave as on one process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster import Cluster

pytest.importorskip("redis")

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster("tests.scale_app:host", 3, folder=tmp_path_factory.mktemp("scale-browser")) as c:
        yield c


def test_a_counter_clicked_50_times_through_round_robin_counts_50(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    failures: list[int] = []
    page.on("response", lambda r: failures.append(r.status) if r.status >= 400 else None)
    assert page.goto(cluster.url + "/").status == 200
    count = page.locator(".n")
    for n in range(1, 51):
        page.click(".inc")
        expect(count).to_have_text(str(n))
    assert failures == []
    url = page.evaluate("location.href")
    assert "cv=" in url
    for _ in range(3):  # a reload lands on each process in turn: each shows the newest count
        page.reload()
        expect(count).to_have_text("50")
    page.click(".inc")
    expect(count).to_have_text("51")
    assert failures == [] and page.js_errors == []  # type: ignore[attr-defined]


def test_chat_between_pages_whose_streams_sit_on_different_processes(cluster: Cluster, context) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ada, bob = context.new_page(), context.new_page()
    # Each page talks to one process directly: its page, its events and its stream stay there.
    assert ada.goto(cluster.urls[0] + "/chat").status == 200
    assert bob.goto(cluster.urls[1] + "/chat").status == 200
    for who, other, text in ((ada, bob, "hello from A"), (bob, ada, "hello from B"), (ada, bob, "bye")):
        who.fill(".text", text)
        who.click(".send")
        expect(who.locator(".log li").last).to_have_text(text)
        expect(other.locator(".log li").last).to_have_text(text)  # through the bus, pushed by the other process
    expect(ada.locator(".log li")).to_have_count(3)
    expect(bob.locator(".log li")).to_have_count(3)
