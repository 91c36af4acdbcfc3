"""Errors a developer can act on (issue 14): UnknownEvent names the events there are, a raising top
frame's banner offers Dismiss and Start again, a root that cannot be built shows a banner page,
and the kernel's private receivers are declared, not guessed from a prefix."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

import stube
from demos.error_frame import ErrorFrame
from demos.testing import DemoHarness, dom
from stube import Component, EffectError, StateError, UnknownEvent, answer, call, event
from stube import fragments as fr
from stube.kernel import DISMISS, RESTART, Env, Event, admit, boot, run
from stube.testing import Harness

HX = {"HX-Request": "true"}


class Counter(Component):
    name = "dx/counter"
    template_string = '<div {{ root() }}><span class="n">{{ self.n }}</span>' \
                      '<button {{ on("boom") }}>Boom</button></div>'

    def __init__(self, n: int = 0) -> None:
        self.n = n

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def add(self, amount: int) -> None:
        self.n += amount

    @event
    def boom(self) -> None:
        self.n = 1000
        raise RuntimeError("kaboom")

    @event
    def ask(self) -> Any:
        return call(Dialog(), resume="on_done")

    def on_done(self, value: Any) -> None:
        self.n = -1


class Dialog(Component):
    name = "dx/dialog"
    template_string = '<div {{ root() }}><button {{ on("fail") }}>Fail</button></div>'

    @event
    def fail(self) -> None:
        raise RuntimeError("dialog broke")

    @event
    def ok(self) -> Any:
        return answer(1)


class Panel(Component):
    """A root with a child: the child's banner is not the whole page."""

    name = "dx/panel"
    template_string = '<div {{ root() }}>{{ slot("child") }}</div>'

    def children(self) -> dict[str, Component]:
        return {"child": Counter()}


def no_raise(root: Any, **options: Any) -> DemoHarness:
    return DemoHarness(root, raise_errors=False, **options)


def buttons(html: str) -> dict[str, Any]:
    return {b.text: b for b in dom(html).select("button")}


# -- 1. UnknownEvent lists the events -------------------------------------------------------------


def test_unknown_event_names_the_class_the_event_and_the_events_there_are() -> None:
    h = Harness(Counter())
    with pytest.raises(UnknownEvent) as caught:
        h.dispatch("stopp")
    assert str(caught.value) == "Counter has no event 'stopp'; its events are: inc, add, boom, ask"
    assert caught.value.events == ("inc", "add", "boom", "ask") and caught.value.event == "stopp"


def test_unknown_event_suggests_a_close_match_and_explains_hooks_and_resume_methods() -> None:
    h = Harness(Counter())
    with pytest.raises(UnknownEvent, match=r"Did you mean 'add'\?"):
        h.dispatch("ad")
    with pytest.raises(UnknownEvent, match="'stop' is a hook stube calls itself"):
        h.dispatch("stop")
    with pytest.raises(UnknownEvent, match=r"Counter.on_done is not an @event; its events are: inc, add"):
        h.dispatch("on_done", value=1)


def test_an_unknown_event_over_http_is_a_404_whose_body_lists_the_events() -> None:
    app = stube.Stube(secret_key="k" * 32)
    app.mount("/", Counter)
    with TestClient(app) as client:
        page = client.get("/")
        url = dom(page.text).one("button").get("hx-post").replace("/boom", "/bom")
        r = client.post(url, headers=HX)
    assert r.status_code == 404
    assert "Counter has no event 'bom'; its events are: inc, add, boom, ask. Did you mean 'boom'?" in r.text


# -- 2. Dismiss and Start again -----------------------------------------------------------------------


def test_error_frame_demo_after_boom_dismiss_shows_the_last_good_state() -> None:
    h = no_raise(ErrorFrame)
    h.click("+1")
    before = h.conversation
    (banner,) = h.click("Boom")
    assert banner.kind == fr.ERROR
    offered = buttons(banner.html)
    assert list(offered) == ["Dismiss", "Start again"]
    (frag,) = h.press(offered["Dismiss"])
    assert frag.kind == fr.MORPH and frag.target == banner.target
    assert dom(frag.html).one("section strong").text == "1"   # the handler's +1000 was discarded
    assert "stube-error" not in frag.html
    assert h.conversation is before                            # nothing changed, not even history


def test_error_frame_demo_after_boom_start_again_gives_a_fresh_root() -> None:
    h = no_raise(ErrorFrame)
    h.click("+1")
    h.click("+1")
    old = h.top.iid
    (banner,) = h.click("Boom")
    frags = h.press(buttons(banner.html)["Start again"])
    assert [f.kind for f in frags] == [fr.PAGE]
    assert h.top.iid != old and h.top.n == 0
    assert h.page.one("section strong").text == "0"
    assert old not in h.conversation["instances"]
    h.click("+1")
    assert h.page.one("section strong").text == "1"


def test_start_again_rebuilds_the_root_as_it_was_mounted_and_runs_its_hooks() -> None:
    log: list[str] = []

    class Hooked(Component):
        name = "dx/hooked"
        template_string = '<div {{ root() }}>{{ self.n }}</div>'

        def __init__(self, n: int) -> None:
            self.n = n
            self.started = False

        def start(self) -> None:
            self.started = True
            log.append(f"start {self.n}")

        def stop(self) -> None:
            log.append(f"stop {self.n}")

        @event
        def inc(self) -> None:
            self.n += 1

        @event
        def boom(self) -> None:
            raise RuntimeError("no")

    h = no_raise(Hooked(5))
    assert h.conversation["root_spec"] == {"type": "dx/hooked", "state": {"n": 5, "started": False}}
    h.dispatch("inc")
    h.dispatch("boom")
    h.dispatch(RESTART)
    assert (h.top.n, h.top.started) == (5, True)
    assert log == ["start 5", "stop 6", "start 5"]


def test_start_again_gets_past_a_stop_hook_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Stuck(Component):
        name = "dx/stuck"
        template_string = '<div {{ root() }}>{{ self.n }}</div>'

        def __init__(self) -> None:
            self.n = 0

        def stop(self) -> None:
            raise RuntimeError("stop broke")

        @event
        def inc(self) -> None:
            self.n += 1

    h = no_raise(Stuck)
    h.dispatch("inc")
    old = h.top.iid
    with caplog.at_level(logging.ERROR, logger="stube"):
        h.dispatch(RESTART)
    assert h.error is None and h.top.iid != old and h.top.n == 0
    assert "stop hook failed while starting again" in caplog.text


def test_start_again_from_a_called_frame_clears_the_whole_stack() -> None:
    h = no_raise(Counter(n=2))
    h.dispatch("inc")
    h.dispatch("ask")
    assert h.frames == ["dx/counter", "dx/dialog"]
    (banner,) = h.dispatch("fail")
    assert list(buttons(banner.html)) == ["Dismiss", "Start again"]
    h.press(buttons(banner.html)["Start again"])
    assert h.frames == ["dx/counter"] and h.top.n == 2
    h.back()                                                   # Start again is a step like any other
    assert h.frames == ["dx/counter", "dx/dialog"]


def test_a_childs_banner_offers_nothing_and_banner_events_only_reach_the_top_frame() -> None:
    h = no_raise(Panel)
    child = h.find(Counter)
    assert child is not None
    (banner,) = h.dispatch("boom", target=child.iid)
    assert banner.kind == fr.ERROR and dom(banner.html).select("button") == []   # the rest of the page works
    before = h.conversation
    assert h.dispatch(RESTART, target=child.iid) == [] and h.conversation is before
    assert h.dispatch(DISMISS, target=child.iid) == [] and h.conversation is before
    with pytest.raises(UnknownEvent):
        admit(h.conversation, child.iid, RESTART)                    # what a host checks first


def test_banner_events_cannot_be_declared_by_components() -> None:
    with pytest.raises(TypeError, match="never reachable as events"):
        class Sneaky(Component):
            @event
            def _stube_restart(self) -> None: ...


def test_a_failing_start_offers_start_again_only() -> None:
    class Flaky(Component):
        name = "dx/flaky"
        template_string = '<div {{ root() }}>ok</div>'

        def start(self) -> None:
            raise RuntimeError("start failed")

    h = no_raise(Flaky)
    (page,) = h.fragments
    assert page.kind == fr.PAGE and list(buttons(page.html)) == ["Start again"]


class Breaks(Component):
    """Renders while the host's ``app().ok`` (a reload then fails in ``render_page``)."""

    name = "dx/breaks"
    template_string = '<div {{ root() }}>{% if not app().ok %}{{ self.missing() }}{% endif %}</div>'


def test_a_page_whose_render_fails_offers_start_again_only() -> None:
    host = SimpleNamespace(ok=True)
    h = no_raise(Breaks, app=host)
    host.ok = False
    html = h.html()
    assert "stube-error" in html and list(buttons(html)) == ["Start again"]
    host.ok = True
    old = h.top.iid
    h.press(buttons(html)["Start again"])
    assert h.top.iid != old and "stube-error" not in h.html()


def test_dismiss_and_start_again_work_over_http_with_and_without_javascript() -> None:
    app = stube.Stube(secret_key="k" * 32, backtrack=False)  # 0.1 addresses: ?cv= without &step=
    app.mount("/", Counter(n=3))
    with TestClient(app) as client:
        page = dom(client.get("/").text)
        cid = page.one("[data-stube-cid]").get("data-stube-cid")
        boom = page.one("button").get("hx-post")
        banner = client.post(boom, headers=HX)
        assert banner.status_code == 200 and "stube-error" in banner.text
        offered = buttons(banner.text)
        dismiss = offered["Dismiss"]
        assert dismiss.get("formaction") == dismiss.get("hx-post")           # a real form button too
        r = client.post(dismiss.get("hx-post"), headers=HX)
        assert r.status_code == 200 and '<span class="n">3</span>' in r.text and "stube-error" not in r.text
        r = client.post(dismiss.get("hx-post"), follow_redirects=False)       # no JavaScript
        assert r.status_code == 303 and r.headers["location"].endswith(f"?cv={cid}")
        client.post(boom, headers=HX)
        r = client.post(offered["Start again"].get("formaction"), follow_redirects=False)
        assert r.status_code == 303
        again = dom(client.get(r.headers["location"]).text)
        assert again.one("span.n").text == "3"
        assert again.one("button").get("hx-post") != boom                   # a fresh root instance


# -- 2b. non-JSON state set in __init__ -------------------------------------------------------------


class Stamp(Component):
    name = "dx/stamp"
    template_string = '<div {{ root() }}>{{ self.when }}</div>'

    def __init__(self) -> None:
        self.when = dt.datetime(2026, 1, 1)


class Later(Component):
    name = "dx/later"
    template_string = '<div {{ root() }}>x</div>'

    @event
    def stamp(self) -> None:
        self.when = dt.datetime(2026, 1, 1)


def test_non_json_state_from_init_reads_like_the_same_mistake_in_a_handler() -> None:
    with pytest.raises(StateError) as in_handler:
        Harness(Later).dispatch("stamp")
    with pytest.raises(StateError) as in_init:
        Harness(Stamp)
    expected = "a datetime is not JSON (state must be str, int, float, bool, None, list, or dict with str keys)"
    assert str(in_handler.value) == f"Later.when: {expected}"
    assert str(in_init.value) == f"Stamp.when: {expected}"


def test_non_json_state_from_init_is_a_banner_page_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="stube"):
        out = boot(Stamp, Env(debug=True), mount="/stamp")
    assert isinstance(out.error, StateError)
    (page,) = out.fragments
    assert page.kind == fr.PAGE and page.target == out.conversation["id"]
    shown = dom(page.html)
    assert "Stamp.when: a datetime is not JSON" in shown.one(".stube-error-message").text
    assert shown.one("a").get("href") == "/stamp"                      # the way on: reload the page
    assert out.conversation["stack"] == [] and not out.conversation["ended"]
    assert "Stamp.when" in caplog.text                                  # logged with its error id
    h = no_raise(Stamp)
    assert isinstance(h.error, StateError) and h.fragments[0].kind == fr.PAGE


def test_non_json_state_from_init_over_http_is_a_page_with_a_banner() -> None:
    app = stube.Stube(secret_key="k" * 32)
    app.mount("/", Stamp)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/")
    assert r.status_code == 200
    assert dom(r.text).select("[role=alert]") and "Internal Server Error" not in r.text


# -- 6. declared private receivers -------------------------------------------------------------------


class Asker(Component):
    name = "dx/asker"
    template_string = '<div {{ root() }}>{{ self.got }}</div>'
    _stube_receivers = frozenset({"_stube_got"})

    def __init__(self) -> None:
        self.got = None

    @event
    def go(self) -> Any:
        return call(Dialog(), resume="_stube_got")

    def _stube_got(self, value: Any) -> None:
        self.got = value


class Guessing(Component):
    """A ``_stube_`` name it does not declare: no longer a receiver (the prefix rule is gone)."""

    name = "dx/guessing"
    template_string = '<div {{ root() }}></div>'

    @event
    def go(self) -> Any:
        return call(Dialog(), resume="_stube_got")

    def _stube_got(self, value: Any) -> None: ...


def test_declared_receivers_get_answers_and_internal_events_but_never_browser_events() -> None:
    h = Harness(Asker)
    h.dispatch("go")
    h.dispatch("ok")
    assert h.top.got == 1
    h.deliver(h.top.iid, "_stube_got", value=2)
    assert h.top.got == 2
    with pytest.raises(UnknownEvent):
        h.dispatch("_stube_got", value=3)
    conv = h.conversation
    with pytest.raises(UnknownEvent):
        run(conv, Event(h.top.iid, "_stube_got", {"value": 3}), h.env)


def test_an_undeclared_private_name_is_not_a_receiver() -> None:
    h = Harness(Guessing)
    with pytest.raises(EffectError, match="has no method '_stube_got' to receive the answer"):
        h.dispatch("go")
    with pytest.raises(UnknownEvent):
        h.deliver(h.top.iid, "_stube_got", value=1)


def test_receivers_are_declared_as_a_frozenset_of_private_names() -> None:
    with pytest.raises(TypeError, match="Wrong._stube_receivers must be a frozenset of private method names"):
        class Wrong(Component):
            _stube_receivers = frozenset({"on_done"})


def test_debug_banners_fold_the_traceback_under_the_message() -> None:
    from stube import Component, event
    from stube.testing import Harness

    class Exploder(Component):
        template_string = '<div {{ root() }}><button {{ on("go") }}>go</button></div>'

        @event
        def go(self) -> None:
            raise ValueError("deep trouble")

    debug = Harness(Exploder(), raise_errors=False)
    [frag] = debug.dispatch("go")
    assert '<details class="stube-error-trace">' in frag.html and "Traceback" in frag.html
    assert "ValueError: deep trouble" in frag.html and "in go" in frag.html
    production = Harness(Exploder(), raise_errors=False, debug=False)
    [frag] = production.dispatch("go")
    assert "stube-error-trace" not in frag.html and "deep trouble" not in frag.html
