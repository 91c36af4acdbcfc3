"""Rendering components with Jinja2, and the helpers every template gets.

One :class:`Templates` object owns a Jinja2 environment (autoescape on) that
searches the application's template folders first, then stube's own. The
helpers (``root``, ``on``, ``slot``, ...) read the instance being rendered
from a context variable, so they work the same in templates and in Python
``render()`` methods.
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, urlencode

import jinja2
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup, escape

from . import context as _context
from .component import IID_KEY, Component, _registry, lookup
from .context import RenderFrame, render_frame, rendering

PACKAGE_DIR = Path(__file__).resolve().parent


def _asset_dir(name: str) -> Path:
    """``templates``/``static`` inside an installed wheel, or beside the package in a checkout."""
    inside = PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    return PACKAGE_DIR.parent / name


TEMPLATES_DIR = _asset_dir("templates")
STATIC_DIR = _asset_dir("static")

#: The name templates use for the component (``self`` is reserved by Jinja2).
SELF = "stube_self"


class SelfIsComponent(Extension):
    """Let templates say ``{{ self.n }}``: Jinja2 reserves ``self``, so rename it at lex time."""

    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        tokens = list(stream)  # compile time only: a template's tokens fit in memory
        for i, token in enumerate(tokens):
            # ``self`` as a name; not an attribute (``x.self``) nor a keyword argument (``f(self=1)``).
            if (token.type == "name" and token.value == "self"
                    and not (i and tokens[i - 1].type == "dot")
                    and not (i + 1 < len(tokens) and tokens[i + 1].type == "assign"
                             and i and tokens[i - 1].type in ("lparen", "comma"))):
                yield Token(token.lineno, "name", SELF)
            else:
                yield token


class Urls:
    """Every URL stube renders, under the prefix the app is mounted at."""

    __slots__ = ("base",)

    def __init__(self, base: str = "") -> None:
        self.base = base.rstrip("/")

    def event(self, cid: str, iid: str, name: str) -> str:
        return f"{self.base}/_stube/event/{cid}/{iid}/{name}"

    def back(self, cid: str) -> str:
        return f"{self.base}/_stube/back/{cid}"

    def sse(self, cid: str) -> str:
        return f"{self.base}/_stube/sse/{cid}"

    def static(self, path: str) -> str:
        return f"{self.base}/_stube/static/{path}"

    def page(self, mount: str, cid: str | None = None) -> str:
        path = self.base + (mount if mount.startswith("/") else "/" + mount)
        if not path:
            path = "/"
        return f"{path}?cv={cid}" if cid else path


def resolve_folders(folders: Iterable[str | Path], base: Path) -> list[Path]:
    """``folders`` with the relative ones taken against ``base`` (absolute ones as given).

    Flask's ``root_path`` rule: ``templates=["templates"]`` means the folder
    beside the module that creates the app, whatever the working directory.
    """
    out = []
    for folder in folders:
        path = Path(folder).expanduser()
        out.append(path if path.is_absolute() else base / path)
    return out


class MissingTemplate(jinja2.TemplateNotFound):
    """A template name found in none of the folders; the message lists every folder searched."""

    def __init__(self, name: str, folders: Sequence[Path]) -> None:
        where = ", ".join(str(f) for f in folders)
        super().__init__(name, f"template {name!r} not found in: {where}")
        self.folders = list(folders)


class Templates:
    """A Jinja2 environment: the app's folders first, then stube's own templates.

    ``strict`` makes an undefined name an error (Jinja2's ``StrictUndefined``)
    instead of an empty string, so ``{{ self.itmes }}`` fails naming the
    template, the line and the name. ``auto_reload`` re-reads a template whose
    file changed (a stat per render: for debug, not production). A missing
    template is a :class:`MissingTemplate` listing the folders searched.
    """

    def __init__(self, folders: Sequence[str | Path] = (), *, auto_reload: bool = False,
                 strict: bool = False) -> None:
        self.folders = [Path(f) for f in folders]
        #: Where templates are looked up, in order (absolute, so a message shows what the
        #: working directory made of a relative folder).
        self.searched = [f.absolute() for f in self.folders] + [TEMPLATES_DIR]
        self.auto_reload = auto_reload
        self.strict = strict
        loader = jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader([str(f) for f in self.folders]),
             jinja2.FileSystemLoader(str(TEMPLATES_DIR))]
        )
        self.env = jinja2.Environment(
            loader=loader,
            autoescape=True,
            auto_reload=auto_reload,
            extensions=[SelfIsComponent],
            undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
        )
        self.env.globals.update(
            root=root, on=on, slot=slot, has_slot=has_slot, keyed=keyed, back_button=back_button, upload=upload,
            app=_context.app, principal=_context.principal,
            conversation_id=_context.conversation_id,
        )
        self._by_class: dict[type, jinja2.Template | None] = {}
        self._by_source: dict[str, jinja2.Template] = {}
        #: ``on()`` attributes already rendered, by their inputs (see ``on``).
        self.on_cache: dict[tuple[Any, ...], tuple[str, str]] = {}

    def for_class(self, cls: type[Component]) -> jinja2.Template | None:
        tmpl = self._by_class.get(cls, False)
        if tmpl is False:
            if cls.template_string is not None:
                tmpl = self.from_string(cls.template_string)
            elif cls.template:
                tmpl = self._flat(self.get(cls.template))
            else:
                tmpl = None
            if not (self.auto_reload and cls.template_string is None):
                self._by_class[cls] = tmpl
        return tmpl  # type: ignore[return-value]

    def _flat(self, tmpl: jinja2.Template) -> jinja2.Template:
        """Let a template read the environment's globals dict directly.

        Jinja2 gives every template a ``ChainMap(own, env.globals)`` and copies
        it, key by key, into each render's context: about half the cost of
        rendering a small component. Ours have no globals of their own, so the
        plain dict is equivalent (and globals added later stay visible).
        """
        g = tmpl.globals
        if isinstance(g, ChainMap) and len(g.maps) == 2 and not g.maps[0] and g.maps[1] is self.env.globals:
            tmpl.globals = self.env.globals
        return tmpl

    def from_string(self, source: str) -> jinja2.Template:
        tmpl = self._by_source.get(source)
        if tmpl is None:
            tmpl = self._flat(self.env.from_string(source))
            if len(self._by_source) < 1024:
                self._by_source[source] = tmpl
        return tmpl

    def get(self, name: str) -> jinja2.Template:
        """The template ``name``; :class:`MissingTemplate` (listing the folders) when there is none."""
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise MissingTemplate(str(exc.name or name), self.searched) from None

    def render(self, tmpl: jinja2.Template, context: Mapping[str, Any]) -> Markup:
        """Render ``tmpl``; an undefined name is re-raised with the template and line it is on."""
        try:
            return Markup(tmpl.render(context))
        except UndefinedName:
            raise  # a child's template: already located
        except jinja2.UndefinedError as exc:
            raise UndefinedName(_located(exc, tmpl)) from exc
        except MissingTemplate:
            raise
        except jinja2.TemplateNotFound as exc:  # an {% include %} or {% extends %} of a missing name
            raise MissingTemplate(str(exc.name or exc), self.searched) from None


class UndefinedName(jinja2.UndefinedError):
    """An undefined name in a template, with the template's name and the line it is on."""


def _located(exc: jinja2.UndefinedError, tmpl: jinja2.Template) -> str:
    """``exc``'s message with the template name and line (from the rewritten traceback)."""
    filename = tmpl.filename or "<template>"
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    name = tmpl.name or "<template_string>"
    return f"{exc} (template {name!r}, line {line if line is not None else '?'})"


class RenderState:
    """What the helpers need while one conversation renders."""

    __slots__ = ("instances", "cid", "urls", "templates", "rendered")

    def __init__(self, instances: Mapping[str, dict[str, Any]], cid: str, urls: Urls, templates: Templates) -> None:
        self.instances = instances
        self.cid = cid
        self.urls = urls
        self.templates = templates
        #: Instance ids emitted by this render, in order.
        self.rendered: list[str] = []

    def render_source(self, obj: Component, source: str, context: Mapping[str, Any]) -> Markup:
        """What ``Component.render_string`` does (reached through the render frame)."""
        return render_source(obj, source, context)


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
            return Markup(cls.render(obj))
        templates = rs.templates
        cached = templates._by_class.get(cls, False)  # for_class()'s cache, read here: once per render
        tmpl = templates.for_class(cls) if cached is False else cast("jinja2.Template | None", cached)
        if tmpl is None:
            return Markup(f'<div id="{iid}" data-stube-component="{escape(cls._stube_type)}" hidden></div>')
        try:  # Templates.render(), inlined
            return Markup(tmpl.render({SELF: obj}))
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


# -- attribute helpers --------------------------------------------------------


_ATTR_NAME = re.compile(r"[A-Za-z_:@][-\w:.@]*")


def attrs(mapping: Mapping[str, Any]) -> str:
    """Render ``name="value"`` pairs: ``True`` is a bare flag, ``None``/``False`` are left out.

    ``class_`` becomes ``class``; other underscores become dashes (``data_x`` -> ``data-x``).
    """
    parts = []
    for name, value in mapping.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-") if name not in ("class_", "for_") else name[:-1]
        if not _ATTR_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an HTML attribute name")
        if value is True:
            parts.append(name)
        else:
            parts.append(f'{name}="{escape(value)}"')
    return " ".join(parts)


def root(**attributes: Any) -> Markup:
    """Attributes for a component's root element: ``id``, ``data-stube-component``, CSS class.

    ``<div {{ root(class="card") }}>`` — user classes are appended after stube's own.
    """
    frame: _Frame | None = render_frame.get()  # type: ignore[assignment]  # every root() has one
    if frame is None:
        frame = _frame("root")
    cls = type(frame.obj)
    extra_class = attributes.pop("class", None) or attributes.pop("class_", None)
    attributes.pop("id", None)
    css = cls._stube_css if not extra_class else f"{cls._stube_css} {extra_class}"
    head = f'id="{frame.iid}" data-stube-component="{escape(cls._stube_type)}" class="{escape(css)}"'
    rest = attrs(attributes) if attributes else ""
    return Markup(f"{head} {rest}" if rest else head)


def _wire_value(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return ""
    return value


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


#: Payload value types ``on()`` caches by (scalars whose type and value make the key).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_ON_CACHE_SIZE = 4096


def on(event: str, *, trigger: str | None = None, confirm: str | None = None,
       target: str | Component | None = None, **payload: Any) -> Markup:
    """htmx attributes that post ``event`` (with ``payload``) to this instance.

    ``<button {{ on("add", amount=10) }}>+10</button>`` renders ``hx-post`` to
    ``.../<cid>/<iid>/add`` with the payload in ``hx-vals``, plus
    ``formaction``/``formmethod`` so the button also works without JavaScript
    inside a ``<form>``. ``trigger=`` sets ``hx-trigger``, ``confirm=`` sets
    ``hx-confirm``, ``target=`` posts to another instance (an id or a live
    component) of this conversation.
    """
    frame: _Frame | None = render_frame.get()  # type: ignore[assignment]
    if frame is None:
        frame = _frame("on")
    iid = frame.iid
    if target is not None:
        aimed = target.iid if isinstance(target, Component) else str(target)
        if not aimed:
            raise ValueError("on(..., target=) needs a live instance or an instance id")
        iid = aimed
    # The same attributes are rendered again on every repaint; remember them (without the URL, so
    # one entry serves every conversation) when the payload is plain scalars. Types are part of the
    # key: 1 == 1.0 == True, yet they render differently.
    rs = frame.scope
    cache = rs.templates.on_cache
    key: tuple[Any, ...] | None = None
    parts: tuple[str, str] | None = None
    if all(type(v) in _PLAIN for v in payload.values()):
        key = (event, trigger, type(trigger), confirm, type(confirm), *[(k, type(v), v) for k, v in payload.items()])
        try:
            parts = cache.get(key)
        except TypeError:  # an unhashable trigger or confirm: not cached
            key = parts = None
    if parts is None:
        parts = _on_parts(event, trigger, confirm, payload)
        if key is not None:
            if len(cache) >= _ON_CACHE_SIZE:
                cache.clear()
            cache[key] = parts
    url = escape(f"{rs.urls.base}/_stube/event/{rs.cid}/{iid}/{event}")  # Urls.event()
    return Markup(f'hx-post="{url}"{parts[0]} formaction="{url}{parts[1]}" formmethod="post"')


def event_attrs(url: str, event: str | None = None) -> Markup:
    """What ``on()`` renders for an event URL without payload (the kernel's own banner buttons)."""
    name = event or url.rsplit("/", 1)[-1]
    middle, query = _on_parts(name, None, None, {})
    return Markup(f'hx-post="{escape(url)}"{middle} formaction="{escape(url)}{query}" formmethod="post"')


def _on_parts(event: str, trigger: str | None, confirm: str | None,
              payload: Mapping[str, Any]) -> tuple[str, str]:
    """What ``on()`` renders besides the URL: the attributes between, and the no-JS action's query."""
    if not event.isidentifier():
        raise ValueError(f"event names are identifiers, got {event!r}")
    middle = ""
    query = ""
    if payload:
        vals = json.dumps({k: _wire_value(v) for k, v in payload.items()}, separators=(",", ":"))
        middle += f' hx-vals="{escape(vals)}"'
        query = str(escape("?" + urlencode({k: _query_value(v) for k, v in payload.items()}, quote_via=quote)))
    if trigger:
        middle += f' hx-trigger="{escape(trigger)}"'
    if confirm:
        middle += f' hx-confirm="{escape(confirm)}"'
    return middle, query


def slot(name: str) -> Markup:
    """Render the child in slot ``name`` (eager ``children()`` or ``call_in_slot``)."""
    frame = _frame("slot")
    rec = frame.scope.instances[frame.iid]
    child = rec.get("children", {}).get(name)
    if child is None:
        raise LookupError(f"{type(frame.obj).__qualname__} has no child in slot {name!r}")
    return render_instance(frame.scope, child)


def has_slot(name: str) -> bool:
    frame = _frame("has_slot")
    return name in frame.scope.instances[frame.iid].get("children", {})


def keyed(slot: str, tag: str = "div", **attributes: Any) -> Markup:
    """Render a keyed child list (``set_keyed_children``) inside its container element."""
    frame = _frame("keyed")
    return keyed_container(frame.scope, frame.iid, slot, tag, attributes)


def keyed_container(rs: RenderState, iid: str, slot: str, tag: str = "div",
                    attributes: Mapping[str, Any] | None = None) -> Markup:
    rec = rs.instances[iid]
    group = rec.get("keyed", {}).get(slot)
    attributes = dict(attributes or {})
    extra_class = attributes.pop("class", None) or attributes.pop("class_", None)
    css = "stube-keyed" + (f" {extra_class}" if extra_class else "")
    head = f'<{tag} id="{iid}--{escape(slot)}" class="{escape(css)}"'
    rest = attrs(attributes)
    if rest:
        head += " " + rest
    parts = [head + ">"]
    if group:
        iids = group["iids"]
        for key in group["order"]:
            parts.append(render_instance(rs, iids[key]))
    parts.append(f"</{tag}>")
    return Markup("".join(parts))


def back_button(label: str = "Back", **attributes: Any) -> Markup:
    """A button that rewinds the conversation one step (conversation history, not the browser's)."""
    frame = _frame("back_button")
    url = frame.scope.urls.back(frame.scope.cid)
    extra_class = attributes.pop("class", None) or attributes.pop("class_", None)
    css = "stube-button" + (f" {extra_class}" if extra_class else "")
    rest = attrs(attributes)
    return Markup(
        f'<button class="{escape(css)}" hx-post="{escape(url)}" formaction="{escape(url)}" '
        f'formmethod="post"{" " + rest if rest else ""}>{escape(label)}</button>'
    )


def upload(event: str) -> Markup:
    """Attributes for a ``<form>`` that uploads files as ``event`` (multipart, with or without JS).

    ``<form {{ upload("received") }}><input type="file" name="file"> ...</form>``
    """
    frame = _frame("upload")
    url = frame.scope.urls.event(frame.scope.cid, frame.iid, event)
    return Markup(
        f'hx-post="{escape(url)}" hx-encoding="multipart/form-data" '
        f'action="{escape(url)}" method="post" enctype="multipart/form-data"'
    )
