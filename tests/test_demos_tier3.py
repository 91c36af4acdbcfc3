"""Tier 3 demos: timers, pub/sub, uploads and a browser-drawn widget."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from demos import chat as chat_mod
from demos import shared_counter as sc
from demos.chat import Chat
from demos.clock import Clock, LiveClock, Turbo
from demos.file_upload import FileUpload
from demos.preserved_widget import PreservedWidget
from demos.testing import DemoHarness
from stube import fragments as fr

# -- clock ------------------------------------------------------------------------------


def card(h: DemoHarness, title: str):
    return next(a for a in h.page.select("article") if a.one("h2").text == title)


def test_clock_ticks_with_fire() -> None:
    h = DemoHarness(Clock)
    assert h.page.one("h1").text == "Timers"
    assert "0 ticks delivered by after()" in card(h, "Live clock").text
    clock = h.find(LiveClock)
    tick = next(c for c in h.timers if c.iid == clock.iid)
    assert tick.effect.seconds == 1
    frags = h.fire(tick)
    assert [(f.kind, f.target) for f in frags] == [(fr.MORPH, clock.iid)]
    assert "1 tick delivered by after()" in card(h, "Live clock").text
    # Each tick arms the next one.
    h.fire(next(c for c in h.timers if c.iid == clock.iid))
    assert "2 ticks delivered" in card(h, "Live clock").text


def test_clock_pause_makes_pending_ticks_stale_and_resume_rearms() -> None:
    h = DemoHarness(Clock)
    clock = h.find(LiveClock).iid
    pending = next(c for c in h.timers if c.iid == clock)
    h.click("Pause", within=card(h, "Live clock"))
    h.fire(pending)  # scheduled before the pause: ignored
    assert "0 ticks" in card(h, "Live clock").text
    assert not [c for c in h.timers if c.iid == clock]
    h.click("Resume", within=card(h, "Live clock"))
    h.click("Pause", within=card(h, "Live clock"))
    h.click("Resume", within=card(h, "Live clock"))
    live = [c for c in h.timers if c.iid == clock]
    for c in live:
        h.fire(c)
    assert "1 tick delivered" in card(h, "Live clock").text  # one live generation, not two


def test_turbo_counter() -> None:
    h = DemoHarness(Clock)
    turbo = h.find(Turbo).iid
    for _ in range(3):
        h.fire(next(c for c in h.timers if c.iid == turbo))
    assert card(h, "Turbo counter").one("p.stube-big").text == "3"
    h.click("Stop", within=card(h, "Turbo counter"))
    h.click("Reset", within=card(h, "Turbo counter"))
    assert card(h, "Turbo counter").one("p.stube-big").text == "0"
    assert card(h, "Turbo counter").has_button("Start")


# -- chat --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_globals() -> Iterator[None]:
    chat_mod.clear()
    sc.reset()
    yield
    chat_mod.clear()
    sc.reset()


def test_chat_send_and_receive_with_publish() -> None:
    h = DemoHarness(Chat)
    assert h.page.one("h2").text == "Chat"
    assert "No messages yet" in h.text
    h.click("Send", fields={"name": "Ada", "text": "hello"})
    assert "Ada" in h.page.one("ol").text and "hello" in h.page.one("ol").text
    assert h.page.one("input[name=text]").get("value") == ""
    (publish,) = [c for c in h.commands if c.kind == "io"]  # the fan-out runs after the handler

    other = DemoHarness(Chat)  # a second tab starts with recent history
    assert "hello" in other.page.one("ol").text
    assert other.publish(chat_mod.TOPIC, {"id": "m2", "name": "Grace", "text": "hi Ada", "at": "12:00:00"}) == 1
    assert h.publish(chat_mod.TOPIC, {"id": "m2", "name": "Grace", "text": "hi Ada", "at": "12:00:00"}) == 1
    assert [li.text.split()[0] for li in h.page.select("ol li")] == ["Ada", "Grace"]
    # The sender's own message coming back through pub/sub is not shown twice.
    sent = h.top.messages[0]
    h.publish(chat_mod.TOPIC, sent)
    assert len(h.page.select("ol li")) == 2


def test_chat_ignores_empty_messages_and_junk() -> None:
    h = DemoHarness(Chat)
    h.click("Send", fields={"name": "Ada", "text": "   "})
    assert not [c for c in h.commands if c.kind == "io"]
    h.publish(chat_mod.TOPIC, "not a message")
    assert "No messages yet" in h.text


def test_chat_publish_goes_through_stube_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    import stube

    seen = []
    monkeypatch.setattr(stube, "publish", lambda topic, msg: seen.append((topic, msg)) or 1, raising=False)
    h = DemoHarness(Chat)
    h.click("Send", fields={"name": "Ada", "text": "hello"})
    h.run_io()
    assert [(t, m["text"]) for t, m in seen] == [(chat_mod.TOPIC, "hello")]


# -- shared counter ----------------------------------------------------------------------


def test_shared_counter_updates_every_tab() -> None:
    a = DemoHarness(sc.SharedCounterPage)
    b = DemoHarness(sc.SharedCounterPage)
    assert a.page.one("h1").text == "Shared counter"
    assert "No broadcasts seen yet." in a.text and "Last update: initial" in a.text
    a.click("+")
    assert card(a, "Counter").one(".stube-big").text == "1"
    assert "Last update: this tab" in a.text
    (io,) = [c for c in a.commands if c.kind == "io"]
    msg = {"value": 1, "source": io.iid, "at": "12:00:00"}
    for tab in (a, b):
        assert tab.publish(sc.TOPIC, msg) == 2  # the counter and the report both subscribe
    assert card(b, "Counter").one(".stube-big").text == "1"
    assert "Last update: another tab" in b.text
    assert "Last update: this tab" in a.text
    assert "1 from" in card(b, "Report").text
    assert DemoHarness(sc.SharedCounterPage).find(sc.SharedCounter).value == 1  # the shared value


def test_shared_counter_report_keeps_eight() -> None:
    h = DemoHarness(sc.SharedCounterPage)
    for n in range(12):
        h.publish(sc.TOPIC, {"value": n, "source": "ix-other", "at": "12:00:00"})
    rows = card(h, "Report").select("li")
    assert len(rows) == 8 and rows[0].one("strong").text == "11"


# -- file upload -----------------------------------------------------------------------------


def parser_upload(data: bytes) -> str:
    """A temporary file as stube's multipart parser writes one (removed by the fixture below)."""
    fd, path = tempfile.mkstemp(prefix="stube-upload-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    _UPLOADS.append(path)
    return path


_UPLOADS: list[str] = []


@pytest.fixture
def uploads() -> Iterator[None]:
    yield
    while _UPLOADS:
        with contextlib.suppress(OSError):
            os.unlink(_UPLOADS.pop())


def test_file_upload_lists_received_files_with_preview(uploads: None) -> None:
    h = DemoHarness(FileUpload)
    assert h.page.one("h2").text == "File upload"
    assert "No files uploaded yet." in h.text
    form = h.page.one("form")
    assert form.get("enctype") == "multipart/form-data" and form.get("hx-post").endswith("/received")
    text = parser_upload(b"hello upload\n" + b"x" * 1000)
    blob = parser_upload(b"\x00\x01\x02")
    h.dispatch("received", note="first batch", files=[
        {"name": "file", "filename": "notes.txt", "content_type": "text/plain", "size": 1013, "path": text},
        {"name": "file", "filename": "../../blob.bin", "content_type": "application/octet-stream", "size": 3,
         "path": blob},
    ])
    items = h.page.select("ul li")
    assert [i.one("strong").text for i in items] == ["notes.txt", "blob.bin"]
    assert "text/plain · 1013 bytes · first batch" in items[0].text
    preview = items[0].one("pre").text
    assert preview.startswith("hello upload") and len(preview) <= 500
    assert items[1].select("pre") == []
    assert h.roundtrip() == h.conversation
    assert not any("path" in f for f in h.top.received)  # nothing to reopen later


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/hostname", "passwd", "../../../../etc/passwd"])
def test_file_upload_never_opens_a_path_the_parser_did_not_write(path: str, tmp_path: Path) -> None:
    h = DemoHarness(FileUpload)
    h.dispatch("received", files=[{"name": "file", "filename": "x.txt", "content_type": "text/plain",
                                   "size": 1, "path": path}])
    item = h.page.one("ul li")
    assert item.one("strong").text == "x.txt" and item.select("pre") == []


def test_file_upload_refuses_a_symlink_or_a_foreign_file_dressed_as_an_upload(uploads: None, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    link = Path(tempfile.gettempdir()) / f"stube-upload-link-{os.getpid()}"
    link.symlink_to(secret)
    _UPLOADS.append(str(link))
    elsewhere = tmp_path / "stube-upload-elsewhere"
    elsewhere.write_text("top secret")
    h = DemoHarness(FileUpload)
    h.dispatch("received", files=[
        {"name": "file", "filename": "a.txt", "content_type": "text/plain", "size": 10, "path": str(link)},
        {"name": "file", "filename": "b.txt", "content_type": "text/plain", "size": 10, "path": str(elsewhere)},
        {"name": "file", "filename": "c.txt", "content_type": "text/plain", "size": 99,
         "path": parser_upload(b"top secret")},  # the size the parser recorded does not match
    ])
    assert "top secret" not in h.text
    assert [i.select("pre") for i in h.page.select("ul li")] == [[], [], []]


def test_file_upload_without_files_changes_nothing() -> None:
    h = DemoHarness(FileUpload)
    h.dispatch("received", note="no file")
    assert "No files uploaded yet." in h.text


# -- preserved widget --------------------------------------------------------------------------


def test_preserved_widget_canvas_is_kept_across_parent_rerenders() -> None:
    h = DemoHarness(PreservedWidget)
    page = h.page
    assert page.one("h1").text == "Preserved widget"
    canvas = page.one("canvas")
    assert "hx-preserve" in canvas.attrs and "hx-morph-skip" in canvas.attrs and canvas.get("id")
    h.click("Re-render parent")
    h.click("Re-render parent")
    page = h.page
    assert page.select("p")[0].text == "Parent renders: 2"
    assert page.one("canvas").get("id") == canvas.get("id")  # same id: htmx keeps the element
    h.click("Hide canvas (fires on-unmount)")
    assert h.page.select("canvas") == [] and h.page.has_button("Show canvas")
