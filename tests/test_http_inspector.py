"""The inspector's routes: debug only, the owner's session only, a panel per instance."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

import stube
from stube import Component, event


class Tally(Component):
    name = "insp/tally"
    template_string = '<div {{ root() }}><span class="n">{{ self.n }}</span><button {{ on("inc") }}>+</button></div>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


HX = {"HX-Request": "true"}


def app(debug: bool) -> stube.Stube:
    a = stube.Stube(secret_key="inspector-test", debug=debug)
    a.mount("/", Tally)
    return a


def ids(page: str) -> tuple[str, str, str]:
    cid = re.search(r'data-stube-cid="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    iid = re.search(r'data-stube-component="insp/tally"', page) and re.search(
        r'<div id="(ix-[0-9a-f]+)" data-stube-component="insp/tally"', page).group(1)  # type: ignore[union-attr]
    inc = re.search(r'hx-post="([^"]+/inc)"', page).group(1)  # type: ignore[union-attr]
    return cid, iid, inc  # type: ignore[return-value]


def test_without_debug_the_routes_do_not_exist_and_pages_do_not_offer_them() -> None:
    with TestClient(app(False)) as c:
        page = c.get("/").text
        cid, iid, _ = ids(page)
        assert "data-stube-inspect" not in page and "data-stube-debug" not in page
        assert c.get(f"/_stube/inspect/{cid}/{iid}").status_code == 404


def test_a_debug_page_shows_state_frames_and_history_of_one_instance() -> None:
    with TestClient(app(True)) as c:
        page = c.get("/").text
        cid, iid, inc = ids(page)
        assert 'data-stube-inspect="/_stube/inspect"' in page
        c.post(inc, headers=HX)
        c.post(inc, headers=HX)
        r = c.get(f"/_stube/inspect/{cid}/{iid}")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        assert "insp/tally" in r.text and '&#34;n&#34;: 2' in r.text  # escaped JSON
        assert r.text.count("stube-step-changed") == 2  # the two clicks
        assert "now" in r.text and "1 step back" in r.text
        assert c.get(f"/_stube/inspect/{cid}/ix-000000").status_code == 404


def test_another_session_is_refused() -> None:
    a = app(True)
    with TestClient(a) as owner, TestClient(a) as stranger:
        cid, iid, _ = ids(owner.get("/").text)
        assert stranger.get(f"/_stube/inspect/{cid}/{iid}").status_code == 403
        assert stranger.get(f"/_stube/inspect/cv-doesnotexist0/{iid}").status_code == 404
