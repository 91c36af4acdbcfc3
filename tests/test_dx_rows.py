"""Issue 14's table, one test per row: each mistake a new user made, and what stube does now.

Rows whose behaviour is tested at length elsewhere also have their own module:

- a non-JSON value set in ``__init__`` and the error-frame demo after "Boom" (Dismiss / Start
  again): also tests/test_dx_errors.py;
- stopping the server with a page open: the shutdown tests (tests/test_runtime*.py);
- a failed event seen in the browser: tests/browser/test_failure_notices.py;
- the missing template that lists its folders: tests/test_dx_templates.py.
"""

from __future__ import annotations

import datetime
import importlib.util
import logging
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import stube
from stube import Component, event
from stube.testing import Harness
from stube.ui import Confirm

HX = {"HX-Request": "true"}
ROOT = Path(__file__).resolve().parent.parent


def _url(page: str, event_name: str) -> str:
    found = re.search(rf'hx-post="([^"]+/{event_name})"', page)
    assert found, f"no {event_name} button in the page"
    return found.group(1)


# -- components ---------------------------------------------------------------------------------


class Row14Counter(Component):
    name = "dxrows/counter"
    template_string = """<div {{ root() }}><span class="n">{{ self.n }}</span>
<button {{ on("add", amount=1) }}>+1</button><button {{ on("boom") }}>boom</button>
<button {{ on("ask") }}>ask</button></div>"""

    def __init__(self) -> None:
        self.n = 0
        self.label = ""

    @event
    def add(self, amount: int) -> None:
        self.n += amount

    @event
    def rename(self, text: str) -> None:
        self.label = text

    @event
    def boom(self) -> None:
        raise RuntimeError("secret detail of the failure")

    @event
    def ask(self) -> Any:
        return stube.call(Confirm("Sure?"), resume="on_answer")

    def on_answer(self, yes: bool) -> None:
        self.n += 100 if yes else 0


class Row14Form(Component):
    name = "dxrows/form"
    fields = ("draft",)
    template_string = """<form {{ root() }}><input name="draft" value="{{ self.draft }}">
<input name="title"><button {{ on("save", tag="x") }}>save</button></form>"""

    def __init__(self) -> None:
        self.draft = ""
        self.saved: list[str] = []

    @event
    def save(self, tag: str = "") -> None:
        self.saved.append(self.draft)


class Row14Typo(Component):
    name = "dxrows/typo"
    template_string = "<ul {{ root() }}>\n{% for i in self.itmes %}<li>{{ i }}</li>{% endfor %}\n</ul>"

    def __init__(self) -> None:
        self.items = ["a"]


def _app(root: type[Component], *, debug: bool = False, templates: tuple[Path, ...] = ()) -> stube.Stube:
    app = stube.Stube(secret_key="dx-rows", debug=debug, templates=templates)
    app.mount("/", root)
    return app


# -- the rows -----------------------------------------------------------------------------------


def test_an_event_answered_400_404_403_500(caplog: pytest.LogCaptureFixture) -> None:
    """Each refusal is one log line with its status and reason; a crash is a banner with an
    error id (the exception text only in the log, in production) instead of a silent page."""
    app = _app(Row14Counter)
    with TestClient(app) as c, TestClient(app) as stranger:
        page = c.get("/").text
        add, boom = _url(page, "add"), _url(page, "boom")
        with caplog.at_level(logging.INFO, logger="stube.http"):
            bad = c.post(add.split("?")[0], data={"amount": "lots"}, headers=HX)
            unknown = c.post(add.split("?")[0].replace("/add", "/nope"), headers=HX)
            foreign = stranger.post(add, headers=HX)
        assert (bad.status_code, unknown.status_code, foreign.status_code) == (400, 404, 403)
        refused = [r.getMessage() for r in caplog.records if r.name == "stube.http"]
        assert len(refused) == 3
        assert "refused 400" in refused[0] and "amount" in refused[0]
        assert "refused 404" in refused[1] and "nope" in refused[1]
        assert "refused 403" in refused[2] and "session" in refused[2]

        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="stube"):
            crash = c.post(boom, headers=HX)
        assert crash.status_code == 200 and "stube-error" in crash.text
        assert "secret detail" not in crash.text                     # generic text in production
        error_id = re.search(r"error ([0-9a-z]+)</code>", crash.text)
        assert error_id, crash.text
        logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any(error_id.group(1) in m and "secret detail" in m for m in logged)


def test_event_def_stop_self() -> None:
    """``@event def stop(self)`` is a TypeError naming the class and the member, at definition."""
    with pytest.raises(TypeError, match=r"Stopper.*stop"):
        class Stopper(Component):
            template_string = "<div {{ root() }}></div>"

            @event
            def stop(self) -> None:
                pass


def test_handler_raised_inside_a_harness_test() -> None:
    """The exception propagates out of ``dispatch``, as Starlette's TestClient raises."""
    h = Harness(Row14Counter())
    with pytest.raises(RuntimeError, match="secret detail"):
        h.dispatch("boom")
    assert h.top.n == 0


def test_int_passed_to_a_str_parameter_in_a_harness() -> None:
    """The wire would deliver text: a Harness payload of another type is a TypeError naming it."""
    h = Harness(Row14Counter())
    with pytest.raises(TypeError, match=r"parameter 'text'"):
        h.dispatch("rename", text=5)
    assert h.top.label == ""
    h.dispatch("rename", text="five")
    assert h.top.label == "five"


def test_event_aimed_at_a_component_under_an_open_dialog_in_a_harness() -> None:
    """Over HTTP such an event is a 204 that changes nothing; the Harness says so with a LookupError."""
    h = Harness(Row14Counter())
    page = h.top.iid
    h.dispatch("ask")
    with pytest.raises(LookupError, match="not displayed"):
        h.dispatch("add", target=page, amount=1)
    assert h.find(Row14Counter).n == 0                                # type: ignore[union-attr]

    app = _app(Row14Counter)
    with TestClient(app) as c:
        page_html = c.get("/").text
        add = _url(page_html, "add")
        dialog = c.post(_url(page_html, "ask"), headers=HX).text
        assert c.post(add, headers=HX).status_code == 204
        closed = c.post(_url(dialog, "no"), headers=HX).text              # the page shows again
        assert '<span class="n">0</span>' in closed                      # the +1 changed nothing


def test_typo_self_itmes_in_a_template() -> None:
    """Debug templates are strict: the banner names the template, the line and the name."""
    with TestClient(_app(Row14Typo, debug=True)) as c:
        page = c.get("/").text
        assert "stube-error" in page and "itmes" in page and "line 2" in page
    with TestClient(_app(Row14Typo)) as c:                             # production stays lenient
        page = c.get("/").text
        assert "<ul" in page and "stube-error" not in page


def test_templates_started_from_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``templates=["templates"]``/``static=["static"]`` are found beside the module creating the
    ``Stube``, whatever the working directory is."""
    project = tmp_path / "project"
    (project / "templates").mkdir(parents=True)
    (project / "static").mkdir()
    (project / "templates" / "dxrows_todo.html").write_text('<div {{ root() }}>todo from its folder</div>')
    (project / "static" / "dxrows.css").write_text("body { color: teal }")
    (project / "dxrows_app.py").write_text(textwrap.dedent("""
        import stube

        class Todo(stube.Component):
            name = "dxrows/todo"
            template = "dxrows_todo.html"

        app = stube.Stube(secret_key="dx-rows", templates=["templates"], static=["static"])
        app.mount("/", Todo)
    """))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = importlib.util.spec_from_file_location("dxrows_app", project / "dxrows_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "dxrows_app", module)
    spec.loader.exec_module(module)
    with TestClient(module.app) as c:
        page = c.get("/")
        assert page.status_code == 200 and "todo from its folder" in page.text
        assert "stube-error" not in page.text
        css = c.get("/_stube/static/dxrows.css")
        assert css.status_code == 200 and "teal" in css.text


class Row14Stamp(Component):
    name = "dxrows/stamp"
    template_string = '<div {{ root() }}>{{ self.when }}</div>'

    def __init__(self) -> None:
        self.when = datetime.datetime(2026, 1, 1)                      # not JSON


def test_non_json_value_set_in_init() -> None:
    """The page is a banner naming the class and attribute, as the same mistake in a handler is."""
    with TestClient(_app(Row14Stamp, debug=True), raise_server_exceptions=False) as c:
        page = c.get("/")
        assert page.status_code == 200 and "Internal Server Error" not in page.text
        assert "stube-error" in page.text and "Row14Stamp.when" in page.text and "not JSON" in page.text
    with TestClient(_app(Row14Stamp), raise_server_exceptions=False) as c:    # production: generic
        page = c.get("/")
        assert page.status_code == 200 and "stube-error" in page.text and "Row14Stamp.when" not in page.text


def test_the_error_frame_demo_after_boom() -> None:
    """The banner that replaced the whole page offers Dismiss (the last good state) and Start again."""
    from demos import TEMPLATES
    from demos.error_frame import ErrorFrame

    with TestClient(_app(ErrorFrame, templates=(TEMPLATES,))) as c:
        page = c.get("/").text
        c.post(_url(page, "inc"), headers=HX)
        banner = c.post(_url(page, "boom"), headers=HX).text
        assert "stube-error" in banner
        offered = dict((label, url) for url, label in re.findall(
            r'<button[^>]*hx-post="([^"]+)"[^>]*>([^<]+)</button>', banner))
        assert set(offered) >= {"Dismiss", "Start again"}, banner
        dismissed = c.post(offered["Dismiss"], headers=HX).text
        assert "<strong>1</strong>" in dismissed and "stube-error" not in dismissed
        c.post(_url(page, "boom"), headers=HX)
        again = c.post(offered["Start again"], headers=HX).text
        assert "<strong>0</strong>" in again and "stube-error" not in again


def test_an_input_not_listed_in_fields(caplog: pytest.LogCaptureFixture) -> None:
    """Debug mode names a posted input that nothing reads, once per component type and name."""
    with TestClient(_app(Row14Form, debug=True)) as c:
        save = _url(c.get("/").text, "save").split("?")[0]
        form = {"draft": "hi", "title": "lost", "tag": "x"}
        with caplog.at_level(logging.WARNING, logger="stube.http"):
            assert c.post(save, data=form, headers=HX).status_code == 200
            assert c.post(save, data=form, headers=HX).status_code == 200   # no second warning
        warned = [r for r in caplog.records if r.name == "stube.http" and r.levelno == logging.WARNING]
        assert len(warned) == 1
        message = warned[0].getMessage()
        assert "'title'" in message and "dxrows/form" in message and "fields" in message
        assert "'draft'" not in message and "'tag'" not in message     # lifted / taken by the handler

    caplog.clear()
    with TestClient(_app(Row14Form)) as c:                             # production: silent
        save = _url(c.get("/").text, "save").split("?")[0]
        with caplog.at_level(logging.WARNING, logger="stube.http"):
            c.post(save, data={"draft": "hi", "title": "lost"}, headers=HX)
        assert not [r for r in caplog.records if "posted input" in r.getMessage()]


def test_install_secrets_deployment_port_and_dialog_events_in_the_readme() -> None:
    """The README names what a user needs first and links the documentation pages that exist."""
    readme = (ROOT / "README.md").read_text()
    for needed in ("pip install", "STUBE_SECRET", "PORT", "./run docs", "./run demo", "./run test",
                   "## Security", "uvicorn"):
        assert needed in readme, needed
    links = re.findall(r"\]\((docs/[^)#]+\.md)", readme)
    for page in ("install", "deploy", "security", "dialogs", "testing", "inspector"):
        assert f"docs/{page}.md" in links, page
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing
    dialogs = (ROOT / "docs" / "dialogs.md").read_text()
    assert "yes" in dialogs and "cancel" in dialogs.lower()


def test_root_path_overrides_the_callers_folder_and_absolute_folders_stay(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "dxrows_rooted.html").write_text('<div {{ root() }}>rooted</div>')
    absolute = tmp_path / "abs"
    absolute.mkdir()
    (absolute / "dxrows_abs.html").write_text('<div {{ root() }}>absolute</div>')

    class Rooted(Component):
        name = "dxrows/rooted"
        template = "dxrows_rooted.html"

    class Absolute(Component):
        name = "dxrows/absolute"
        template = "dxrows_abs.html"

    app = stube.Stube(secret_key="dx-rows", templates=["tpl", str(absolute)], root_path=tmp_path)
    app.mount("/", Rooted)
    app.mount("/abs", Absolute)
    with TestClient(app) as c:
        assert "rooted" in c.get("/").text
        assert "absolute" in c.get("/abs").text
