"""What a user sees of the runtime's bounds, through ``stube.Stube`` and Starlette's TestClient.

The ``Stube(max_conversations=..., max_streams=...)`` keywords belong to the HTTP
layer; until it passes them on, these tests set the runtime's settings directly.
"""

from __future__ import annotations

import contextlib
import re
import time

from starlette.testclient import TestClient

import stube
from tests.runtime_support import TICKS, Tally, Ticker

HX = {"HX-Request": "true"}


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def event_url(html: str, cid: str, iid_of: str = "rtt/") -> str:
    iid = re.search(r'id="(ix-[0-9a-f]+)" data-stube-component="' + iid_of, html).group(1)  # type: ignore[union-attr]
    return f"/_stube/event/{cid}/{iid}/"


def sse_url(html: str) -> str:
    return re.search(r'hx-sse:connect="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]


def test_a_thousand_views_of_a_timer_page_run_its_timer_zero_times() -> None:
    app = stube.Stube(secret_key="k")
    app.mount("/", Ticker)
    TICKS.clear()
    with TestClient(app) as c:
        pages = [c.get("/").text for _ in range(1_000)]
        time.sleep(0.2)  # four periods of the page's timer
        assert TICKS == []
        # The first click on one of them starts its clock, and only its clock.
        page = pages[-1]
        cid = cid_of(page)
        assert c.post(event_url(page, cid) + "poke", headers=HX).status_code in (200, 204)
        deadline = time.monotonic() + 5
        while not TICKS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert TICKS and app.runtime.pending_timers(cid) == 1
        assert sum(app.runtime.pending_timers(cid_of(p)) for p in pages[:-1]) == 0


def test_an_event_on_a_page_evicted_by_the_cap_answers_410_with_the_reload_fragment() -> None:
    app = stube.Stube(secret_key="k")
    app.runtime.settings.max_conversations = 2
    app.mount("/", Tally)
    with TestClient(app) as c:
        first = c.get("/").text
        c.get("/")
        c.get("/")  # a third view: the oldest unused conversation (the first page) goes
        r = c.post(event_url(first, cid_of(first)) + "inc", headers=HX)
        assert r.status_code == 410 and "Reload" in r.text
        assert len(app.runtime.conversations) == 2


def test_a_used_page_outlives_page_views_beyond_the_cap() -> None:
    app = stube.Stube(secret_key="k")
    app.runtime.settings.max_conversations = 2
    app.mount("/", Tally)
    with TestClient(app) as c:
        used = c.get("/").text
        url = event_url(used, cid_of(used)) + "inc"
        assert c.post(url, headers=HX).status_code == 200
        for _ in range(50):
            c.get("/")
        r = c.post(url, headers=HX)
        assert r.status_code == 200 and '<span class="n">2</span>' in r.text


def test_a_fifth_stream_on_one_conversation_closes_the_oldest() -> None:
    app = stube.Stube(secret_key="k")
    app.mount("/", Tally)
    with TestClient(app) as c:
        page = c.get("/").text
        cid = cid_of(page)
        with contextlib.ExitStack() as streams:
            first = streams.enter_context(c.stream("GET", sse_url(page).replace("page=", "page=a")))
            lines = first.iter_lines()
            assert next(lines).startswith(":")  # the keepalive that opens every stream
            for i in range(4):
                streams.enter_context(c.stream("GET", sse_url(page).replace("page=", f"page=b{i}")))
            assert len(app.runtime.streams.get(cid) or []) == 4
            rest = "\n".join(lines)  # the oldest stream's body ends by itself
            assert f'hx-target="#{cid}-sse" hx-swap="delete"' in rest  # its page stops listening
