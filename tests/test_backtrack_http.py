"""Backtracking over HTTP (issue 15): step addresses, POST /_stube/step, GET ?cv=&step=, the rules around them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

import stube
from demos import TEMPLATES
from demos.wizard import Wizard
from stube import Component, call, event

HX = {"HX-Request": "true"}


class Clicks(Component):
    name = "bt-http/clicks"
    template_string = """<div {{ root() }}><form><button {{ on("inc") }}>+</button>
<span class="n">{{ self.n }}</span><button {{ on("open") }}>open</button></form></div>"""

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def open(self) -> Any:
        return call(Clicks())


class Projected(Component):
    name = "bt-http/projected"
    template_string = """<div {{ root() }}><form><button {{ on("inc") }}>+</button>
<button {{ on("open") }}>open</button><span class="n">{{ self.n }}</span></form></div>"""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def url(self) -> str:
        return f"/p?n={self.n}"

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def open(self) -> Any:
        return call(Clicks())


def make_app(**options: Any) -> stube.Stube:
    app = stube.Stube(secret_key="bt-secret", templates=[TEMPLATES], **options)
    app.mount("/wizard", Wizard)
    app.mount("/clicks", Clicks)
    app.mount("/p", lambda request: Projected(int(request.query_params.get("n", "0"))))
    return app


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    with TestClient(make_app()) as c:
        yield c


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def step_of(html: str) -> int:
    return int(re.search(r'data-stube-step="(\d+)"', html).group(1))  # type: ignore[union-attr]


def event_url(html: str, name: str) -> str:
    return re.search(rf'hx-post="([^"]+/{name})"', html).group(1)  # type: ignore[union-attr]


def step_header(r: Any) -> tuple[str, int, str]:
    """The step part of ``X-Stube: <cid> <from> <to> <push|replace> <label> [<address>]``."""
    _cid, _since, _to, mode, label, *url = r.headers["x-stube"].split(" ")
    return mode, int(label), url[0] if url else ""


def answer(client: TestClient, html: str, text: str) -> Any:
    """Type ``text`` into the wizard's step and press Next, as a browser without JavaScript does."""
    r = client.post(event_url(html, "next"), data={"answer": text}, follow_redirects=False)
    assert r.status_code == 303
    return r


def test_a_new_top_frame_pushes_a_step_address_and_other_folds_replace(client):
    page = client.get("/wizard").text
    cid = cid_of(page)
    assert 'data-stube-history' in page and f'data-stube-step-address="/wizard?cv={cid}&amp;step=0"' in page
    r = client.post(event_url(page, "next"), data={"answer": "Ada"}, headers=HX)
    mode, label, url = step_header(r)
    assert (mode, url) == ("push", f"/wizard?cv={cid}&step={label}")
    assert "HX-Push-Url" not in r.headers and "HX-Replace-Url" not in r.headers
    r = client.post(event_url(r.text, "next"), data={"answer": ""}, headers=HX)  # "Please type an answer."
    assert step_header(r)[0] == "replace"


def test_counter_clicks_push_no_history_entries(client):
    page = client.get("/clicks").text
    modes = [step_header(client.post(event_url(page, "inc"), headers=HX))[0] for _ in range(20)]
    assert modes == ["replace"] * 20


def test_a_get_of_a_step_address_renders_that_step_with_what_was_typed(client):
    page = client.get("/wizard").text
    cid = cid_of(page)
    first = client.get(answer(client, page, "Ada").headers["location"]).text
    assert "Favourite colour?" in first
    second_at = answer(client, first, "teal").headers["location"]
    assert "All set, Ada!" in client.get(second_at).text
    back = client.get(f"/wizard?cv={cid}&step={step_of(page)}").text
    assert "What&#39;s your name?" in back and 'value="Ada"' in back
    forward = client.get(f"/wizard?cv={cid}&step={step_of(first)}").text
    assert "Favourite colour?" in forward and 'value="teal"' in forward
    # A new answer on step one branches: the old summary is gone, the new one reflects the answer.
    client.get(f"/wizard?cv={cid}&step={step_of(page)}")
    again = client.get(answer(client, back, "Grace").headers["location"]).text
    summary = client.get(answer(client, again, "red").headers["location"]).text
    assert "All set, Grace!" in summary
    stale = client.get(second_at)
    assert stale.status_code == 200 and "All set, Grace!" in stale.text and "data-stube-step-gone" in stale.text


def test_the_no_js_redirect_names_the_step(client):
    page = client.get("/clicks").text
    cid = cid_of(page)
    r = client.post(event_url(page, "inc"), follow_redirects=False)
    after = client.get(r.headers["location"]).text
    assert r.headers["location"] == f"/clicks?cv={cid}&step={step_of(after)}"
    assert '<span class="n">1</span>' in after


def test_post_step_travels_and_forward_comes_back(client):
    page = client.get("/clicks").text
    cid = cid_of(page)
    steps = [step_of(page)]
    for _ in range(3):
        r = client.post(event_url(page, "inc"), headers=HX)
        steps.append(step_header(r)[1])
    r = client.post(f"/_stube/step/{cid}?step={steps[1]}", headers=HX)
    assert r.status_code == 200 and '<span class="n">1</span>' in r.text
    assert step_header(r) == ("replace", steps[1], f"/clicks?cv={cid}&step={steps[1]}")
    r = client.post(f"/_stube/step/{cid}?step={steps[3]}", headers=HX)
    assert '<span class="n">3</span>' in r.text
    r = client.post(f"/_stube/step/{cid}?step={steps[3]}", headers=HX)
    assert r.status_code == 204  # already there
    client.post(f"/_stube/step/{cid}?step={steps[0]}", headers=HX)
    r = client.post(event_url(page, "inc"), headers=HX)  # a new event: the steps after 0 are discarded
    assert '<span class="n">1</span>' in r.text
    r = client.post(f"/_stube/step/{cid}?step={steps[3]}", headers=HX)
    assert r.status_code == 200 and "data-stube-step-gone" in r.text and '<span class="n">1</span>' in r.text
    assert step_header(r)[1] != steps[3]  # the entry now names where the conversation is


def test_a_step_older_than_history_limit_renders_the_current_state_with_a_notice():
    with TestClient(make_app(history_limit=3)) as client:
        page = client.get("/clicks").text
        cid = cid_of(page)
        for _ in range(6):
            client.post(event_url(page, "inc"), headers=HX)
        r = client.get(f"/clicks?cv={cid}&step={step_of(page)}")
        assert r.status_code == 200 and '<span class="n">6</span>' in r.text
        assert "data-stube-step-gone" in r.text and "last 3 steps" in r.text
        r = client.post(f"/_stube/step/{cid}?step={step_of(page)}", headers=HX)
        assert r.status_code == 200 and "data-stube-step-gone" in r.text
        assert client.get(f"/clicks?cv={cid}&step=banana").status_code == 200


def test_a_step_address_from_another_session_gets_a_fresh_conversation(client):
    page = client.get("/clicks").text
    cid = cid_of(page)
    client.post(event_url(page, "inc"), headers=HX)
    stranger = TestClient(client.app)  # no lifespan of its own: the app keeps running
    other = stranger.get(f"/clicks?cv={cid}&step={step_of(page)}").text
    assert cid_of(other) != cid and '<span class="n">0</span>' in other
    assert stranger.post(f"/_stube/step/{cid}?step={step_of(page)}", headers=HX).status_code == 403
    assert '<span class="n">1</span>' in client.get(f"/clicks?cv={cid}").text  # the owner's is untouched


def test_a_url_projection_keeps_its_address_and_a_new_frame_still_pushes(client):
    page = client.get("/p?n=4").text
    assert 'data-stube-url="/p?n=4"' in page and "data-stube-step-address" not in page
    r = client.post(event_url(page, "inc"), headers=HX)
    assert r.headers["hx-replace-url"] == "/p?n=5" and step_header(r)[0] == "replace"
    assert step_header(r)[2] == ""  # the step goes into the page's history entry, not its address
    r = client.post(event_url(page, "open"), headers=HX)
    assert r.headers["hx-push-url"] == "/p?n=5" and step_header(r)[0] == "push"


def test_backtrack_false_is_the_01_behaviour():
    with TestClient(make_app(backtrack=False)) as client:
        page = client.get("/clicks").text
        cid = cid_of(page)
        assert "data-stube-history" not in page and "step=" not in page
        r = client.post(event_url(page, "inc"), follow_redirects=False)
        assert r.headers["location"] == f"/clicks?cv={cid}"
        r = client.post(event_url(page, "open"), headers=HX)
        assert len(r.headers["x-stube"].split(" ")) == 3 and "hx-push-url" not in r.headers  # no step
        assert client.post(f"/_stube/step/{cid}?step=0", headers=HX).status_code == 404


def test_a_widget_embedded_in_a_host_page_leaves_the_host_address_alone():
    app = make_app()
    host = Starlette(routes=[Mount("/w", app=app)])
    with TestClient(host) as client:
        page = client.get("/w/clicks").text
        assert 'data-stube-step-address="/w/clicks?cv=' in page
        assert f'data-stube-step-url="/w/_stube/step/{cid_of(page)}"' in page


def test_a_fresh_page_sends_a_browser_without_javascript_on_to_its_step_address(client):
    page = client.get("/wizard").text
    cid = cid_of(page)
    assert f'<noscript><meta http-equiv="refresh" content="0; url=/wizard?cv={cid}&amp;step=0"></noscript>' in page
    assert "http-equiv" not in client.get(f"/wizard?cv={cid}&step=0").text  # already there: no loop
    stranger = TestClient(client.app)
    assert "http-equiv" not in stranger.get(f"/wizard?cv={cid}&step=0").text  # foreign: one hop at most
    assert "http-equiv" not in client.get("/p?n=1").text  # a url() projection keeps its address


def test_other_pages_follow_a_step_and_never_push() -> None:
    from stube import fragments as fr
    from stube import wire
    from stube.fragments import Fragment

    frag = Fragment(fr.STEP, target="cv-abcdefgh", html="/w?cv=cv-abcdefgh&step=4", mode="push", step=4, version=9)
    pushed = wire.partials([frag], cid="cv-abcdefgh", history_in_headers=False)
    assert 'stube.step.apply(null,["cv-abcdefgh", "replace", 4, 9, "/w?cv=cv-abcdefgh&step=4"])' in pushed
    assert wire.partials([frag], cid="cv-abcdefgh") == ""  # a response says it in a header instead
    assert wire.history_headers([frag]) == ({}, frag)
    assert wire.fold_header("cv-abcdefgh", 8, 9, frag) == "cv-abcdefgh 8 9 push 4 /w?cv=cv-abcdefgh&step=4"
