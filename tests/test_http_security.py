"""Hostile traffic against the HTTP layer (issue 10): each test replays an attack that worked on 0.1."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
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
