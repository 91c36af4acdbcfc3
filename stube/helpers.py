"""The helpers every template gets: ``root``, ``on``, ``slot``, ``keyed``, ``back_button``, ...

They read the instance being rendered from the render frame (``stube.context``),
so they work the same in templates and in Python ``render()`` methods. A child
is rendered through the frame's scope (``scope.child``), so this module does not
import the renderer (``stube.render``) that installs it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape

from .component import Component
from .context import render_frame, rendering
from .urls import Urls


class _OnCache(Protocol):
    on_cache: dict[Any, tuple[str, str]]


class Scope(Protocol):
    """What the helpers read from one render (``stube.render.RenderState``)."""

    @property
    def instances(self) -> Mapping[str, dict[str, Any]]: ...
    @property
    def cid(self) -> str: ...
    @property
    def urls(self) -> Urls: ...
    @property
    def templates(self) -> _OnCache: ...
    @property
    def event_prefix(self) -> str: ...
    def child(self, iid: str) -> Markup: ...


class _Frame(Protocol):
    obj: Any
    iid: str
    scope: Scope


def _frame(helper: str) -> _Frame:
    return rendering(helper)


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
    frame: _Frame | None = render_frame.get()  # every root() has one
    if frame is None:
        frame = _frame("root")
    cls = type(frame.obj)
    if not attributes:  # the common ``root()``: the class's part is built once
        tail = _ROOT_TAILS.get(cls)
        if tail is None:
            if len(_ROOT_TAILS) >= 4096:
                _ROOT_TAILS.clear()
            tail = f'data-stube-component="{escape(cls._stube_type)}" class="{escape(cls._stube_css)}"'
            _ROOT_TAILS[cls] = tail
        return Markup(f'id="{frame.iid}" {tail}')
    extra_class = attributes.pop("class", None) or attributes.pop("class_", None)
    attributes.pop("id", None)
    css = cls._stube_css if not extra_class else f"{cls._stube_css} {extra_class}"
    head = f'id="{frame.iid}" data-stube-component="{escape(cls._stube_type)}" class="{escape(css)}"'
    rest = attrs(attributes) if attributes else ""
    return Markup(f"{head} {rest}" if rest else head)


#: ``class -> 'data-stube-component="..." class="..."'``, what ``root()`` renders after the id.
_ROOT_TAILS: dict[type, str] = {}


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
    frame: _Frame | None = render_frame.get()
    if frame is None:
        frame = _frame("on")
    rs = frame.scope
    iid = frame.iid  # the kernel's own id: safe in HTML as it is
    if target is not None:
        aimed = target.iid if isinstance(target, Component) else str(target)
        if not aimed:
            raise ValueError("on(..., target=) needs a live instance or an instance id")
        iid = str(escape(aimed))
    # The same attributes are rendered again on every repaint; remember them (without the URL, so
    # one entry serves every conversation) when the payload is plain scalars. Types are part of the
    # key: 1 == 1.0 == True, yet they render differently.
    cache = rs.templates.on_cache
    key: Any = None
    parts: tuple[str, str] | None = None
    if not payload and trigger is None and confirm is None:  # the common ``on("name")``
        key = event  # the name alone (checked as an identifier before it is cached)
        parts = cache.get(key)
    elif all(type(v) in _PLAIN for v in payload.values()):
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
    url = f"{rs.event_prefix}{iid}/{event}"  # Urls.event(), escaped; ``event`` is an identifier by now
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
    return frame.scope.child(child)


def has_slot(name: str) -> bool:
    frame = _frame("has_slot")
    return name in frame.scope.instances[frame.iid].get("children", {})


def keyed(slot: str, tag: str = "div", **attributes: Any) -> Markup:
    """Render a keyed child list (``set_keyed_children``) inside its container element."""
    frame = _frame("keyed")
    return keyed_container(frame.scope, frame.iid, slot, tag, attributes)


def keyed_container(rs: Scope, iid: str, slot: str, tag: str = "div",
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
            parts.append(rs.child(iids[key]))
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
