"""Fragments on the wire: htmx 4 partials for event responses and SSE pushes.

Every fragment becomes one ``<hx-partial>`` naming its target and swap style,
so a response can update several places at once and never relies on the
triggering element's own target. Instances morph by id (``outerMorph``), so
focus and typed input survive; a new frame morphs into the conversation's
container (``innerMorph``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote

from markupsafe import escape

from . import fragments as fr
from .fragments import Fragment

_INSERT = {"append": ("beforeend", True), "prepend": ("afterbegin", True), "after": ("afterend", False)}


def _partial(target: str, swap: str, html: str) -> str:
    return f'<hx-partial hx-target="#{_id(target)}" hx-swap="{swap}">{html}</hx-partial>'


#: What the ids stube makes look like (``ix-…``, ``cv-…``): nothing in them needs escaping.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def _id(target: str) -> str:
    """``target`` fit for an attribute: as it is when plain (one regex call, not markupsafe's escape)."""
    return target if _PLAIN_ID.fullmatch(target) else str(escape(target))


def script_tag(js: str) -> str:
    """A script that runs once when swapped in and then removes itself."""
    body = js.replace("</", "<\\/")
    return f"<script>{body};document.currentScript&&document.currentScript.remove()</script>"


def history_script(url: str, push: bool) -> str:
    method = "pushState" if push else "replaceState"
    return script_tag(f"history.{method}(null,'',{json.dumps(url)})")


def partials(fragments: Iterable[Fragment], *, cid: str, history_in_headers: bool = True) -> str:
    """htmx HTML for a list of fragments.

    History fragments are left to response headers unless ``history_in_headers``
    is false (SSE has no headers), then they become small scripts.
    A ``CLOSE`` fragment shows its own HTML (the kernel renders ``stube/ended.html``
    into it); one without HTML, built by hand or when that template failed
    (logged), empties the container and still drops the stream.
    """
    out: list[str] = []
    for f in fragments:
        kind = f.kind
        if kind == fr.MORPH or kind == fr.ERROR or kind == fr.PATCH:  # _partial(), inlined: the common one
            out.append(f'<hx-partial hx-target="#{_id(f.target)}" hx-swap="outerMorph">{f.html}</hx-partial>')
        elif kind == fr.PAGE:
            out.append(_partial(f.target, "innerMorph", f.html))
        elif kind == fr.INSERT:
            swap, _ = _INSERT[f.mode]
            out.append(_partial(f.target, swap, f.html))
        elif kind == fr.REMOVE:
            out.append(_partial(f.target, "delete", ""))
        elif kind == fr.SCRIPT:
            out.append(f'<hx-partial hx-target="body" hx-swap="beforeend">{script_tag(f.html)}</hx-partial>')
        elif kind == fr.HISTORY:
            if not history_in_headers:
                out.append('<hx-partial hx-target="body" hx-swap="beforeend">'
                           f'{history_script(f.html, f.mode == "push")}</hx-partial>')
        elif kind == fr.STEP:
            if not history_in_headers:  # another page of the conversation: it follows, never pushes
                out.append('<hx-partial hx-target="body" hx-swap="beforeend">'
                           f'{step_script(f, "replace")}</hx-partial>')
        elif kind == fr.CLOSE:
            out.append(closing(cid, f.html))
    return "".join(out)


def closing(cid: str, html: str) -> str:
    """Show ``html`` in place of the conversation and drop its stream (it ended, or is stale)."""
    return _partial(cid, "innerHTML", html) + _partial(f"{cid}-sse", "delete", "")


def step_script(f: Fragment, mode: str) -> str:
    """stube.js records the step (``stube.step``) in the page's history entry (SSE has no headers)."""
    args = json.dumps([f.target, mode, f.step, f.version, f.html])
    return script_tag(f"window.stube&&stube.step.apply(null,{args})")


def fold_header(cid: str, since: int, to: int, step: Fragment | None = None) -> str:
    """``X-Stube``: ``<cid> <from> <to>``, then ``<push|replace> <label> [<address>]`` when the step moved.

    stube.js applies an answer only once the page shows version ``from`` (its
    stream may deliver other folds first), then pushes or replaces the page's
    history entry for the ``STEP`` fragment's label (the address empty: keep the
    URL). One header, not four, as every header costs the server time on every
    event (about 2 µs in uvicorn).
    """
    if step is None:
        return f"{cid} {since} {to}"
    return f"{cid} {since} {to} {step.mode} {step.step} {header_url(step.html)}".rstrip()


def history_headers(fragments: Iterable[Fragment]) -> tuple[dict[str, str], Fragment | None]:
    """``HX-Push-Url`` / ``HX-Replace-Url`` for the last history fragment, and the ``STEP`` fragment.

    The step travels in ``X-Stube`` (:func:`fold_header`).
    """
    last = step = None
    for f in fragments:
        if f.kind == fr.HISTORY:
            last = f
        elif f.kind == fr.STEP:
            step = f
    if last is None:
        return {}, step
    return {"HX-Push-Url" if last.mode == "push" else "HX-Replace-Url": header_url(last.html)}, step


#: What may stay literal in a URL header (RedirectResponse's set); the rest is percent-encoded.
_URL_SAFE = ":/%#?=@[]!$&'()*+,;~"


def header_url(url: str) -> str:
    """A URL fit for a response header: non-ASCII text encoded, CR/LF impossible."""
    if _HEADER_SAFE.fullmatch(url):  # what quote() would leave as it is (a step's address, every event)
        return url
    return quote(url, safe=_URL_SAFE)


#: Only characters :func:`~urllib.parse.quote` keeps with ``safe=_URL_SAFE``.
_HEADER_SAFE = re.compile(r"[A-Za-z0-9_.\-~:/%#?=@\[\]!$&'()*+,;]*")


def sse_message(data: str, *, event_id: int | str | None = None) -> bytes:
    """One server-sent event carrying ``data`` (split into ``data:`` lines)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    for line in _LINES.split(data):
        lines.append(f"data: {line}")
    return ("\n".join(lines) + "\n\n").encode()


KEEPALIVE = b": keepalive\n\n"
#: SSE ends lines at CR, LF or CRLF only (str.splitlines would also split at U+2028 and friends).
_LINES = re.compile(r"\r\n|\r|\n")
