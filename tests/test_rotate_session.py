"""``stube.rotate_session``: a host's sign-in gives the browser a new session id (session fixation).

The browser's open pages and its stash follow it; a client still holding the
old cookie is refused on them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import stube
from stube import Component, event
from stube.stash import InMemoryStashStore, SQLiteStashStore, Stash
from stube.stash.move import move

HX = {"HX-Request": "true"}
SECRET = "rotate-test-secret"
VIEW = "test/rotate-counter"


class Counter(Component):
    name = VIEW
    stash = ("step",)
    template_string = ('<div {{ root() }}><span class="n">{{ self.n }}</span> step {{ self.step }}'
                       '<button {{ on("inc") }}>+</button><button {{ on("faster") }}>faster</button></div>')

    def __init__(self) -> None:
        self.n = 0
        self.step = 1

    @event
    def inc(self) -> None:
        self.n += self.step

    @event
    def faster(self) -> None:
        self.step += 1


def event_url(html: str, name: str) -> str:
    return re.search(rf'hx-post="([^"]+/{name})"', html).group(1)  # type: ignore[union-attr]


def count(html: str) -> int:
    """The last count shown (a restored conversation repaints itself before the event's fragment)."""
    return int(re.findall(r'<span class="n">(\d+)</span>', html)[-1])


def cookie_value(response: Any) -> str:
    found = re.search(r"stube_sid=([^;]+)", response.headers["set-cookie"])
    assert found is not None
    return found.group(1)


def make_widget(**kw: Any) -> stube.Stube:
    app = stube.Stube(secret_key=SECRET, **kw)
    app.mount("/", Counter)
    return app


def make_host(widget: stube.Stube, *, explicit: bool = False) -> Starlette:
    async def login(request: Request) -> Response:
        response = PlainTextResponse("welcome")
        await stube.rotate_session(request, response, **({"app": widget} if explicit else {}))
        return response

    # The sign-in endpoint sits under the widget's prefix, so it receives the cookie stube pages set.
    return Starlette(routes=[Route("/app/login", login, methods=["POST"]), Mount("/app", app=widget)])


def test_sign_in_carries_the_open_page_and_the_stash_over_and_the_old_cookie_is_refused() -> None:
    widget = make_widget()
    with TestClient(make_host(widget)) as browser:
        page = browser.get("/app/")
        old = cookie_value(page)
        assert "Path=/app" in page.headers["set-cookie"]
        browser.post(event_url(page.text, "faster"), headers=HX)  # step 2, in the session's stash
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 2

        login = browser.post("/app/login")
        assert login.status_code == 200
        new = cookie_value(login)
        assert new != old and "HttpOnly" in login.headers["set-cookie"]
        assert "Path=/app" in login.headers["set-cookie"]

        # The browser's open page keeps working with its new cookie.
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 4
        # A new page of the same browser finds the stash of the old session (step 2).
        fresh = browser.get("/app/")
        assert "set-cookie" not in fresh.headers and "step 2" in fresh.text

        with TestClient(make_host(widget), cookies={"stube_sid": old}) as attacker:
            refused = attacker.post(event_url(page.text, "inc"), headers=HX)
            assert refused.status_code == 403
            # The old cookie is no session any more: a page view starts a new one, with the defaults.
            theirs = attacker.get("/app/")
            assert cookie_value(theirs) not in (old, new) and "step 1" in theirs.text
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 6


def test_the_stash_moves_to_the_new_session_and_the_old_one_is_deleted() -> None:
    widget = make_widget()
    with TestClient(make_host(widget)) as browser:
        page = browser.get("/app/")
        browser.post(event_url(page.text, "faster"), headers=HX)
        login = browser.post("/app/login")

        def owner(cookie: str) -> str:
            sid = cookie.split(".")[0]  # itsdangerous: value.timestamp.signature
            return widget.sessions.owner(sid)

        async def views(owner: str) -> dict[str, Any]:
            return await widget.stash.session(owner).views()

        assert browser.portal is not None
        assert browser.portal.call(views, owner(cookie_value(page))) == {}
        assert browser.portal.call(views, owner(cookie_value(login))) == {VIEW: {"vsn": 1, "data": {"step": 2}}}


def _request_with(cookie: str) -> Request:
    return Request({"type": "http", "headers": [(b"cookie", f"stube_sid={cookie}".encode())]})


def test_sign_in_without_a_session_mints_one() -> None:
    widget = make_widget()
    with TestClient(make_host(widget)) as browser:
        login = browser.post("/app/login")
        sid = cookie_value(login)
        page = browser.get("/app/")
        assert "set-cookie" not in page.headers  # the minted session is the browser's session
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 1
        assert widget.sessions.read(_request_with(sid)) is not None


def test_in_a_fastapi_host_with_an_explicit_app() -> None:
    fastapi = pytest.importorskip("fastapi")
    widget = make_widget()
    host = fastapi.FastAPI()

    @host.post("/ui/login")
    async def login(request: Request) -> Response:
        response = PlainTextResponse("ok")
        await stube.rotate_session(request, response, app=widget)
        return response

    host.mount("/ui", widget)
    with TestClient(host) as browser:
        page = browser.get("/ui/")
        old = cookie_value(page)
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 1
        assert "Path=/ui" in browser.post("/ui/login").headers["set-cookie"]
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 2
        with TestClient(host, cookies={"stube_sid": old}) as attacker:
            assert attacker.post(event_url(page.text, "inc"), headers=HX).status_code == 403


def test_an_embedded_widget_rotates_from_a_host_path() -> None:
    widget = make_widget()

    async def home(request: Request) -> Response:
        embedded = await widget.embed(request, "/")
        return embedded.apply(PlainTextResponse(str(embedded.html)))

    async def login(request: Request) -> Response:
        response = PlainTextResponse("ok")
        await stube.rotate_session(request, response)
        return response

    host = Starlette(routes=[Route("/", home), Route("/login", login, methods=["POST"]), Mount("/w", app=widget)])
    with TestClient(host) as browser:
        page = browser.get("/")
        old = cookie_value(page)
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 1
        login_response = browser.post("/login")
        assert "Path=/;" in login_response.headers["set-cookie"] + ";"  # outside the prefix: for the whole host
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 2
        with TestClient(host, cookies={"stube_sid": old}) as attacker:
            assert attacker.post(event_url(page.text, "inc"), headers=HX).status_code == 403


def test_several_stube_apps_need_an_explicit_app() -> None:
    one, two = make_widget(), make_widget()

    async def login(request: Request) -> Response:
        response = PlainTextResponse("ok")
        await stube.rotate_session(request, response)
        return response

    host = Starlette(routes=[Route("/login", login, methods=["POST"]), Mount("/a", app=one), Mount("/b", app=two)])
    with TestClient(host, raise_server_exceptions=True) as browser, pytest.raises(LookupError, match="app="):
        browser.post("/login")


def test_with_a_sqlite_store_the_new_owner_is_saved_and_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "stube.db"

    def app() -> stube.Stube:
        return make_widget(store=stube.SQLiteStore(db), stash=SQLiteStashStore(db))

    with TestClient(make_host(app())) as browser:
        page = browser.get("/app/")
        old = cookie_value(page)
        browser.post(event_url(page.text, "faster"), headers=HX)
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 2
        new = cookie_value(browser.post("/app/login"))
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 4

    # A restarted process: the conversation was saved with its new owner, the stash moved with it.
    with TestClient(make_host(app()), cookies={"stube_sid": new}) as browser:
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 6
        assert "step 2" in browser.get("/app/").text
    # The revocation list is per process, but the conversation itself no longer answers the old cookie.
    with TestClient(make_host(app()), cookies={"stube_sid": old}) as attacker:
        assert attacker.post(event_url(page.text, "inc"), headers=HX).status_code == 403
        assert "step 1" in attacker.get("/app/").text


def test_a_conversation_only_the_store_holds_is_re_keyed_too(tmp_path: Path) -> None:
    db = tmp_path / "stube.db"
    # max_conversations=1: the second page view evicts the first (saved, so it stays in the store only).
    widget = make_widget(store=stube.SQLiteStore(db), max_conversations=1)
    with TestClient(make_host(widget)) as browser:
        first = browser.get("/app/")
        old = cookie_value(first)
        assert count(browser.post(event_url(first.text, "inc"), headers=HX).text) == 1
        first_cid = re.search(r'data-stube-cid="([^"]+)"', first.text).group(1)  # type: ignore[union-attr]
        second = browser.get("/app/")
        assert count(browser.post(event_url(second.text, "inc"), headers=HX).text) == 1
        assert first_cid not in widget.runtime.conversations  # evicted: only the store has it
        browser.post("/app/login")
        assert count(browser.post(event_url(first.text, "inc"), headers=HX).text) == 2
        with TestClient(make_host(widget), cookies={"stube_sid": old}) as attacker:
            assert attacker.post(event_url(first.text, "inc"), headers=HX).status_code == 403
            assert attacker.post(event_url(second.text, "inc"), headers=HX).status_code == 403


def test_the_rotated_session_is_refused_but_other_sessions_are_not() -> None:
    sessions = make_widget().sessions
    a, b = sessions.mint(), sessions.mint()
    response = Response()
    sessions.set_cookie(response, a, secure=False)
    sessions.set_cookie(response, b, secure=False, path="/x")
    cookies = re.findall(r"stube_sid=([^;]+)", str(response.headers.getlist("set-cookie")))
    assert sessions.read(_request_with(cookies[0])) == a
    sessions.revoke(a)
    assert sessions.read(_request_with(cookies[0])) is None
    assert sessions.read(_request_with(cookies[1])) == b


def test_a_stash_that_fails_does_not_fail_the_sign_in(caplog: pytest.LogCaptureFixture) -> None:
    widget = make_widget()

    async def broken(key: str, change: object) -> bool:
        raise OSError("stash store down")

    with TestClient(make_host(widget)) as browser:
        page = browser.get("/app/")
        browser.post(event_url(page.text, "faster"), headers=HX)
        widget.stash.update = broken  # type: ignore[method-assign,assignment]
        assert browser.post("/app/login").status_code == 200
        assert count(browser.post(event_url(page.text, "inc"), headers=HX).text) == 2
    assert "the stash could not be moved" in caplog.text and "stash store down" in caplog.text


def test_moving_a_stash_into_a_session_that_has_one_keeps_the_newer_keys() -> None:
    async def run() -> None:
        st = Stash(InMemoryStashStore())
        await st.session("old").merge("a", {"x": 1, "y": 1})
        await st.session("old").merge("b", {"z": 1}, vsn=1)
        await st.session("new").merge("a", {"y": 2})
        await st.session("new").merge("b", {"w": 2}, vsn=2)
        assert await move(st, "old", "new") is True
        assert await st.session("new").views() == {"a": {"vsn": 1, "data": {"x": 1, "y": 2}},
                                                   "b": {"vsn": 2, "data": {"w": 2}}}
        assert await st.session("old").views() == {}
        assert await move(st, "old", "new") is False  # nothing left to carry

    asyncio.run(run())
