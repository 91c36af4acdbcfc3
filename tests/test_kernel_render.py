"""Rendering: templates, ``{{ self.x }}``, and the helpers every component template gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

import stube
from stube import Component, event, kernel
from stube import context as ctx
from stube.kernel import Env
from stube.render import Templates
from stube.testing import Harness


def render(cls_source: str, **state: Any) -> tuple[Harness, str]:
    """Mount a one-off component with ``template_string = cls_source`` and return its page."""

    class Probe(Component):
        template_string = cls_source

        def __init__(self) -> None:
            self.__dict__.update(state)

    h = Harness(Probe())
    return h, h.html()


# -- templates and self ------------------------------------------------------------------------


def test_self_in_templates_is_the_component() -> None:
    h, html = render("<div {{ root() }}>{{ self.n }} {{ self.items|length }} {{ self.iid }}</div>", n=7, items=[1, 2])
    assert f">7 2 {h.top.iid}</div>" in html


def test_template_files_are_found_in_the_apps_folders_first(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "card.html").write_text('<div {{ root() }}>card {{ self.title }}</div>')
    (tmp_path / "stube").mkdir()
    (tmp_path / "stube" / "_smoke.html").write_text("<p>overridden {{ self.message }}</p>")

    class Card(Component):
        template = "demo/card.html"

        def __init__(self) -> None:
            self.title = "Hello"

    class UsesStock(Component):
        template_string = '<div {{ root() }}>{% include "stube/_smoke.html" %}</div>'

        def __init__(self) -> None:
            self.message = "yes"

    assert "card Hello" in Harness(Card(), templates=[tmp_path]).html()
    assert "<p>overridden yes</p>" in Harness(UsesStock(), templates=[tmp_path]).html()
    stock = Harness(UsesStock()).html()
    assert '<p class="stube-smoke">stube templates installed: yes</p>' in stock


def test_a_template_sees_globals_added_after_its_first_render_and_keeps_set_and_macros() -> None:
    """Renders read the environment's globals as they are now (stube does not copy them per render)."""
    h, html = render('{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}{% set twice = self.n * 2 %}'
                     '<div {{ root() }}>{{ b(twice) }} [{{ motto|default("-") }}]</div>', n=3)
    assert "<b>6</b> [-]" in html
    h.env.templates.env.globals["motto"] = "<hi>"
    assert "<b>6</b> [&lt;hi&gt;]" in h.html()


def test_templates_autoescape_state() -> None:
    _, html = render("<div {{ root() }}>{{ self.text }}</div>", text="<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html


def test_render_method_can_render_inline_jinja_with_every_helper() -> None:
    class Py(Component):
        def __init__(self) -> None:
            self.text = "<b>x</b>"

        def render(self) -> str:
            return self.render_string('<p {{ root() }}>{{ self.text }} {{ extra }}</p>', extra="<i>")

    h = Harness(Py())
    assert h.html() == (f'<p id="{h.top.iid}" data-stube-component="{escape(Py._stube_type)}" '
                        f'class="{Py._stube_css}">&lt;b&gt;x&lt;/b&gt; &lt;i&gt;</p>')


def test_a_component_without_template_renders_a_hidden_placeholder() -> None:
    class Task(Component):
        pass

    h = Harness(Task())
    assert h.html() == f'<div id="{h.top.iid}" data-stube-component="{escape(Task._stube_type)}" hidden></div>'


# -- root() -------------------------------------------------------------------------------------


def test_root_carries_id_type_and_css_class_and_extra_attributes() -> None:
    h, html = render('<div {{ root(class="card", id="ignored", data_x="1 & 2", hidden=True, title=None) }}></div>')
    t = h.top
    assert html == (f'<div id="{t.iid}" data-stube-component="{escape(type(t)._stube_type)}" '
                    f'class="{type(t)._stube_css} card" data-x="1 &amp; 2" hidden></div>')


# -- on() ----------------------------------------------------------------------------------------


def test_on_posts_to_the_event_url_and_works_without_javascript() -> None:
    h, html = render('<button {{ on("save") }}>Save</button>')
    url = f"/_stube/event/{h.conversation['id']}/{h.top.iid}/save"
    assert html == f'<button hx-post="{url}" formaction="{url}" formmethod="post">Save</button>'


def test_on_payload_goes_to_hx_vals_and_the_form_action() -> None:
    h, html = render('<button {{ on("add", amount=10, label="a b&c", flag=True, tags=["x", "y"]) }}>+</button>')
    url = f"/_stube/event/{h.conversation['id']}/{h.top.iid}/add"
    vals = json.dumps({"amount": 10, "label": "a b&c", "flag": True, "tags": '["x","y"]'}, separators=(",", ":"))
    assert f'hx-vals="{vals.replace("&", "&amp;").replace(chr(34), "&#34;")}"' in html
    assert f'formaction="{url}?amount=10&amp;label=a%20b%26c&amp;flag=true&amp;tags=%5B%22x%22%2C%22y%22%5D"' in html


def test_on_trigger_and_confirm() -> None:
    h, html = render('<input {{ on("typed", trigger="keyup changed delay:300ms", confirm="Sure & certain?") }}>')
    assert f"/{h.top.iid}/typed" in html
    assert 'hx-trigger="keyup changed delay:300ms"' in html and 'hx-confirm="Sure &amp; certain?"' in html


def test_on_target_posts_to_another_instance() -> None:
    h, html = render('<button {{ on("go", target="ix-0123456789") }}>go</button>')
    assert f'hx-post="/_stube/event/{h.conversation["id"]}/ix-0123456789/go"' in html


def test_on_renders_each_payload_type_faithfully_on_every_repaint() -> None:
    """1, 1.0 and True are equal in Python, and the helper caches: each keeps its own wire form."""

    class Switch(Component):
        template_string = '<b {{ root() }} {{ on("x", v=self.v) }}></b>'

        def __init__(self) -> None:
            self.v: Any = 1

        @event
        def put(self, v: Any) -> None:
            self.v = v

    h = Harness(Switch())
    wires = [h.html().split('hx-vals="')[1].split('"')[0]]
    for v in (1.0, True, "1", 1):
        wires.append(h.dispatch("put", v=v)[0].html.split('hx-vals="')[1].split('"')[0])
    q = "&#34;"
    assert wires == [f"{{{q}v{q}:1}}", f"{{{q}v{q}:1.0}}", f"{{{q}v{q}:true}}", f"{{{q}v{q}:{q}1{q}}}",
                     f"{{{q}v{q}:1}}"]


def test_on_rejects_event_names_that_are_not_identifiers() -> None:
    class Bad(Component):
        template_string = '<b {{ on("not valid") }}></b>'

    h = Harness(Bad(), raise_errors=False)
    assert isinstance(h.error, ValueError)
    assert "stube-error" in h.fragments[0].html


def test_urls_honour_the_base_prefix() -> None:
    class Btn(Component):
        template_string = '<div {{ root() }}><button {{ on("go") }}></button>{{ back_button() }}</div>'

    env = Env(Templates())
    out = kernel.boot(Btn(), env, base="/app/")
    html = str(kernel.render_page(out.conversation, env))
    cid = out.conversation["id"]
    assert f'hx-post="/app/_stube/event/{cid}/' in html
    assert f'hx-post="/app/_stube/back/{cid}"' in html


# -- slot(), keyed(), back_button(), upload() -------------------------------------------------------


def test_slot_inlines_the_child_and_an_unknown_slot_is_an_error() -> None:
    class Inner(Component):
        template_string = "<i {{ root() }}>inner</i>"

    class Outer(Component):
        template_string = '<div {{ root() }}>{{ slot("x") }}</div>'

        def children(self) -> dict[str, Component]:
            return {"x": Inner()}

    class Broken(Component):
        template_string = '<div {{ root() }}>{{ slot("missing") }}</div>'

    h = Harness(Outer(), raise_errors=False)
    assert f'<i id="{h.find(Inner).iid}"' in h.html()
    b = Harness(Broken(), raise_errors=False)
    assert isinstance(b.error, LookupError) and "missing" in str(b.error)
    assert "stube-error" in b.html()


def test_keyed_renders_its_container_even_when_empty() -> None:
    h, html = render('<div {{ root() }}>{{ keyed("rows", tag="ul", class_="list", data_kind="r") }}</div>')
    assert f'<ul id="{h.top.iid}--rows" class="stube-keyed list" data-kind="r"></ul>' in html


def test_back_button_posts_to_the_back_url() -> None:
    h, html = render('{{ back_button("Undo <that>", class_="small") }}')
    url = f"/_stube/back/{h.conversation['id']}"
    assert html == (f'<button class="stube-button small" hx-post="{url}" formaction="{url}" '
                    f'formmethod="post">Undo &lt;that&gt;</button>')


def test_upload_makes_a_multipart_form_for_an_event() -> None:
    h, html = render('<form {{ upload("received") }}></form>')
    url = f"/_stube/event/{h.conversation['id']}/{h.top.iid}/received"
    assert html == (f'<form hx-post="{url}" hx-encoding="multipart/form-data" action="{url}" '
                    f'method="post" enctype="multipart/form-data"></form>')


def test_helpers_outside_a_render_are_a_clear_error() -> None:
    from stube.render import on, root

    with pytest.raises(RuntimeError, match="template helper"):
        root()
    with pytest.raises(RuntimeError, match="template helper"):
        on("x")


# -- ambient context --------------------------------------------------------------------------------


class Ambient(Component):
    template_string = '<p {{ root() }}>{{ app().title }}|{{ principal() }}|{{ conversation_id() }}|{{ self.seen }}</p>'

    def __init__(self) -> None:
        self.seen: list[Any] = []

    @event
    def look(self) -> None:
        self.seen = [ctx.app().title, ctx.principal(), ctx.conversation_id()]


class Host:
    title = "My app"


def test_app_principal_and_conversation_id_in_templates_and_handlers() -> None:
    h = Harness(Ambient(), app=Host(), principal="ada")
    cid = h.conversation["id"]
    assert f"My app|ada|{cid}|[]" in h.html()
    h.dispatch("look")
    assert h.top.seen == ["My app", "ada", cid]
    assert h.conversation["principal"] == "ada"
    assert ctx.app() is None and ctx.conversation_id() is None      # nothing leaks outside


def test_top_level_context_readers_are_the_ones_handlers_use() -> None:
    """The contract spells them ``stube.app()``, ``stube.principal()``, ``stube.conversation_id()``."""
    assert stube.app is ctx.app
    assert stube.principal is ctx.principal
    assert stube.conversation_id is ctx.conversation_id


def test_templates_object_renders_names_and_strings() -> None:
    t = Templates()
    assert t.from_string("{{ 1 + 1 }}").render() == "2"
    assert t.from_string("{{ 1 + 1 }}") is t.from_string("{{ 1 + 1 }}")
    assert "stube-smoke" in t.get("stube/_smoke.html").render(stube_self=type("S", (), {"message": "m"})())


def test_an_event_rerenders_with_the_new_self() -> None:
    class Cnt(Component):
        template_string = "<p>{{ self.n }}</p>"

        def __init__(self) -> None:
            self.n = 1

        @event
        def inc(self) -> None:
            self.n += 1

    h = Harness(Cnt())
    assert h.dispatch("inc")[0].html == "<p>2</p>"
