"""Hostile traffic against the HTTP layer (issue 10): each test replays an attack that worked on 0.1."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from starlette.testclient import TestClient

import stube
from demos.app import TEMPLATES
from demos.file_upload import FileUpload
from stube import Component, event

HX = {"HX-Request": "true"}
SECRET_FILE = "/etc/passwd"
FORGED = json.dumps([{"name": "file", "filename": "x.txt", "content_type": "text/plain",
                      "size": 1, "path": SECRET_FILE}])


class Tally(Component):
    name = "security/tally"
    fields = ("note",)
    template_string = ('<div {{ root() }}><form><input name="note" value="{{ self.note }}">'
                       '<button {{ on("inc") }}>+</button></form><b class="n">{{ self.n }}</b>'
                       '<i class="files">{{ self.seen }}</i></div>')

    def __init__(self) -> None:
        self.n = 0
        self.note = ""
        self.seen: Any = "none"

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def take(self, files: list | None = None) -> None:  # type: ignore[type-arg]
        self.seen = files


class Renamable(Component):
    name = "security/renamable"
    template_string = '<div {{ root() }}><button {{ on("inc") }}>+</button>{{ self.n }}</div>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def event_url(html: str, name: str) -> str:
    return re.search(rf'(?:hx-post|action)="([^"]+/{name})"', html).group(1)  # type: ignore[union-attr]


def count(html: str) -> str:
    return re.search(r'class="n">(-?\d+)<', html).group(1)  # type: ignore[union-attr]


def app_with(root: Any, **options: Any) -> stube.Stube:
    app = stube.Stube(secret_key="security-test", **options)
    app.mount("/", root)
    return app


@pytest.fixture
def uploads() -> Any:
    with TestClient(app_with(FileUpload, templates=[TEMPLATES])) as c:
        yield c


@pytest.fixture
def tally() -> Any:
    with TestClient(app_with(Tally)) as c:
        yield c


# -- 1. uploads come only from the multipart parser --

def _secret_leaked(html: str) -> bool:
    return "root:" in html or "x.txt" in html


@pytest.mark.skipif(not Path(SECRET_FILE).is_file(), reason="needs a readable /etc/passwd to prove the leak")
@pytest.mark.parametrize("how", ["form", "query", "hx-vals", "multipart-text", "no-js"])
def test_a_forged_files_field_never_reaches_the_upload_demo(uploads: TestClient, how: str) -> None:
    page = uploads.get("/").text
    url = event_url(page, "received")
    headers = {} if how == "no-js" else HX
    if how in ("form", "no-js"):
        r = uploads.post(url, data={"files": FORGED}, headers=headers)
    elif how == "query":
        r = uploads.post(url, params={"files": FORGED}, headers=headers)
    elif how == "hx-vals":  # htmx sends hx-vals as urlencoded fields next to the form's own
        r = uploads.post(url, data={"files": FORGED, "note": "hi"}, headers=headers)
    else:  # a text part (no filename) inside a real multipart body
        r = uploads.post(url, files={"files": (None, FORGED)}, headers=headers)
    assert r.status_code in (200, 204, 303, 400)
    assert not _secret_leaked(r.text)
    assert not _secret_leaked(uploads.get(f"/?cv={cid_of(page)}").text)


def test_a_handler_taking_files_gets_an_empty_list_when_nothing_was_uploaded(tally: TestClient) -> None:
    page = tally.get("/").text
    url = event_url(page, "inc").rsplit("/", 1)[0] + "/take"
    r = tally.post(url, data={"files": FORGED}, params={"files": FORGED}, headers=HX)
    assert r.status_code == 200
    assert '<i class="files">[]</i>' in r.text


def test_real_uploads_still_arrive(tally: TestClient) -> None:
    page = tally.get("/").text
    url = event_url(page, "inc").rsplit("/", 1)[0] + "/take"
    r = tally.post(url, files={"doc": ("a.txt", b"hello", "text/plain"), "files": (None, FORGED)}, headers=HX)
    assert r.status_code == 200
    assert "a.txt" in r.text and SECRET_FILE not in r.text


# -- 3. no input produces a 500 --

@pytest.mark.parametrize("params,headers", [
    ({"v": "²"}, {}),
    ({"v": "9" * 5000}, {}),
    ({}, {"Last-Event-ID": "s-" + "9" * 5000}),
    ({"v": "١٢"}, {}),
    ({}, {"Last-Event-ID": "s-²".encode()}),
])
def test_garbled_stream_versions_are_400(tally: TestClient, params: dict[str, str],
                                         headers: dict[str, Any]) -> None:
    cid = cid_of(tally.get("/").text)
    with tally.stream("GET", f"/_stube/sse/{cid}", params=params, headers=headers) as r:
        assert r.status_code == 400  # (0.1 answered 500, or for non-ASCII digits opened the stream)


def test_reloading_a_conversation_whose_class_was_renamed_starts_afresh() -> None:
    app = app_with(Renamable)
    with TestClient(app) as c:
        page = c.get("/").text
        cid = cid_of(page)
        c.post(event_url(page, "inc"), headers=HX)
        conv = app.runtime.conversations[cid]
        for rec in conv["instances"].values():
            rec["type"] = "security/renamed-away"  # what a deploy that renamed the class leaves behind
        r = c.get(f"/?cv={cid}")
        assert r.status_code == 200
        assert cid_of(r.text) != cid


def test_a_client_that_disconnects_mid_body_logs_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    app = app_with(Tally)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}  # the client went away before sending its body

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with TestClient(app) as c:
        path = event_url(c.get("/").text, "inc")
        cookie = f"stube_sid={c.cookies['stube_sid']}".encode()
        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": b"", "scheme": "http", "server": ("testserver", 80),
                 "client": ("127.0.0.1", 1), "http_version": "1.1", "asgi": {"version": "3.0"},
                 "headers": [(b"host", b"testserver"), (b"cookie", cookie), (b"content-length", b"100"),
                             (b"content-type", b"application/x-www-form-urlencoded")]}
        with caplog.at_level(logging.DEBUG):
            assert c.portal is not None
            c.portal.call(app, scope, receive, send)
    assert not any(r.exc_info for r in caplog.records)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert starts and starts[0]["status"] == 400


# -- 4. cross-site request forgery and framing --

@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://testserver:8001"},  # another port on the same host (SameSite=Lax lets it through)
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # a sandboxed iframe or a data: URL
])
def test_cross_origin_events_are_403_and_change_nothing(tally: TestClient, headers: dict[str, str]) -> None:
    page = tally.get("/").text
    r = tally.post(event_url(page, "inc"), headers={**HX, **headers})
    assert r.status_code == 403
    nojs = tally.post(event_url(page, "inc"), headers=headers, follow_redirects=False)
    assert nojs.status_code == 403
    back = tally.post(f"/_stube/back/{cid_of(page)}", headers={**HX, **headers})
    assert back.status_code == 403
    assert count(tally.get(f"/?cv={cid_of(page)}").text) == "0"


def test_cross_origin_uploads_are_403(tally: TestClient) -> None:
    page = tally.get("/").text
    url = event_url(page, "inc").rsplit("/", 1)[0] + "/take"
    r = tally.post(url, files={"doc": ("a.txt", b"hi", "text/plain")},
                   headers={**HX, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert "a.txt" not in tally.get(f"/?cv={cid_of(page)}").text


@pytest.mark.parametrize("headers", [
    {},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "http://testserver"},
    {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
])
def test_same_origin_and_headerless_events_are_served(tally: TestClient, headers: dict[str, str]) -> None:
    page = tally.get("/").text
    assert tally.post(event_url(page, "inc"), headers={**HX, **headers}).status_code == 200
    assert count(tally.get(f"/?cv={cid_of(page)}").text) == "1"


def test_trusted_origins_may_send_events() -> None:
    with TestClient(app_with(Tally, trusted_origins=["https://app.example/"])) as c:
        page = c.get("/").text
        assert c.post(event_url(page, "inc"), headers={**HX, "Origin": "https://app.example"}).status_code == 200
        assert c.post(event_url(page, "inc"), headers={**HX, "Origin": "https://other.example"}).status_code == 403


def test_pages_forbid_framing_by_other_origins(tally: TestClient) -> None:
    r = tally.get("/")
    assert r.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert r.headers["x-frame-options"] == "SAMEORIGIN"


def test_framing_policy_can_be_changed_or_turned_off() -> None:
    with TestClient(app_with(Tally, frame_ancestors="https://host.example")) as c:
        r = c.get("/")
        assert r.headers["content-security-policy"] == "frame-ancestors https://host.example"
        assert "x-frame-options" not in r.headers
    with TestClient(app_with(Tally, frame_ancestors=None)) as c:
        r = c.get("/")
        assert "content-security-policy" not in r.headers and "x-frame-options" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"


def test_every_response_is_nosniff_and_same_origin_referrer(tally: TestClient) -> None:
    page = tally.get("/")
    cid = cid_of(page.text)
    responses = [
        page,
        tally.post(event_url(page.text, "inc"), follow_redirects=False),    # 303
        tally.post(event_url(page.text, "inc"), headers=HX),                # a partial
        tally.get("/_stube/static/stube.js"),                               # asset
        tally.get("/_stube/static/nope.js"),                                # 404
        tally.get("/_stube/static/a..b/%2e%2e/x"),                          # 400
        tally.post("/_stube/event/cv-gone00000000/ix-1/inc", headers=HX),   # 410
        tally.get("/_stube/health"),
        tally.get("/_stube/sse/cv-gone00000000"),                           # closing stream
    ]
    for params in ({"v": "x"}, {"v": "0"}):                                 # refused, and a live stream
        with tally.stream("GET", f"/_stube/sse/{cid}", params=params) as r:
            responses.append(r)
    with TestClient(tally.app) as stranger:
        responses.append(stranger.post(event_url(page.text, "inc"), headers=HX))  # 403
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["referrer-policy"] == "same-origin", r.url


def test_partials_are_nosniff_and_carry_no_document_policies(tally: TestClient) -> None:
    """htmx swaps a partial into the page, whose own framing policy applies; it is never a document (ADR 0008)."""
    page = tally.get("/").text
    for r in (tally.post(event_url(page, "inc"), headers=HX), tally.post(f"/_stube/back/{cid_of(page)}", headers=HX)):
        assert r.status_code in (200, 204)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-stube"].startswith(cid_of(page) + " ")
        for name in ("content-security-policy", "x-frame-options", "cache-control"):
            assert name not in r.headers, name
    # A refused event is not a partial: it keeps every header (the 410's reload fragment, a 403).
    gone = tally.post("/_stube/event/cv-gone00000000/ix-1/inc", headers=HX)
    assert gone.status_code == 410 and gone.headers["referrer-policy"] == "same-origin"
    assert gone.headers["content-security-policy"] == "frame-ancestors 'self'"


# -- 5. sessions, the reload link, field sizes --

class _SignedLongAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 61


def test_an_expired_session_cookie_is_no_session() -> None:
    app = app_with(Tally, session_max_age=60)
    with TestClient(app) as c:
        page = c.get("/").text
        sid = c.cookies["stube_sid"].rsplit(".", 2)[0]
        assert c.post(event_url(page, "inc"), headers=HX).status_code == 200
        old = _SignedLongAgo(b"security-test", salt="stube.session").sign(sid).decode()
        c.cookies.clear()
        c.cookies.set("stube_sid", old)
        assert c.post(event_url(page, "inc"), headers=HX).status_code == 403
        fresh = c.get("/")
        assert fresh.cookies.get("stube_sid") not in (None, old)  # a page view mints a new session
    long_lived = app_with(Tally)  # the same age under the default 30 days: still honoured
    with TestClient(long_lived) as c:
        page = c.get("/").text
        sid = c.cookies["stube_sid"].rsplit(".", 2)[0]
        c.cookies.clear()
        c.cookies.set("stube_sid", _SignedLongAgo(b"security-test", salt="stube.session").sign(sid).decode())
        assert c.post(event_url(page, "inc"), headers=HX).status_code == 200


@pytest.mark.parametrize("referer", [
    "javascript://testserver/%0aalert(1)",
    "data://testserver/x",
    "http://evil.example/",
    "//testserver/x",
])
def test_the_reload_link_only_goes_to_this_apps_own_pages(tally: TestClient, referer: str) -> None:
    tally.get("/")
    r = tally.post("/_stube/event/cv-gone00000000/ix-1/inc", headers={"referer": referer})
    assert r.status_code == 410
    link = re.search(r'class="stube-button[^"]*" href="([^"]*)"', r.text).group(1)  # type: ignore[union-attr]
    assert link == "/"


def test_the_reload_link_keeps_a_page_of_this_app(tally: TestClient) -> None:
    tally.get("/")
    r = tally.post("/_stube/event/cv-gone00000000/ix-1/inc", headers={**HX, "hx-current-url": "http://testserver/?a=1"})
    assert 'href="http://testserver/?a=1"' in r.text


def test_an_oversized_lifted_field_is_400() -> None:
    with TestClient(app_with(Tally, max_field=1024)) as c:
        page = c.get("/").text
        url = event_url(page, "inc")
        assert c.post(url, data={"note": "x" * 1025}, headers=HX).status_code == 400
        assert c.post(url, data={"other": "x" * 4096}, headers=HX).status_code == 200  # not lifted: a payload
        assert c.post(url, data={"note": "x" * 1024}, headers=HX).status_code == 200
        assert count(c.get(f"/?cv={cid_of(page)}").text) == "2"


def test_refused_events_are_logged_once_with_status_and_reason(tally: TestClient,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    page = tally.get("/").text
    with caplog.at_level(logging.INFO, logger="stube.http"):
        tally.post(event_url(page, "inc"), headers={**HX, "Sec-Fetch-Site": "cross-site"})
    lines = [r for r in caplog.records if r.name == "stube.http"]
    assert len(lines) == 1
    assert "403" in lines[0].getMessage() and "cross-site" in lines[0].getMessage()


# -- health --

class _Store:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.inner = stube.InMemoryStore()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def check(self) -> None:
        if self.error is not None:
            raise self.error


def test_health_reports_the_store() -> None:
    with TestClient(app_with(Tally)) as c:  # InMemoryStore: no check() needed
        r = c.get("/_stube/health")
        assert (r.status_code, r.json()) == (200, {"store": "ok"})
    with TestClient(app_with(Tally, store=_Store(None))) as c:
        assert c.get("/_stube/health").json() == {"store": "ok"}
    with TestClient(app_with(Tally, store=_Store(OSError("disk full")))) as c:
        r = c.get("/_stube/health")
        assert r.status_code == 503
        assert r.json() == {"store": "error", "detail": "disk full"}
