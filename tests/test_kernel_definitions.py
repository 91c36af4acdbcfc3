"""Mistakes in a component class fail when the class is defined, naming class and member;
and the registry, strict templates, admit() and the CLOSE fragment's HTML."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from stube import Component, UnknownEvent, end, event, kernel
from stube.component import REGISTRY, RESERVED, find_type, generation, lookup, registered
from stube.kernel import Env
from stube.render import Templates
from stube.testing import Harness
from tests.components import Confirm, Counter


@pytest.mark.parametrize("member", sorted(RESERVED))
def test_an_event_on_a_reserved_member_name_is_a_type_error_naming_class_and_member(member: str) -> None:
    def handler(self: Any) -> None:
        pass

    with pytest.raises(TypeError, match=rf"Bad\.{member}\b.*reserved"):
        type("Bad", (Component,), {member: event(handler)})


def test_the_reserved_names_include_every_hook_and_class_setting() -> None:
    assert {"start", "stop", "wakeup", "children", "url", "render", "handle", "migrate_stash", "template",
            "fields", "stash", "name"} <= RESERVED


def test_an_event_on_a_private_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"Hidden\._go.*'_'"):
        class Hidden(Component):
            @event
            def _go(self) -> None:
                pass


def test_both_template_and_template_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Both sets both template and template_string"):
        class Both(Component):
            template = "x.html"
            template_string = "<div {{ root() }}></div>"


def test_a_subclass_may_swap_a_template_for_a_template_string() -> None:
    class Base(Component):
        template = "x.html"

    class Inline(Base):
        template_string = "<div {{ root() }}>inline</div>"

    assert "inline" in Harness(Inline()).html()


@pytest.mark.parametrize("setting, value", [("fields", "name"), ("stash", "sort"), ("fields", ("a", 1)),
                                            ("template", 3), ("stash_vsn", "2"), ("stash_vsn", 0)])
def test_a_class_setting_of_the_wrong_shape_is_a_type_error(setting: str, value: Any) -> None:
    with pytest.raises(TypeError, match=rf"Shaped\.{setting}"):
        type("Shaped", (Component,), {setting: value})


def test_a_hook_that_is_not_a_method_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"Hooked\.url is a hook"):
        type("Hooked", (Component,), {"url": "/fixed"})


def test_a_correct_class_still_defines_fine() -> None:
    class Fine(Component):
        fields = ("q",)
        stash = ("sort",)
        stash_vsn = 2
        template_string = "<div {{ root() }}></div>"

        @event
        def search(self) -> None:
            pass

    assert find_type(Fine._stube_type) is Fine


def test_the_registry_finds_types_and_counts_generations() -> None:
    before = generation()

    class Fresh(Component):
        pass

    assert generation() == before + 1 == REGISTRY.generation
    assert lookup(Fresh._stube_type) is Fresh and registered()[Fresh._stube_type] is Fresh
    assert find_type("no.such.Type") is None
    with pytest.raises(LookupError, match="no.such.Type"):
        lookup("no.such.Type")


# -- strict templates ------------------------------------------------------------


class Typo(Component):
    template_string = "<ul {{ root() }}>\n{% for i in self.items %}<li>{{ i }}</li>{% endfor %}\n{{ self.itmes }}</ul>"

    def __init__(self) -> None:
        self.items = ["a"]


def test_strict_templates_name_the_template_the_line_and_the_undefined_name() -> None:
    env = Env(Templates(strict=True), debug=True)
    out = kernel.boot(Typo(), env)
    assert isinstance(out.error, jinja2.UndefinedError)
    message = str(out.error)
    assert "itmes" in message and "line 3" in message and "template" in message


def test_strict_file_templates_name_the_file(tmp_path: Any) -> None:
    (tmp_path / "typo.html").write_text("<div {{ root() }}>\n{{ self.nmae }}</div>")

    class FromFile(Component):
        template = "typo.html"

        def __init__(self) -> None:
            self.name_ = "x"

    out = kernel.boot(FromFile(), Env(Templates([tmp_path], strict=True)))
    assert "'typo.html', line 2" in str(out.error) and "nmae" in str(out.error)


def test_lenient_templates_render_an_undefined_name_empty() -> None:
    h = Harness(Typo(), debug=False)  # production: an undefined name renders empty
    assert h.error is None and "<li>a</li>" in h.html()


def test_a_harness_has_strict_templates_as_debug_does() -> None:
    with pytest.raises(Exception, match="itmes"):
        Harness(Typo())


# -- admit and run --------------------------------------------------------------


class Page(Component):
    template_string = "<div {{ root() }}>{{ self.n }}</div>"

    def __init__(self) -> None:
        self.n = 0

    @event
    def ask(self) -> Any:
        from stube import call

        return call(Confirm())

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def quit(self) -> Any:
        return end("bye")


def test_admit_resolves_once_and_run_uses_what_it_found() -> None:
    h = Harness(Page())
    iid = h.top.iid
    handler = kernel.admit(h.conversation, iid, "inc")
    assert handler is not None and handler.cls is Page and not handler.catch_all
    out = kernel.run(h.conversation, kernel.Event(iid, "inc"), h.env, handler)
    assert out.error is None and out.conversation["instances"][iid]["state"]["n"] == 1


def test_admit_refuses_what_the_page_cannot_show_and_unknown_names() -> None:
    h = Harness(Page())
    page = h.top.iid
    with pytest.raises(UnknownEvent):
        kernel.admit(h.conversation, page, "nope")
    h.dispatch("ask")                                   # the page is under a dialog now
    assert kernel.admit(h.conversation, page, "inc") is None
    assert kernel.admit(h.conversation, "ix-missing", "inc") is None
    assert kernel.admit(h.conversation, h.top.iid, "yes") is not None


def test_outcome_since_is_the_version_before_the_fold() -> None:
    h = Harness(Counter())
    version = h.conversation["version"]
    out = kernel.run(h.conversation, kernel.Event(h.top.iid, "inc"), h.env)
    assert out.since == version and out.conversation["version"] == version + 1


def test_the_close_fragment_carries_the_ended_page() -> None:
    h = Harness(Page())
    frags = h.dispatch("quit")
    [close] = [f for f in frags if f.kind == "close"]
    assert "This conversation has ended." in close.html and 'href="/"' in close.html


def test_wire_shows_the_close_fragments_html_and_a_bare_close_still_drops_the_stream() -> None:
    from stube import wire
    from stube.fragments import CLOSE, Fragment

    own = wire.partials([Fragment(CLOSE, target="cv-x", html="<p>own</p>")], cid="cv-x")
    bare = wire.partials([Fragment(CLOSE, target="cv-x")], cid="cv-x")
    assert "<p>own</p>" in own and 'hx-target="#cv-x-sse" hx-swap="delete"' in own
    assert 'hx-target="#cv-x" hx-swap="innerHTML"></hx-partial>' in bare
    assert 'hx-target="#cv-x-sse" hx-swap="delete"' in bare


def test_an_undefined_name_in_a_child_names_the_child_template_once() -> None:
    class Kid(Component):
        template_string = "<i {{ root() }}>{{ self.nope }}</i>"

    class Holder(Component):
        template_string = '<div {{ root() }}>{{ slot("k") }}</div>'

        def children(self) -> dict[str, Component]:
            return {"k": Kid()}

    out = kernel.boot(Holder(), Env(Templates(strict=True)))
    assert str(out.error).count("(template") == 1 and "nope" in str(out.error)
