"""Painting: a transaction's :class:`~stube.txn.PaintPlan` becomes fragments.

Also the HTML the kernel itself makes: error banners, the page a finished
conversation shows, and the root's URL projection (one copy of it).
"""

from __future__ import annotations

import logging
import secrets
from html.parser import HTMLParser
from traceback import format_exception
from typing import Any

from markupsafe import Markup, escape

from . import conversation as cv
from . import fragments as fr
from .component import Component, _registry, build, lookup
from .context import ambient
from .errors import EffectError, error_message
from .fragments import Fragment
from .render import RenderState, Urls, event_attrs, render_html, render_instance
from .txn import Env, Txn

log = logging.getLogger("stube")

#: What a banner says when the host is not in debug mode (the exception text may hold secrets).
GENERIC_ERROR = "Something went wrong."


# -- the page --


def render_state(tx: Txn) -> RenderState:
    return RenderState(tx.instances, tx.conv["id"], _urls(tx.conv.get("base") or ""), tx.env.templates)


def _urls(base: str) -> Urls:
    urls = _URLS.get(base)
    if urls is None:
        if len(_URLS) >= 256:
            _URLS.clear()
        urls = _URLS[base] = Urls(base)
    return urls


#: ``base -> Urls`` (a handful per process: the prefixes the app is mounted at).
_URLS: dict[str, Urls] = {}


def paint(tx: Txn) -> list[Fragment]:
    """Render what changed: the whole page if the top frame changed, else each dirty instance."""
    plan = tx.plan
    conv = tx.conv
    if conv.get("ended"):
        return [*plan.extras, Fragment(fr.CLOSE, target=tx.cid, html=ended_html(tx))]
    if not tx.stack:
        return list(plan.extras)
    top = tx.stack[-1]
    if conv.get("painted") != top:
        return _new_page(tx, render_state(tx), top)
    instances, banners = tx.instances, plan.banners
    wanted = plan.auto if not plan.forced and not plan.own else plan.wanted()  # the common case, inlined
    render = [iid for iid in wanted if iid in instances and iid not in banners and cv.displayed(conv, iid)]
    if len(render) > 1:  # one instance has no other to sit inside
        chosen = set(render)
        render = [iid for iid in render if not any(a in chosen for a in tx.ancestors(iid))]
    base = conv.get("base") or ""
    rs = RenderState(instances, conv["id"], _URLS.get(base) or _urls(base), tx.env.templates)  # render_state()
    if plan.placed:
        out, filled = _placed(tx, rs, covered=set(render))
    else:
        out, filled = [], set()
    for iid in render:
        if not filled or not _inside(tx, iid, filled):
            out.append(Fragment(fr.MORPH, target=iid, html=render_html(rs, iid), source=iid))
    if banners:
        out.extend(b for b in banners.values() if cv.displayed(conv, b.target))
    out.extend(plan.extras)
    return out


def render_page(conv: dict[str, Any], env: Env) -> Markup:
    """The top frame's full HTML (what the conversation's container shows); a banner if it fails."""
    iid = conv["stack"][-1] if conv["stack"] else None
    if iid is None:
        return Markup("")
    with ambient(env.app, conv.get("principal"), conv["id"]):
        rs = RenderState(conv["instances"], conv["id"], Urls(conv.get("base") or ""), env.templates)
        try:
            return render_instance(rs, iid)
        except Exception as exc:
            return Markup(error_banner(conv["id"], iid, "render", exc, debug=env.debug,
                                       actions=recovery(conv, iid, "render")))


def _new_page(tx: Txn, rs: RenderState, top: str) -> list[Fragment]:
    """A new top frame: one PAGE fragment (or its banner), then other banners and extras."""
    plan = tx.plan
    banner = plan.banners.get(top)
    html = banner.html if banner else render_instance(rs, top)
    out = [Fragment(fr.PAGE, target=tx.cid, html=str(html), source=top)]
    tx.set_top("painted", top)
    out.extend(b for iid, b in plan.banners.items() if iid != top and tx.displayed(iid))
    out.extend(plan.extras)
    return out


def _placed(tx: Txn, rs: RenderState, covered: set[str]) -> tuple[list[Fragment], set[str]]:
    """The structural fragments a re-render does not cover, filled; and the instances they filled.

    Instances whose whole markup already went out with a structural fragment (a
    keyed insert, a slot swap): what their own ``start()`` did inside them is in
    that markup.
    """
    out: list[Fragment] = []
    filled: set[str] = set()
    for frag, fill in tx.plan.placed:
        source = frag.source
        if source in covered or any(a in covered for a in tx.ancestors(source)):
            continue
        if source not in tx.instances or not tx.displayed(source) or _inside(tx, source, filled):
            continue
        if frag.kind == fr.REMOVE and frag.target in tx.undo_i and tx.undo_i[frag.target] is None:
            continue  # created and removed within this step: its insert was dropped, it never showed
        if fill is not None:
            if fill not in tx.instances:
                continue
            frag.html = render_html(rs, fill)
            filled.add(fill)
        out.append(frag)
    return out, filled


def _inside(tx: Txn, iid: str, filled: set[str]) -> bool:
    return iid in filled or any(a in filled for a in tx.ancestors(iid))


def ended_html(tx: Txn) -> str:
    """What a finished conversation shows (``stube/ended.html``); ``""`` lets the host render it."""
    conv = tx.conv
    try:
        return tx.env.templates.get("stube/ended.html").render(
            restart=Urls(conv.get("base") or "").page(conv.get("mount") or "/"), result=conv.get("result"))
    except Exception:
        log.exception("stube/ended.html failed to render cid=%s", tx.cid)
        return ""


# -- the root URL --


def url_of(cls: type[Component], obj: Component) -> tuple[str, str | None]:
    """``(mode, url)`` from the root's ``url()`` hook, checked."""
    value = cls.url(obj)
    if value is None:
        return "replace", None
    if isinstance(value, str):
        return "replace", value
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] in ("push", "replace") \
            and isinstance(value[1], str):
        return value[0], value[1]
    raise EffectError(f"{cls.__qualname__}.url() returned {value!r}; return a str, ('push', url), "
                      "('replace', url) or None")


def root_url(tx: Txn) -> tuple[str, str | None] | None:
    """The root's URL projection ``(mode, url)``; ``None`` when there is no root or no ``url()`` hook."""
    if not tx.stack:
        return None
    root = tx.stack[0]
    cls = tx.cls_of(root)
    if "url" not in cls._stube_hooks:
        return None
    return url_of(cls, build(cls, tx.instances[root]["state"], root, copy=False))


def project_url(tx: Txn) -> None:
    """Sync ``last_url`` with the root's projection; a move tells the browser (unless ``history()`` did)."""
    if not tx.stack:  # root_url(), inlined: every event asks, few roots have a url() hook
        return
    root = tx.stack[0]
    name = tx.instances[root]["type"]
    cls = _registry.get(name) or lookup(name)  # cls_of(), inlined
    if "url" not in cls._stube_hooks:
        return
    mode, url = url_of(cls, build(cls, tx.instances[root]["state"], root, copy=False))
    if url is None or url == tx.conv.get("last_url"):
        return
    tx.set_top("last_url", url)
    tx.history(url, mode)


# -- browser history entries (backtrack) --


def step_address(conv: dict[str, Any], step: int | None = None) -> str:
    """The address naming ``conv`` at a step: ``<mount>?cv=<cid>&step=<n>`` (a GET renders that step)."""
    key = (conv.get("base") or "", conv.get("mount") or "/")
    page = _PAGES.get(key) or _page(key)
    return f"{page}?cv={conv['id']}&step={cv.step_of(conv) if step is None else step}"


def _page(key: tuple[str, str]) -> str:
    if len(_PAGES) >= 256:
        _PAGES.clear()
    page = _PAGES[key] = Urls(key[0]).page(key[1])
    return page


#: ``(base, mount) -> the page's path`` (``Urls.page`` without ``?cv=``): built once per mount, not per event.
_PAGES: dict[tuple[str, str], str] = {}


def step_fragment(conv: dict[str, Any]) -> Fragment:
    """A ``STEP`` fragment that makes the page's history entry name where ``conv`` is now."""
    url = step_address(conv)
    if conv["stack"] and "url" in lookup(conv["instances"][conv["stack"][0]]["type"])._stube_hooks:
        url = conv.get("last_url") or ""
    return Fragment(fr.STEP, target=conv["id"], html=url, mode="replace", step=cv.step_of(conv),
                    version=conv.get("version", 0))


def step_history(tx: Txn, conv: dict[str, Any], fragments: list[Fragment]) -> None:
    """Append this fold's ``STEP`` fragment: a new top frame pushes a history entry, other steps replace.

    A root with ``url()`` keeps its projection as the address (its ``HISTORY``
    fragment pushes when the top frame changed) and an explicit ``history()``
    effect wins; then the ``STEP`` fragment only names the step (empty ``html``).
    """
    base = tx.base
    if conv is base or conv.get("ended") or not conv["stack"]:
        return
    step = conv.get("step", 0)  # cv.step_of(), inlined (this runs on every event of a backtracking app)
    step = step if isinstance(step, int) else 0
    before = base.get("step", 0)
    if step == (before if isinstance(before, int) else 0):
        return
    moved = not tx.rewound and conv["stack"][-1:] != base["stack"][-1:]
    url = ""
    if not tx.plan.explicit_history:
        name = conv["instances"][conv["stack"][0]]["type"]
        if "url" in (_registry.get(name) or lookup(name))._stube_hooks:  # tx.cls_of(), inlined
            projected = [f for f in fragments if f.kind == fr.HISTORY]
            if projected and moved:
                projected[-1].mode = "push"
            elif moved and conv.get("last_url"):
                fragments.append(Fragment(fr.HISTORY, html=conv["last_url"], mode="push"))
        else:
            key = (conv.get("base") or "", conv.get("mount") or "/")  # step_address(), inlined
            url = f"{_PAGES.get(key) or _page(key)}?cv={conv['id']}&step={step}"
    fragments.append(Fragment(fr.STEP, target=conv["id"], html=url, mode="push" if moved else "replace",
                              step=step, version=conv.get("version", 0)))


# -- banners --


def new_error_id() -> str:
    """A short id that ties a banner to its log line."""
    return secrets.token_hex(4)


#: The events the kernel itself answers, posted by the buttons of a top frame's error banner:
#: "Dismiss" repaints the frame's last committed state, "Start again" replaces the stack by a
#: fresh root built from the conversation's ``root_spec``. ``_`` names can never be ``@event``s.
DISMISS = "_stube_dismiss"
RESTART = "_stube_restart"
BANNER_EVENTS = frozenset({DISMISS, RESTART})

#: Phases whose banner cannot be dismissed: the frame's last good render is what failed, or was never made.
_NOT_DISMISSABLE = frozenset({"start", "render", "init"})


def banner_html(cid: str, iid: str, phase: str, message: str, error_id: str | None = None, *,
                actions: str = "", trace: str = "") -> str:
    """The error banner that stands in for instance ``iid``; ``actions`` is its way on (markup).

    ``trace`` (debug only) is the exception's traceback, folded away under the message.
    """
    ref = f' <code class="stube-error-id">error {error_id}</code>' if error_id else ""
    details = (f'<details class="stube-error-trace"><summary>Traceback</summary><pre>{escape(trace)}</pre></details>'
               if trace else "")
    return (
        f'<div id="{iid}" class="stube-error" role="alert" data-stube-error="true">'
        f"<!-- stube error: cid={cid} iid={iid} phase={phase} -->"
        f'<strong class="stube-error-title">Component error</strong> '
        f'<span class="stube-error-message">{escape(message)}</span>{ref}{details}{actions}</div>'
    )


def recovery(conv: dict[str, Any], iid: str, phase: str) -> str:
    """The buttons of ``iid``'s banner, when the whole page is that banner (``iid`` is the top frame).

    A plain ``<form method="post">`` with ``on()``-style buttons, so they
    work with and without JavaScript. A conversation that could not even be
    built (phase ``init``) offers a link to the page instead.
    """
    urls = Urls(conv.get("base") or "")
    if phase == "init":
        href = urls.page(conv.get("mount") or "/")
        return f' <p class="stube-error-actions"><a class="stube-button" href="{escape(href)}">Reload</a></p>'
    stack = conv["stack"]
    if not stack or stack[-1] != iid:
        return ""  # a child's banner: the rest of the page still works
    buttons = []
    if phase not in _NOT_DISMISSABLE:
        buttons.append(("Dismiss", DISMISS))
    if conv.get("root_spec") is not None:
        buttons.append(("Start again", RESTART))
    if not buttons:
        return ""
    html = "".join(f'<button class="stube-button" {event_attrs(urls.event(conv["id"], iid, name))}>{label}</button>'
                   for label, name in buttons)
    return f'<form class="stube-error-actions" method="post">{html}</form>'


def error_banner(cid: str, iid: str, phase: str, error: Any, *, debug: bool, traceback: bool = True,
                 actions: str = "") -> str:
    """Log ``error`` with a new error id and return its banner.

    The banner shows the error text (and its traceback) only when ``debug``;
    otherwise a generic message and the id, which also appears in the log line.
    """
    error_id = new_error_id()
    message = error_message(error)
    exc_info = error if traceback and isinstance(error, BaseException) else None
    log.error("stube component error cid=%s iid=%s phase=%s error=%s: %s", cid, iid, phase, error_id, message,
              exc_info=exc_info)
    if not debug:
        return banner_html(cid, iid, phase, GENERIC_ERROR, error_id, actions=actions)
    trace = "".join(format_exception(error)) if isinstance(error, BaseException) else ""
    return banner_html(cid, iid, phase, message, error_id, actions=actions, trace=trace)


def failure(conv: dict[str, Any], iid: str, error: BaseException, phase: str, *, debug: bool) -> Fragment:
    """The banner of a failed fold: the whole page when ``iid`` is a top frame not yet shown."""
    html = error_banner(conv["id"], iid, phase, error, debug=debug, actions=recovery(conv, iid, phase))
    stack = conv["stack"]
    if phase == "init" or (stack and stack[-1] == iid and conv.get("painted") != iid):
        return Fragment(fr.PAGE, target=conv["id"], html=html, source=iid)
    return Fragment(fr.ERROR, target=iid, html=html, source=iid)


def banner(tx: Txn, iid: str, error: Any, phase: str) -> None:
    """Show an error banner in place of ``iid`` when this step paints."""
    html = error_banner(tx.cid, iid, phase, error, debug=tx.env.debug, traceback=False,
                        actions=recovery(tx.conv, iid, phase))
    tx.plan.banner(iid, Fragment(fr.ERROR, target=iid, html=html, source=iid))


# -- patch targets --


class _FirstTag(HTMLParser):
    """The attributes of the first start tag (a real parser: quoted values may hold anything)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.attrs is None:
            self.attrs = dict(attrs)

    handle_startendtag = handle_starttag


def patch_target(html: str) -> str | None:
    """The id of the top element of ``patch()`` HTML (``None`` when it has none)."""
    if not html.lstrip().startswith("<"):
        return None
    parser = _FirstTag()
    parser.feed(html)
    parser.close()
    return (parser.attrs or {}).get("id") or None
