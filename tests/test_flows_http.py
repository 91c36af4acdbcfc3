"""Flows through the whole stack: a FileStore, a restart, and the persistence rule."""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.testclient import TestClient

import stube
from stube import Component, answer, call, event

HX = {"HX-Request": "true"}


class Ask(Component):
    name = "fh/ask"
    fields = ("value",)
    template_string = """<form {{ root() }}><label>{{ self.question }}</label><input name="value">
<button {{ on("ok") }}>OK</button></form>"""

    def __init__(self, question: str) -> None:
        self.question = question
        self.value = ""

    @event
    def ok(self):  # type: ignore[no-untyped-def]
        return answer(self.value)


@stube.flow(durable=True, name="fh/signup")
def signup() -> str:
    name = stube.ask(Ask("Your name?"))
    colour = stube.ask(Ask(f"Favourite colour, {name}?"))
    return f"{name} likes {colour}"


@stube.flow(name="fh/live")
def live_signup() -> str:
    name = stube.ask(Ask("Your name?"))
    return stube.ask(Ask(f"Really, {name}?"))


class TaskSignup(Component):
    """The same two steps as a task component: plain state that persists."""

    name = "fh/task"

    def __init__(self) -> None:
        self.name = ""

    def start(self):  # type: ignore[no-untyped-def]
        return call(Ask("Your name?"), resume="on_name")

    def on_name(self, value: str):  # type: ignore[no-untyped-def]
        self.name = value
        return call(Ask(f"Favourite colour, {value}?"), resume="on_colour")

    def on_colour(self, value: str):  # type: ignore[no-untyped-def]
        return answer(f"{self.name} likes {value}")


def make(folder: Any) -> stube.Stube:
    app = stube.Stube(secret_key="flows-http", store=stube.FileStore(folder))
    app.mount("/durable", signup)
    app.mount("/live", live_signup)
    app.mount("/task", TaskSignup)
    return app


def submit(c: TestClient, html: str, value: str) -> str:
    url = re.search(r'hx-post="([^"]+/ok)"', html).group(1)  # type: ignore[union-attr]
    r = c.post(url, data={"value": value}, headers=HX)
    assert r.status_code == 200, r.text
    return r.text


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def two_steps_across_a_restart(tmp_path: Any, path: str) -> None:
    with TestClient(make(tmp_path)) as c:
        page = c.get(path).text
        cid = cid_of(page)
        after = submit(c, page, "Ada")
        assert "Favourite colour, Ada?" in after
        cookie = c.cookies.get("stube_sid")
    # A new application object on the same folder (a restarted process).
    with TestClient(make(tmp_path)) as c:
        c.cookies.set("stube_sid", cookie)
        resumed = c.get(f"{path}?cv={cid}").text
        assert cid_of(resumed) == cid
        assert "Favourite colour, Ada?" in resumed  # the right next question is on screen
        done = submit(c, resumed, "teal")
        assert "ended" in done
    assert not (tmp_path / f"{cid}.json").exists()  # an ended conversation leaves the store


def test_a_durable_flow_resumes_after_the_application_is_recreated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    two_steps_across_a_restart(tmp_path, "/durable")


def test_a_task_component_persists_like_any_state(tmp_path) -> None:  # type: ignore[no-untyped-def]
    two_steps_across_a_restart(tmp_path, "/task")


def test_a_live_flow_is_skipped_with_one_warning_and_keeps_working(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="stube.store")
    with TestClient(make(tmp_path)) as c:
        page = c.get("/live").text
        cid = cid_of(page)
        after = submit(c, page, "Ada")
        assert "Really, Ada?" in after  # the live conversation keeps working
        warnings = [r for r in caplog.records if r.name == "stube.store" and r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert cid in warnings[0].getMessage() and "fh/live" in warnings[0].getMessage()
        assert not (tmp_path / f"{cid}.json").exists()
        assert "ended" in submit(c, after, "yes")
    warnings = [r for r in caplog.records if r.name == "stube.store" and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # exactly one per conversation, shutdown included
