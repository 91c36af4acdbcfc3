"""Rendering components: one instance (and, through its helpers, its children) to HTML.

A :class:`RenderState` is what one conversation's render needs; :func:`render_instance`
binds the render frame the template helpers (``stube.helpers``) read and renders the
instance with its class's template from :class:`~stube.templates.Templates` (or its
``render()`` method). The environment, the helpers and the URLs have modules of their
own; their names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import jinja2
from markupsafe import Markup, escape

from .component import IID_KEY, Component, _registry, lookup
from .context import RenderFrame, render_frame, rendering
from .helpers import attrs, back_button, event_attrs, has_slot, keyed, keyed_container, on, root, slot, upload
from .templates import (
    PACKAGE_DIR,
    SELF,
    STATIC_DIR,
    TEMPLATES_DIR,
    MissingTemplate,
    SelfIsComponent,
    Templates,
    UndefinedName,
    _Context,
    _located,
    resolve_folders,
)
from .urls import Urls

__all__ = ["PACKAGE_DIR", "SELF", "STATIC_DIR", "TEMPLATES_DIR", "MissingTemplate", "RenderState", "SelfIsComponent",
           "Templates", "UndefinedName", "Urls", "attrs", "back_button", "event_attrs", "has_slot", "keyed",
           "keyed_container", "on", "render_html", "render_instance", "render_source", "resolve_folders", "root",
           "slot", "upload"]


class RenderState:
    """What the helpers need while one conversation renders."""

    __slots__ = ("instances", "cid", "urls", "templates", "rendered", "event_prefix")

    def __init__(self, instances: Mapping[str, dict[str, Any]], cid: str, urls: Urls, templates: Templates) -> None:
        self.instances = instances
        self.cid = cid
        self.urls = urls
        self.templates = templates
        #: Instance ids emitted by this render, in order.
        self.rendered: list[str] = []
        #: ``<base>/_stube/event/<cid>/``, escaped (``on()`` appends an instance id and an event name).
        key = (urls.base, cid)
        prefix = _PREFIXES.get(key)
        if prefix is None:
            if len(_PREFIXES) >= 4096:
                _PREFIXES.clear()
            prefix = _PREFIXES[key] = str(escape(f"{urls.base}/_stube/event/{cid}/"))
        self.event_prefix = prefix

    def render_source(self, obj: Component, source: str, context: Mapping[str, Any]) -> Markup:
        """What ``Component.render_string`` does (reached through the render frame)."""
        return render_source(obj, source, context)

    def child(self, iid: str) -> Markup:
        """Render a child (the helpers ``slot``/``keyed`` reach the renderer through this)."""
        return render_instance(self, iid)


#: ``(base, cid) -> escaped event URL prefix``: a conversation's renders share it.
_PREFIXES: dict[tuple[str, str], str] = {}


class _Frame(RenderFrame):
    """A render frame whose scope is a :class:`RenderState` (for the helpers' types)."""

    __slots__ = ()
    scope: RenderState

    def __init__(self, obj: Any, iid: str, scope: RenderState) -> None:  # here, so a render stays in this module
        self.obj = obj
        self.iid = iid
        self.scope = scope


def _frame(helper: str) -> _Frame:
    return rendering(helper)  # type: ignore[return-value]


def render_instance(rs: RenderState, iid: str) -> Markup:
    """Render one instance (and, through ``slot``/``keyed``, its children)."""
    return Markup(render_html(rs, iid))


def render_html(rs: RenderState, iid: str) -> str:
    """:func:`render_instance` as the ``str`` a fragment carries (painting does not wrap it twice)."""
    rec = rs.instances[iid]
    cls = _registry.get(rec["type"]) or lookup(rec["type"])  # lookup() raises for an unknown name
    obj = cls.__new__(cls)  # build(copy=False), inlined: renders share the stored containers
    state = dict(rec["state"])
    state[IID_KEY] = iid
    obj.__dict__ = state
    rs.rendered.append(iid)
    token = render_frame.set(_Frame(obj, iid, rs))
    try:
        if "render" in cls._stube_hooks:
            return str(Markup(cls.render(obj)))
        templates = rs.templates
        cached = templates._by_class.get(cls, False)  # for_class()'s cache, read here: once per render
        tmpl = templates.for_class(cls) if cached is False else cast("jinja2.Template | None", cached)
        if tmpl is None:
            return f'<div id="{iid}" data-stube-component="{escape(cls._stube_type)}" hidden></div>'
        env = tmpl.environment
        if tmpl.globals is not env.globals:  # not flattened (Templates._flat): Jinja's own way
            return str(templates.render(tmpl, {SELF: obj}))
        # Templates.render() inlined, and Template.render() without its copy of the globals into a
        # new dict (and of their names into a set) per render: a context only ever reads its
        # ``parent``, so the environment's dict serves uncopied (globals added later still show),
        # and ``self`` goes into the context's own variables, where a top-level ``{% set %}`` goes.
        ctx = _Context(env, env.globals, tmpl.name, tmpl.blocks)
        ctx.vars[SELF] = obj
        try:
            try:
                return env.concat(tmpl.root_render_func(ctx))
            except Exception:
                env.handle_exception()  # as Template.render does: the traceback points into the template
        except UndefinedName:
            raise  # a child's template: already located
        except jinja2.UndefinedError as exc:
            raise UndefinedName(_located(exc, tmpl)) from exc
    finally:
        render_frame.reset(token)


def render_source(obj: Component, source: str, context: Mapping[str, Any]) -> Markup:
    """Render inline ``source`` for ``obj``, the component being rendered."""
    frame = _frame("render_string")
    if frame.obj is not obj and frame.iid != obj.iid:
        raise RuntimeError("render_string() renders the component that is being rendered")
    templates = frame.scope.templates
    return templates.render(templates.from_string(source), {**context, SELF: obj})
