"""The wire over HTTP (Starlette's TestClient): pages, events, status codes, sessions, uploads, mounting."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import stube
from stube import Component, event
from tests.components import WebCounter as Counter

HX = {"HX-Request": "true"}


class Greeter(Component):
    name = "http/greeter"
    fields = ("who",)
    template_string = """<div {{ root() }}><form><input name="who" value="{{ self.who }}">
<button {{ on("greet") }}>Greet</button></form><p class="greeting">{{ self.greeting }}</p></div>"""

    def __init__(self) -> None:
        self.who = ""
        self.greeting = ""

    @event
    def greet(self) -> None:
        self.greeting = f"Hello, {self.who}!"


class Uploader(Component):
    name = "http/uploader"
    template_string = """<div {{ root() }}><form {{ upload("received") }}><input type="file" name="file">
<input name="note"><button>Upload</button></form>
<ul>{% for f in self.seen %}<li>{{ f.filename }} {{ f.size }} {{ f.note }}</li>{% endfor %}</ul></div>"""
    seen_paths: list[str] = []

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @event
    def received(self, files: list, note: str = "") -> None:
        for f in files:
            Uploader.seen_paths.append(f["path"])
            content = Path(f["path"]).read_bytes()
            self.seen.append({"filename": f["filename"], "size": f["size"], "note": note,
                              "name": f["name"], "content_type": f["content_type"],
                              "first": content[:5].decode()})


class UrlCounter(Component):
    name = "http/url-counter"
    template_string = """<div {{ root() }}><form><button {{ on("inc") }}>+</button>
<span class="n">{{ self.n }}</span></form></div>"""

    def __init__(self, n: int = 0) -> None:
        self.n = n

    def url(self):  # type: ignore[no-untyped-def]
        return ("push", f"/u?n={self.n}")

    @event
    def inc(self) -> None:
        self.n += 1


class RecordingStore:
    """A store that remembers what the runtime asked of it."""

    def __init__(self, preload: dict[str, dict] | None = None) -> None:
        self.saved: list[dict] = []
        self.deleted: list[str] = []
        self.loads = 0
        self.preload = preload or {}

    async def load_all(self) -> dict[str, dict]:
        self.loads += 1
        return dict(self.preload)

    async def save(self, conv: dict) -> None:
        self.saved.append(conv)

    async def delete(self, cid: str) -> None:
        self.deleted.append(cid)


def make_app(**options: Any) -> stube.Stube:
    app = stube.Stube(secret_key="test-secret", **options)
    app.mount("/", Counter)
    app.mount("/greet", Greeter)
    app.mount("/upload", Uploader)
    app.mount("/u", lambda request: UrlCounter(int(request.query_params.get("n", "0"))))
    return app


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def event_url(html: str, name: str) -> str:
    return re.search(rf'hx-post="([^"]+/{name})"', html).group(1)  # type: ignore[union-attr]


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    with TestClient(make_app()) as c:
        yield c


# -- pages and sessions ------------------------------------------------------------


def test_page_is_fully_rendered_and_sets_the_session_cookie(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("stube_sid=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    assert '<span class="n">0</span>' in r.text  # first paint needs no second request
    assert 'hx-sse:connect="/_stube/sse/' in r.text
    # A second page in the same session reuses the cookie.
    assert "set-cookie" not in client.get("/").headers


def test_cookie_is_secure_over_https():
    with TestClient(make_app(), base_url="https://testserver") as c:
        assert "Secure" in c.get("/").headers["set-cookie"]


def test_event_answers_htmx_partials(client):
    page = client.get("/").text
    r = client.post(event_url(page, "add"), data={"amount": "5"}, headers=HX)
    assert r.status_code == 200
    assert 'hx-swap="outerMorph"' in r.text and '<span class="n">5</span>' in r.text
    cid, since, to, *_step = r.headers["x-stube"].split(" ")
    assert cid == cid_of(page)
    assert int(to) == int(since) + 1


def test_form_fields_are_lifted(client):
    page = client.get("/greet").text
    r = client.post(event_url(page, "greet"), data={"who": "Ada"}, headers=HX)
    assert "Hello, Ada!" in r.text


def test_reload_with_the_conversation_in_the_url_resumes_it(client):
    page = client.get("/").text
    cid = cid_of(page)
    client.post(event_url(page, "inc"), headers=HX)
    client.post(event_url(page, "inc"), headers=HX)
    again = client.get(f"/?cv={cid}").text
    assert cid_of(again) == cid
    assert '<span class="n">2</span>' in again


def test_another_session_cannot_resume_by_url(client):
    page = client.get("/").text
    cid = cid_of(page)
    with TestClient(client.app) as stranger:
        other = stranger.get(f"/?cv={cid}").text
    assert cid_of(other) != cid


def test_works_without_javascript():  # the 0.1 (backtrack=False) addresses; tests/test_backtrack_http.py: steps
    client = TestClient(make_app(backtrack=False))
    page = client.get("/").text
    cid = cid_of(page)
    r = client.post(event_url(page, "add") + "?amount=3", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/?cv={cid}"
    after = client.get(r.headers["location"]).text
    assert '<span class="n">3</span>' in after
    # Buttons carry a real form action for the no-JS path.
    assert re.search(r'formaction="[^"]+/add\?amount=10" formmethod="post"', page)


def test_principal_is_computed_at_mint():
    app = make_app(principal=lambda request: request.query_params.get("user"))
    with TestClient(app) as c:
        assert '<p class="who">ada</p>' in c.get("/?user=ada").text


def test_url_projection_pushes_the_browser_url(client):
    page = client.get("/u?n=41").text
    assert '<span class="n">41</span>' in page
    assert 'data-stube-url="/u?n=41"' in page
    r = client.post(event_url(page, "inc"), headers=HX)
    assert r.headers["hx-push-url"] == "/u?n=42"


# -- the status-code table, in its order -----------------------------------------------


def test_410_for_an_unknown_conversation(client):
    client.get("/")
    r = client.post("/_stube/event/cv-doesnotexist000/ix-0000000000/inc", headers=HX)
    assert r.status_code == 410
    assert "reload" in r.text.lower()
    assert 'hx-target="#cv-doesnotexist000"' in r.text


def test_410_for_an_ended_conversation(client):
    page = client.get("/").text
    r = client.post(event_url(page, "finish"), headers=HX)
    assert r.status_code == 200 and "ended" in r.text
    r = client.post(event_url(page, "inc"), headers=HX)
    assert r.status_code == 410


def test_403_for_another_session(client):
    page = client.get("/").text
    with TestClient(client.app) as stranger:
        stranger.get("/")  # has a cookie, but not the owner's
        assert stranger.post(event_url(page, "inc"), headers=HX).status_code == 403
    with TestClient(client.app) as anonymous:
        assert anonymous.post(event_url(page, "inc"), headers=HX).status_code == 403
    # The owner still drives it, and nothing changed.
    r = client.post(event_url(page, "inc"), headers=HX)
    assert '<span class="n">1</span>' in r.text


def test_ownership_is_checked_before_the_instance(client):
    page = client.get("/").text
    cid = cid_of(page)
    with TestClient(client.app) as stranger:
        r = stranger.post(f"/_stube/event/{cid}/ix-ffffffffff/inc", headers=HX)
        assert r.status_code == 403


def test_204_for_an_instance_that_is_gone(client):
    page = client.get("/").text
    cid = cid_of(page)
    r = client.post(f"/_stube/event/{cid}/ix-ffffffffff/inc", headers=HX)
    assert r.status_code == 204
    assert client.post(event_url(page, "inc"), headers=HX).status_code == 200


def test_404_for_a_name_that_is_not_an_event(client):
    page = client.get("/").text
    base = event_url(page, "inc")[: -len("inc")]
    for name in ("nope", "on_ok", "start", "stop", "render", "__init__", "_stube_iid"):
        assert client.post(base + name, headers=HX).status_code == 404, name
    r = client.post(event_url(page, "inc"), headers=HX)
    assert '<span class="n">1</span>' in r.text  # on_ok never ran


def test_400_for_a_malformed_payload(client):
    page = client.get("/").text
    assert client.post(event_url(page, "add"), data={"amount": "lots"}, headers=HX).status_code == 400
    assert client.post(event_url(page, "add"), headers=HX).status_code == 400  # missing
    r = client.post(event_url(page, "inc"), content=b"{}", headers={**HX, "content-type": "application/json"})
    assert r.status_code == 400


def test_413_for_an_oversized_body():
    with TestClient(make_app(max_body=200)) as c:
        page = c.get("/").text
        r = c.post(event_url(page, "add"), data={"amount": "1", "pad": "x" * 500}, headers=HX)
        assert r.status_code == 413


def test_handler_error_shows_a_banner_and_changes_nothing(client):
    page = client.get("/").text
    base = event_url(page, "inc")[: -len("inc")]
    r = client.post(base + "boom", headers=HX)
    # Production: a generic message and an error id, never the exception's text.
    assert r.status_code == 200 and "stube-error" in r.text and "kaboom" not in r.text
    assert re.search(r"error [0-9a-f]{8}", r.text)
    r = client.post(event_url(page, "inc"), headers=HX)
    assert '<span class="n">1</span>' in r.text


def test_debug_banners_carry_the_exception_text():
    with TestClient(make_app(debug=True)) as c:
        page = c.get("/").text
        base = event_url(page, "inc")[: -len("inc")]
        r = c.post(base + "boom", headers=HX)
        assert r.status_code == 200 and "kaboom" in r.text


def test_asset_paths(client):
    ok = client.get("/_stube/static/stube.js")
    assert ok.status_code == 200 and "max-age" in ok.headers["cache-control"]
    page = client.get("/").text
    versioned = re.search(r'src="(/_stube/static/htmx/htmx.min.js\?v=[0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    assert "immutable" in client.get(versioned).headers["cache-control"]
    for bad in ("/_stube/static/..%2F..%2Fetc%2Fpasswd", "/_stube/static/a%20b.js", "/_stube/static/x/%2e%2e/stube.js",
                "/_stube/static/.%2Fstube.js", "/_stube/static/%00"):
        assert client.get(bad).status_code == 400, bad
    assert client.get("/_stube/static/nope.js").status_code == 404


def test_htmx_is_vendored_with_checksums():
    import hashlib

    folder = Path(stube.render.STATIC_DIR) / "htmx"
    version = (folder / "VERSION").read_text().strip()
    assert version.startswith("4.0.")
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


def test_503_while_shutting_down():
    app = make_app()
    with TestClient(app) as c:
        c.get("/")
        c.portal.call(app.shutdown)
        r = c.get("/")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"


# -- uploads -------------------------------------------------------------------


def test_upload_delivers_files_and_removes_the_temporary_copy(client):
    Uploader.seen_paths.clear()
    page = client.get("/upload").text
    r = client.post(event_url(page, "received"), headers=HX, data={"note": "caption"},
                    files={"file": ("hello.txt", b"hello world", "text/plain")})
    assert r.status_code == 200
    assert "hello.txt 11 caption" in r.text
    assert Uploader.seen_paths and not Path(Uploader.seen_paths[0]).exists()


def test_upload_over_the_cap_is_413():
    with TestClient(make_app(max_upload=1000)) as c:
        page = c.get("/upload").text
        r = c.post(event_url(page, "received"), headers=HX, files={"file": ("big.bin", b"x" * 5000)})
        assert r.status_code == 413


# -- persistence calls -----------------------------------------------------------------


def test_store_sees_one_save_per_event_and_none_for_page_views():
    store = RecordingStore()
    with TestClient(make_app(store=store)) as c:
        assert store.loads == 1
        page = c.get("/").text
        assert store.saved == []  # a page view alone writes nothing
        c.post(event_url(page, "inc"), headers=HX)
        c.post(event_url(page, "inc"), headers=HX)
        assert [s["instances"][s["stack"][0]]["state"]["n"] for s in store.saved] == [1, 2]
        base = event_url(page, "inc")[: -len("inc")]
        c.post(base + "boom", headers=HX)  # a failed dispatch saves nothing
        c.post(event_url(page, "add"), data={"amount": "x"}, headers=HX)
        assert len(store.saved) == 2
        c.post(event_url(page, "finish"), headers=HX)
        assert store.deleted == [cid_of(page)]


def test_a_store_failure_is_never_acknowledged(caplog):
    """A save that fails answers 503 + Retry-After, and the live conversation keeps its durable value."""
    class Flaky(RecordingStore):
        broken = True

        async def save(self, conv: dict) -> None:
            if Flaky.broken:
                raise OSError(28, "No space left on device")
            await super().save(conv)

    with TestClient(make_app(store=Flaky())) as c:
        page = c.get("/").text
        r = c.post(event_url(page, "inc"), headers=HX)
        assert r.status_code == 503 and r.headers["retry-after"]
        assert "Not saved" in r.text and '<span class="n">' not in r.text
        no_js = c.post(event_url(page, "inc"), follow_redirects=False)
        assert no_js.status_code == 503 and "Not saved" in no_js.text
        Flaky.broken = False  # the disk has room again: the next event counts from the durable value
        r = c.post(event_url(page, "inc"), headers=HX)
        assert r.status_code == 200 and '<span class="n">1</span>' in r.text
    assert "No space left" in caplog.text


def test_shutdown_saves_every_conversation_once_more():
    store = RecordingStore()
    app = make_app(store=store)
    with TestClient(app) as c:
        page = c.get("/").text
        c.post(event_url(page, "inc"), headers=HX)
        c.get("/")  # never touched: never saved
    assert len(store.saved) == 2 and store.saved[-1]["id"] == cid_of(page)


def test_reaper_ends_idle_conversations():
    store = RecordingStore()
    app = make_app(store=store, conversation_ttl=60)
    with TestClient(app) as c:
        page = c.get("/").text
        cid = cid_of(page)
        c.post(event_url(page, "inc"), headers=HX)
        import time

        reaped = c.portal.call(app.runtime.reap, time.time() + 120)
        assert reaped == [cid]
        assert store.deleted == [cid]
        assert c.post(event_url(page, "inc"), headers=HX).status_code == 410


# -- concurrency -------------------------------------------------------------------------


def test_events_on_one_conversation_are_strictly_ordered():
    app = make_app()

    async def main() -> list[int]:
        async with app.lifespan():
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as c:
                page = (await c.get("/")).text
                url = event_url(page, "inc")
                responses = await asyncio.gather(*[c.post(url, headers=HX) for _ in range(30)])
                return sorted(int(r.headers["x-stube"].split(" ")[2]) for r in responses)

    versions = asyncio.run(main())
    assert versions == list(range(versions[0], versions[0] + 30))


# -- mounting inside a host ------------------------------------------------------------------


def _check_mounted(c: TestClient, prefix: str) -> None:
    r = c.get(f"{prefix}/")
    assert r.status_code == 200
    assert f'hx-post="{prefix}/_stube/event/' in r.text
    assert f'src="{prefix}/_stube/static/htmx/htmx.min.js' in r.text
    assert f'hx-sse:connect="{prefix}/_stube/sse/' in r.text
    assert f"Path={prefix}" in r.headers["set-cookie"]
    cid = cid_of(r.text)
    assert f'data-stube-url="{prefix}/?cv={cid}"' in r.text
    ev = c.post(event_url(r.text, "inc"), headers=HX)
    assert ev.status_code == 200 and '<span class="n">1</span>' in ev.text
    nojs = c.post(event_url(r.text, "inc"), follow_redirects=False)
    assert nojs.headers["location"] == f"{prefix}/?cv={cid}"
    assert c.get(f"{prefix}/_stube/static/stube.js").status_code == 200


def test_mounted_under_a_prefix_in_a_starlette_host():
    store = RecordingStore()
    widget = make_app(store=store, backtrack=False)  # 0.1 addresses (with steps: tests/test_backtrack_http.py)
    host = Starlette(routes=[Route("/healthz", lambda r: PlainTextResponse("ok")), Mount("/widgets", app=widget)])
    with TestClient(host) as c:
        assert c.get("/healthz").text == "ok"
        _check_mounted(c, "/widgets")
    assert store.loads == 1  # loaded before the first request, with no lifespan of its own


def test_mounted_in_a_fastapi_host():
    fastapi = pytest.importorskip("fastapi")
    host = fastapi.FastAPI()

    @host.get("/api/foo")
    def foo() -> dict[str, str]:
        return {"foo": "bar"}

    host.mount("/ui", make_app(backtrack=False))  # 0.1 addresses (with steps: tests/test_backtrack_http.py)
    with TestClient(host) as c:
        assert c.get("/api/foo").json() == {"foo": "bar"}
        _check_mounted(c, "/ui")


def test_embed_in_a_host_page():
    widget = make_app()

    async def home(request):  # type: ignore[no-untyped-def]
        from starlette.responses import HTMLResponse

        embedded = await widget.embed(request, "/")
        html = f"<html><head>{embedded.head}</head><body><h1>Host</h1>{embedded.html}{embedded.scripts}</body></html>"
        return embedded.apply(HTMLResponse(html))

    host = Starlette(routes=[Route("/", home), Mount("/w", app=widget)])
    with TestClient(host) as c:
        r = c.get("/")
        assert "<h1>Host</h1>" in r.text and '<span class="n">0</span>' in r.text
        assert 'hx-post="/w/_stube/event/' in r.text
        assert "Path=/;" in r.headers["set-cookie"]  # the host page lives outside the prefix
        ev = c.post(event_url(r.text, "inc"), headers=HX)
        assert '<span class="n">1</span>' in ev.text


# -- server push ---------------------------------------------------------------------------


def _next_event(lines) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The next SSE message (skipping keep-alive comments) as {"id": ..., "data": ...}."""
    message: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if message:
                return message
            continue
        field, _, value = line.partition(": ")
        message[field] = message.get(field, "") + value if field == "data" else value
    raise AssertionError("stream ended")


def test_sse_pushes_folds_from_other_pages_in_version_order(client):
    page = client.get("/").text
    cid = cid_of(page)
    sse = re.search(r'hx-sse:connect="([^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    with client.stream("GET", sse) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        client.post(event_url(page, "inc"), headers={**HX, "X-Stube-Page": "another-page"})
        msg = _next_event(lines)
        assert msg["id"] == "1-2"
        assert 'hx-swap="outerMorph"' in msg["data"] and '<span class="n">1</span>' in msg["data"]
        # The page's own events are answered in the response, not pushed to its stream twice.
        own = re.search(r"page=([^&]+)", sse).group(1)  # type: ignore[union-attr]
        client.post(event_url(page, "inc"), headers={**HX, "X-Stube-Page": own})
        client.post(event_url(page, "inc"), headers={**HX, "X-Stube-Page": "another-page"})
        msg = _next_event(lines)
        assert msg["id"] == "3-4" and '<span class="n">3</span>' in msg["data"]
    assert client.app.runtime.streams.get(cid) is None  # detached when the page goes away


def test_sse_reconnect_gets_a_snapshot_of_what_it_missed(client):
    page = client.get("/").text
    client.post(event_url(page, "inc"), headers=HX)
    sse = re.search(r'hx-sse:connect="([^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    with client.stream("GET", sse, headers={"Last-Event-ID": "0-1"}) as stream:
        msg = _next_event(stream.iter_lines())
        assert msg["id"] == "s-2" and 'hx-swap="innerMorph"' in msg["data"]
        assert '<span class="n">1</span>' in msg["data"]


def test_sse_for_an_unknown_conversation_tells_the_page_to_reload(client):
    client.get("/")
    with client.stream("GET", "/_stube/sse/cv-gone00000000") as stream:
        msg = _next_event(stream.iter_lines())
        assert "reload" in msg["data"].lower() and 'hx-swap="delete"' in msg["data"]


def test_sse_needs_the_owner_session(client):
    page = client.get("/").text
    cid = cid_of(page)
    with TestClient(client.app) as stranger:
        assert stranger.get(f"/_stube/sse/{cid}").status_code == 403


# -- the session stash through HTTP -----------------------------------------------------------


class Table(Component):
    name = "http/table"
    stash = ("sort", "collapsed")
    template_string = """<div {{ root() }}><form><button {{ on("sort_by", column="name") }}>Name</button>
<button {{ on("toggle") }}>Toggle</button></form><p class="sort">{{ self.sort }}</p>
<p class="collapsed">{{ self.collapsed }}</p></div>"""

    def __init__(self) -> None:
        self.sort = "id"
        self.collapsed = False
        self.clicks = 0

    @event
    def sort_by(self, column: str) -> None:
        self.sort = column
        self.clicks += 1

    @event
    def toggle(self) -> None:
        self.collapsed = not self.collapsed


def test_stash_keeps_ui_preferences_across_pages_of_one_session(tmp_path):
    from stube.stash import FileStashStore

    def build() -> stube.Stube:
        app = stube.Stube(secret_key="stash-test", stash=FileStashStore(tmp_path))
        app.mount("/t", Table)
        return app

    with TestClient(build()) as c:
        first = c.get("/t").text
        assert '<p class="sort">id</p>' in first
        assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []  # a page view writes nothing
        c.post(event_url(first, "sort_by"), data={"column": "name"}, headers=HX)
        c.post(event_url(first, "toggle"), headers=HX)
        second = c.get("/t").text  # a new tab: a new conversation, same session
        assert cid_of(second) != cid_of(first)
        assert '<p class="sort">name</p>' in second and '<p class="collapsed">True</p>' in second
        cookie = c.cookies.get("stube_sid")
        with TestClient(build()) as stranger:
            assert '<p class="sort">id</p>' in stranger.get("/t").text  # another session: defaults
    # A restarted server (a new app on the same folder) still knows the session's preferences.
    with TestClient(build()) as again:
        again.cookies.set("stube_sid", cookie)
        assert '<p class="sort">name</p>' in again.get("/t").text
