"""Edges of the HTTP layer found in review: each test holds one fixed bug in place."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import stube
from stube import Component, after, answer, call, end, event, history, subscribe
from tests.components import WebCounter

HX = {"HX-Request": "true"}


def url_of(html: str, name: str) -> str:
    return re.search(rf'hx-post="([^"]+/{name})"', html).group(1)  # type: ignore[union-attr]


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def shown(html: str) -> int:
    return int(re.findall(r'class="n">(-?\d+)<', html)[-1])


# -- several processes on one Redis store -------------------------------------------------------------


@pytest.mark.redis
def test_a_process_with_an_old_copy_never_overwrites_nor_shows_a_wrong_page(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()

    def make() -> stube.Stube:
        app = stube.Stube(secret_key="shared", store=stube.RedisStore(redis_url))
        app.mount("/", WebCounter)
        return app

    async def main() -> None:
        a, b = make(), make()
        async with a.lifespan():
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=a), base_url="http://t") as ca:
                page = (await ca.get("/")).text
                cid = cid_of(page)
                assert (await ca.post(url_of(page, "inc"), headers=HX)).status_code == 200  # A: n=1 saved
                async with b.lifespan():  # B starts and loads n=1
                    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=b), base_url="http://t",
                                                  cookies=ca.cookies) as cb:
                        r = await ca.post(url_of(page, "add"), headers=HX, data={"amount": "10"})
                        assert shown(r.text) == 11  # A: n=11 saved
                        r = await cb.post(url_of(page, "inc"), headers=HX)  # an event fails over to B
                        # B's copy is stale: its save is refused, B reloads A's n=11 and folds again (not n=2)
                        assert r.status_code == 200 and shown(r.text) == 12
                        reloaded = (await cb.get(f"/?cv={cid}")).text
                        assert cid_of(reloaded) == cid and shown(reloaded) == 12
                        r = await ca.post(url_of(page, "inc"), headers=HX)  # now A's copy is the stale one
                        assert r.status_code == 200 and shown(r.text) == 13
                        reloaded = (await cb.get(f"/?cv={cid}")).text  # a reload on B shows A's newest
                        assert shown(reloaded) == 13

    asyncio.run(main())


@pytest.mark.redis
def test_a_conversation_minted_by_another_process_is_loaded_on_demand(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()

    def make() -> stube.Stube:
        app = stube.Stube(secret_key="shared", store=stube.RedisStore(redis_url))
        app.mount("/", WebCounter)
        return app

    a, b = make(), make()
    with TestClient(b) as cb:  # B started before the conversation existed
        with TestClient(a) as ca:
            page = ca.get("/").text
            ca.post(url_of(page, "inc"), headers=HX)
            cb.cookies.set("stube_sid", ca.cookies.get("stube_sid"))
        r = cb.post(url_of(page, "inc"), headers=HX)  # A went away; B carries on
        assert r.status_code == 200 and shown(r.text) == 2


# -- headers, cookies, mounts ------------------------------------------------------------------------------


class Search(Component):
    name = "edges/search"
    template_string = '<div {{ root() }}><form><button {{ on("find", q="東京") }}>go</button>' \
                      '<button {{ on("jump") }}>jump</button></form><p>{{ self.q }}</p></div>'

    def __init__(self) -> None:
        self.q = ""

    def url(self):  # type: ignore[no-untyped-def]
        return f"/s?q={self.q}" if self.q else None

    @event
    def find(self, q: str) -> None:
        self.q = q

    @event
    def jump(self):  # type: ignore[no-untyped-def]
        return history("/wiki/Zürich–Genève\r\nX-Evil: 1", push=True)


def test_urls_outside_latin1_reach_the_browser_encoded() -> None:
    app = stube.Stube(secret_key="k")
    app.mount("/s", Search)
    with TestClient(app) as c:
        page = c.get("/s").text
        r = c.post(url_of(page, "find"), headers=HX, data={"q": "東京"})
        assert r.status_code == 200
        assert r.headers["hx-replace-url"] == "/s?q=%E6%9D%B1%E4%BA%AC"
        r = c.post(url_of(page, "jump"), headers=HX)
        assert r.status_code in (200, 204)
        assert r.headers["hx-push-url"].startswith("/wiki/Z%C3%BCrich%E2%80%93Gen%C3%A8ve%0D%0A")
        assert "x-evil" not in r.headers


def test_a_second_view_of_a_host_page_does_not_lock_out_the_first() -> None:
    widget = stube.Stube(secret_key="k")
    widget.mount("/", WebCounter)

    async def home(request):  # type: ignore[no-untyped-def]
        e = await widget.embed(request, "/")
        return e.apply(HTMLResponse(f"<html><head>{e.head}</head><body>{e.html}{e.scripts}</body></html>"))

    host = Starlette(routes=[Route("/", home), Mount("/w", app=widget)])
    with TestClient(host) as c:
        first = c.get("/").text
        c.get("/")  # another tab of the host page: same session now
        r = c.post(url_of(first, "inc"), headers=HX)
        assert r.status_code == 200


def test_two_stube_apps_in_one_host_keep_their_own_sessions() -> None:
    admin, site = stube.Stube(secret_key="admin-secret"), stube.Stube(secret_key="site-secret")
    admin.mount("/", WebCounter)
    site.mount("/", WebCounter)
    host = Starlette(routes=[Mount("/admin", admin), Mount("/", site)])
    with TestClient(host) as c:
        site_page = c.get("/").text
        admin_page = c.get("/admin/").text
        assert c.post(url_of(admin_page, "inc"), headers=HX).status_code == 200
        assert c.post(url_of(site_page, "inc"), headers=HX).status_code == 200


def test_mount_paths_with_parameters_are_refused_with_advice() -> None:
    app = stube.Stube(secret_key="k")
    with pytest.raises(ValueError, match="query string"):
        app.mount("/item/{id}", WebCounter)


def test_without_javascript_the_stale_page_links_back_to_the_page() -> None:
    app = stube.Stube(secret_key="k")
    app.mount("/", WebCounter)
    with TestClient(app) as c:
        page = c.get("/").text
        url = re.search(r'formaction="([^"]+/finish)"', page).group(1)  # type: ignore[union-attr]
        c.post(url, follow_redirects=False)
        stale = c.post(url, headers={"referer": "http://testserver/?cv=" + cid_of(page)})
        assert stale.status_code == 410
        href = re.search(r'href="([^"]*)"\s*>Reload', stale.text).group(1)  # type: ignore[union-attr]
        assert c.get(href).status_code == 200
        stale = c.post(url, headers={"referer": "http://elsewhere.example/"})  # never off-site
        href = re.search(r'href="([^"]*)"\s*>Reload', stale.text).group(1)  # type: ignore[union-attr]
        assert href == "/"


# -- double clicks and stale tabs -------------------------------------------------------------------------


class Dialog(Component):
    name = "edges/dialog"
    template_string = '<div {{ root() }}><form><button {{ on("ok") }}>OK</button></form></div>'

    @event
    def ok(self):  # type: ignore[no-untyped-def]
        return answer(True)


class Account(Component):
    name = "edges/account"
    template_string = '<div {{ root() }}><form><button {{ on("withdraw") }}>Withdraw 100</button></form>' \
                      '<span class="n">{{ self.balance }}</span></div>'

    def __init__(self) -> None:
        self.balance = 100

    @event
    def withdraw(self):  # type: ignore[no-untyped-def]
        return call(Dialog(), resume="on_ok")

    def on_ok(self, ok: bool) -> None:
        if ok:
            self.balance -= 100


def test_a_frame_covered_by_a_dialog_is_not_clickable() -> None:
    app = stube.Stube(secret_key="k")
    app.mount("/", Account)
    with TestClient(app) as c:
        page = c.get("/").text
        assert c.post(url_of(page, "withdraw"), headers=HX).status_code == 200
        assert c.post(url_of(page, "withdraw"), headers=HX).status_code == 204  # the double click
        conv = app.runtime.conversations[cid_of(page)]
        assert len(conv["stack"]) == 2
        dialog = conv["stack"][-1]
        r = c.post(f"/_stube/event/{cid_of(page)}/{dialog}/ok", headers=HX)
        assert shown(r.text) == 0


# -- crawlers, timers, topics ------------------------------------------------------------------------


class Tick(Component):
    name = "edges/tick"
    template_string = '<div {{ root() }}>{{ self.n }}</div>'

    def __init__(self) -> None:
        self.n = 0

    def start(self):  # type: ignore[no-untyped-def]
        return after(0.05, "tick")

    def tick(self):  # type: ignore[no-untyped-def]
        self.n += 1
        return after(0.05, "tick")


class CountingStore(stube.InMemoryStore):
    def __init__(self) -> None:
        self.saves = 0

    async def save(self, conv: dict) -> None:
        self.saves += 1


def test_a_crawled_page_with_a_timer_is_never_saved_and_is_reaped() -> None:
    store = CountingStore()
    app = stube.Stube(secret_key="k", store=store, conversation_ttl=0.5, reaper_interval=0.1)
    app.mount("/", Tick)

    async def main() -> None:
        async with app.lifespan():
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as c:
                await c.get("/")
            await asyncio.sleep(1.2)
            assert store.saves == 0
            assert app.runtime.conversations == {}

    asyncio.run(main())


class Room(Component):
    name = "edges/room"
    template_string = '<div {{ root() }}><form><button {{ on("leave") }}>x</button></form></div>'

    def __init__(self) -> None:
        self.topic = "room:" + secrets.token_hex(4)

    def start(self):  # type: ignore[no-untyped-def]
        return subscribe(self.topic, "message")

    def message(self, msg: Any) -> None:
        pass

    @event
    def leave(self):  # type: ignore[no-untyped-def]
        return end()


def test_the_topic_map_shrinks_when_conversations_end() -> None:
    app = stube.Stube(secret_key="k")
    app.mount("/", Room)
    with TestClient(app) as c:
        for _ in range(20):
            page = c.get("/").text
            c.post(url_of(page, "leave"), headers=HX)
        assert app.runtime._topics == {}
