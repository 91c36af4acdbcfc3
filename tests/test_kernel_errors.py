"""Errors: a failing handler changes nothing and shows one banner for its instance."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

import pytest

from stube import Component, EffectError, answer, call, event, patch
from stube.kernel import Env, boot
from stube.paint import GENERIC_ERROR
from stube.testing import Harness
from tests.components import debugging


class Child(Component):
    template_string = '<span {{ root() }}>{{ self.n }}</span>'

    def __init__(self) -> None:
        self.n = 0

    @event
    def explode(self) -> None:
        self.n = 99
        raise ValueError("child <b>broke</b>")


class Panel(Component):
    template_string = '<div {{ root() }}>{{ self.n }}{{ slot("child") }}</div>'

    def __init__(self) -> None:
        self.n = 0

    def children(self) -> dict[str, Component]:
        return {"child": Child()}

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def explode(self) -> None:
        self.n = 42
        raise RuntimeError("kaboom")

    @event
    def silent(self) -> None:
        raise KeyError

    @event
    def returns_junk(self) -> Any:
        return "not an effect"

    @event
    def returns_junk_list(self) -> Any:
        return [patch('<p id="a">a</p>'), 42]

    @event
    def patch_without_id(self) -> Any:
        return patch("<p>no id</p>")

    @event
    def ask(self) -> Any:
        return call(Reply(), resume="on_reply")

    def on_reply(self, value: Any) -> None:
        self.n = value
        raise LookupError("resume failed")


class Reply(Component):
    template_string = '<p {{ root() }}>reply</p>'

    @event
    def send(self) -> Any:
        return answer(7)


class Fragile(Component):
    template_string = '<div {{ root() }}>{{ 1 // self.d }}</div>'

    def __init__(self) -> None:
        self.d = 1

    @event
    def zero(self) -> None:
        self.d = 0


def kinds(frags: list[Any]) -> list[str]:
    return [f.kind for f in frags]


def test_a_raising_handler_leaves_the_conversation_exactly_as_it_was() -> None:
    h = debugging(Harness(Panel(), raise_errors=False))
    h.dispatch("inc")
    before = h.conversation
    snapshot = copy.deepcopy(before)
    iid = h.top.iid
    frags = h.dispatch("explode")
    assert h.conversation is before and h.conversation == snapshot
    assert isinstance(h.error, RuntimeError)
    assert len(frags) == 1
    [frag] = frags
    assert frag.kind == "error" and frag.target == iid
    assert frag.html.startswith(f'<div id="{iid}" class="stube-error" role="alert" data-stube-error="true">')
    assert f"<!-- stube error: cid={h.conversation['id']} iid={iid} phase=handle -->" in frag.html
    assert '<span class="stube-error-message">kaboom</span>' in frag.html


def test_the_banner_targets_the_instance_that_failed_and_escapes_the_message() -> None:
    h = debugging(Harness(Panel(), raise_errors=False))
    child = h.find(Child).iid
    frags = h.dispatch("explode", target=child)
    assert [(f.kind, f.target) for f in frags] == [("error", child)]
    assert "child &lt;b&gt;broke&lt;/b&gt;" in frags[0].html
    assert h.find(Child).n == 0


def test_an_exception_without_a_message_shows_its_class_name() -> None:
    h = debugging(Harness(Panel(), raise_errors=False))
    frags = h.dispatch("silent")
    assert '<span class="stube-error-message">KeyError</span>' in frags[0].html


@pytest.mark.parametrize("event_name", ["returns_junk", "returns_junk_list", "patch_without_id"])
def test_bad_handler_results_are_banners(event_name: str) -> None:
    h = Harness(Panel(), raise_errors=False)
    before = h.conversation
    frags = h.dispatch(event_name)
    assert isinstance(h.error, (TypeError, EffectError))
    assert h.conversation is before
    assert kinds(frags) == ["error"]


def test_a_failing_resume_keeps_the_child_on_the_stack_and_blames_the_dispatched_instance() -> None:
    h = Harness(Panel(), raise_errors=False)
    h.dispatch("ask")
    reply = h.top.iid
    before = h.conversation
    frags = h.dispatch("send")
    assert isinstance(h.error, LookupError)
    assert h.conversation is before and h.top.iid == reply
    assert [(f.kind, f.target) for f in frags] == [("error", reply)]
    assert "phase=handle" in frags[0].html


def test_a_template_error_during_a_dispatch_changes_nothing() -> None:
    h = Harness(Fragile(), raise_errors=False)
    before = h.conversation
    frags = h.dispatch("zero")
    assert isinstance(h.error, ZeroDivisionError)
    assert h.conversation is before and h.top.d == 1
    assert kinds(frags) == ["error"] and "stube-error" in frags[0].html


def test_a_render_error_in_a_full_page_render_is_a_banner_not_an_exception() -> None:
    class Flaky(Component):
        broken = False

        def render(self) -> str:
            if Flaky.broken:
                raise RuntimeError("template exploded")
            return "<div>fine</div>"

    h = debugging(Harness(Flaky()))
    Flaky.broken = True          # e.g. a template edited under a running server
    html = h.html()
    assert 'class="stube-error"' in html and "phase=render" in html and "template exploded" in html


def test_errors_are_logged_with_cid_iid_and_phase(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(Panel(), raise_errors=False)
    with caplog.at_level(logging.ERROR, logger="stube"):
        h.dispatch("explode")
    assert f"cid={h.conversation['id']} iid={h.top.iid} phase=handle" in caplog.text


def test_the_conversation_keeps_working_after_an_error() -> None:
    h = Harness(Panel(), raise_errors=False)
    h.dispatch("explode")
    frags = h.dispatch("inc")
    assert h.error is None and h.top.n == 1
    assert kinds(frags) == ["morph"]
    assert h.roundtrip() == h.conversation


def test_without_debug_a_banner_shows_a_generic_message_and_an_error_id_from_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(Panel(), raise_errors=False)
    h.env.debug = False  # what production shows, whatever the Harness's default
    with caplog.at_level(logging.ERROR, logger="stube"):
        [frag] = h.dispatch("explode")
    assert "kaboom" not in frag.html
    assert f'<span class="stube-error-message">{GENERIC_ERROR}</span>' in frag.html
    match = re.search(r'<code class="stube-error-id">error ([0-9a-f]{8})</code>', frag.html)
    assert match is not None, frag.html
    assert f"error={match.group(1)}: kaboom" in caplog.text    # the id finds the log line


def test_each_error_gets_its_own_id() -> None:
    h = Harness(Panel(), raise_errors=False)
    ids = {re.search(r"error ([0-9a-f]{8})<", h.dispatch("explode")[0].html).group(1)  # type: ignore[union-attr]
           for _ in range(3)}
    assert len(ids) == 3


def test_a_render_error_without_debug_hides_the_text_too() -> None:
    class Flaky2(Component):
        broken = False

        def render(self) -> str:
            if Flaky2.broken:
                raise RuntimeError("secret path /srv/x")
            return "<div>fine</div>"

    h = Harness(Flaky2())
    Flaky2.broken = True
    html = h.html()
    assert 'class="stube-error"' in html and "secret path" not in html and GENERIC_ERROR in html


def test_debug_env_shows_the_exception_text_from_the_first_render() -> None:
    class BadStart(Component):
        template_string = "<div {{ root() }}>x</div>"

        def start(self) -> None:
            raise RuntimeError("start exploded")

    assert "start exploded" in boot(BadStart(), Env(debug=True)).fragments[0].html
    assert "start exploded" not in boot(BadStart(), Env()).fragments[0].html
