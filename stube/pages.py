"""Every HTML shell stube serves around a conversation: head, scripts, widget, page, stale, ended.

Also the refusals that carry such a page: gone (410), not saved and shutting down (503).

:class:`Pages` is built once per app (templates, static folders, asset
versions); :meth:`Pages.at` gives a :class:`Shell` bound to one prefix, so a
request's :class:`~stube.render.Urls` is chosen once instead of being handed
to every helper.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from . import conversation as cv
from . import wire
from .component import lookup
from .render import Templates, Urls
from .responses import Refused

_ASSET_PATH = re.compile(r"[A-Za-z0-9_./-]+")
_SCRIPTS = ("htmx/htmx.min.js", "htmx/hx-sse.min.js", "stube.js")


class Pages:
    """The app-wide half: templates, the static folders and the asset versions they hash to."""

    def __init__(self, templates: Templates, static_dirs: Sequence[Path], title: str, *, debug: bool = False,
                 backtrack: bool = False) -> None:
        self.templates = templates
        #: Pages name their conversation's step in their address and history entries (``Stube(backtrack=)``).
        self.backtrack = backtrack
        #: Debug pages say so (stube.js then shows failure details) and offer the inspector.
        self.debug = debug
        self.static_dirs = list(static_dirs)
        self.title = title
        self.versions: dict[str, str] = {}
        self._static = [StaticFiles(directory=str(d), check_dir=False) for d in self.static_dirs]

    def at(self, base: str) -> Shell:
        """The shells for an app mounted at ``base`` (a request's ``root_path``, or an embed prefix)."""
        return Shell(self, Urls(base))

    def version(self, path: str) -> str:
        """A content hash of a static asset (cached; ``"0"`` when no folder has it)."""
        version = self.versions.get(path)
        if version is None:
            for folder in self.static_dirs:
                f = folder / path
                if f.is_file():
                    version = hashlib.sha256(f.read_bytes()).hexdigest()[:12]
                    break
            else:
                version = "0"
            self.versions[path] = version
        return version

    async def asset(self, request: Request) -> Response:
        """A static file from the first folder that has it; versioned URLs are cached for a year."""
        path = request.path_params["path"]
        if not _ASSET_PATH.fullmatch(path) or any(p in ("", ".", "..") for p in path.split("/")):
            raise Refused(400, "invalid asset path")
        for static in self._static:
            try:
                response = await static.get_response(path, request.scope)
            except Exception:
                continue
            if response.status_code in (200, 304):
                immutable = request.query_params.get("v") == self.versions.get(path)
                response.headers["Cache-Control"] = (
                    "public, max-age=31536000, immutable" if immutable else "public, max-age=3600")
                return response
        raise Refused(404, "not found")

    def ended(self, conv: dict[str, Any]) -> str:
        """What a finished conversation shows: its result and a way to start again."""
        urls = Urls(conv.get("base") or "")
        return self.templates.get("stube/ended.html").render(
            restart=urls.page(conv.get("mount") or "/"), result=conv.get("result"))

    def step_gone(self, conv: dict[str, Any]) -> str:
        """The notice above a page whose address named a step the conversation no longer has."""
        return self.templates.get("stube/step_gone.html").render(limit=cv.history_limit(conv))

    def stale(self, reload: str) -> str:
        """The "this page expired" fragment, its Reload link going to ``reload``."""
        return self.templates.get("stube/stale.html").render(reload=reload)

    def gone(self, request: Request, cid: str) -> Refused:
        """410: the conversation is gone; the answer asks the user to reload."""
        html = self.stale(reload_url(request))
        if request.headers.get("hx-request") == "true":
            return Refused(410, f"conversation {cid} is gone", html=wire.closing(cid, html))
        page = self.at(request.scope.get("root_path", "")).page(Markup(html), "stube")
        return Refused(410, f"conversation {cid} is gone", html=page)

    def title_for(self, mount_title: str | None, conv: dict[str, Any]) -> str:
        """The mount's title, else the root component's ``title``, else the app's."""
        if mount_title:
            return mount_title
        if conv["stack"]:
            cls = lookup(conv["instances"][conv["stack"][0]]["type"])
            title = cls.__dict__.get("title")
            if isinstance(title, str):
                return title
        return self.title


@dataclass(slots=True)
class Embedded:
    """A conversation minted for a host page.

    Put ``head`` in the host page's ``<head>``, ``html`` where the widget goes and
    ``scripts`` at the end of ``<body>`` (once per page, however many widgets).

    Call :meth:`apply` on the host's response so a new session cookie reaches the browser.
    """

    html: Markup
    head: Markup
    scripts: Markup
    cid: str
    _cookie: Callable[[Response], None] | None = None

    def apply(self, response: Response) -> Response:
        if self._cookie is not None:
            self._cookie(response)
        return response


def prefix_for(request: Request, app: object) -> str:
    """Where ``app`` is mounted in the host serving ``request``."""
    host = request.scope.get("app")
    for route in getattr(getattr(host, "router", None), "routes", []):
        if getattr(route, "app", None) is app:
            return str(request.scope.get("root_path", "")) + str(route.path)
    return str(request.scope.get("root_path", ""))


def reload_url(request: Request) -> str:
    """Where "Reload" goes: the page the browser shows (htmx tells us, or the Referer), if it is ours.

    Only an ``http``/``https`` URL on this request's host; anything else falls back to the prefix.
    """
    for header in ("hx-current-url", "referer"):
        url = URL(request.headers.get(header, ""))
        if url.scheme in ("http", "https") and url.netloc == request.url.netloc:
            return str(url)
    return str(request.scope.get("root_path") or "") + "/"


def not_saved(request: Request) -> Refused:
    """A save that failed is never acknowledged: 503 and ``Retry-After``; nothing changed.

    htmx pages show it as stube.js's notice beside the component; a page without
    JavaScript gets a short page with a way back.
    """
    text = "Not saved: the server could not store this change. Nothing changed; try again in a moment."
    html = None
    if request.headers.get("hx-request") != "true":
        back = escape(reload_url(request))
        html = (f'<!doctype html><meta charset="utf-8"><title>Not saved</title>'
                f'<p role="alert">{escape(text)}</p><p><a href="{back}">Back to the page</a></p>')
    return Refused(503, text, html=html, headers={"Retry-After": "2"})


def shutting_down() -> Refused:
    """503 while the app shuts down: a new page or stream is refused, the browser retries."""
    return Refused(503, "stube is shutting down; try again in a moment.", headers={"Retry-After": "5"})


class Shell:
    """The page shells for one prefix."""

    __slots__ = ("pages", "urls")

    def __init__(self, pages: Pages, urls: Urls) -> None:
        self.pages = pages
        self.urls = urls

    def asset_url(self, path: str) -> str:
        return f"{self.urls.static(path)}?v={self.pages.version(path)}"

    def head(self) -> Markup:
        """The ``<head>`` tags a page with stube widgets needs (htmx config, stylesheet)."""
        config = json.dumps({"noSwap": [204, 304, "4xx", "5xx"], "history": "reload"})
        return Markup(
            f'<meta name="htmx-config" content="{escape(config)}">\n'
            f'<link rel="stylesheet" href="{escape(self.asset_url("stube.css"))}">'
        )

    def scripts(self) -> Markup:
        """The scripts, for the end of ``<body>``.

        Plain (not deferred) scripts run in order while the document is still
        loading, so htmx initialises only after its SSE extension is registered.
        """
        return Markup("\n".join(f'<script src="{escape(self.asset_url(path))}"></script>' for path in _SCRIPTS))

    def widget(self, conv: dict[str, Any], body: str, *, own_url: bool = True, fresh: bool = False) -> Markup:
        """The conversation's container: its body, its SSE stream, the URL the address bar shows.

        ``fresh``: the address does not name the conversation yet (a new visit); with
        ``backtrack`` a browser without JavaScript is sent on to the step's address, so
        that its Back button comes back to this step instead of starting afresh.
        """
        cid = conv["id"]
        page_id = secrets.token_urlsafe(8)
        noscript = address = ""
        root_cls = lookup(conv["instances"][conv["stack"][0]]["type"]) if conv["stack"] else None
        if not own_url:
            url = ""
        elif root_cls is not None and "url" in root_cls._stube_hooks and conv.get("last_url"):
            url = conv["last_url"]
        else:
            url = self.urls.page(conv.get("mount") or "/", cid)
            if self.pages.backtrack:
                address = f"{url}&step={cv.step_of(conv)}"
                noscript = address if fresh and not (root_cls is not None and "url" in root_cls._stube_hooks) else ""
        step = cv.step_of(conv) if self.pages.backtrack and own_url else None
        sse = f"{self.urls.sse(cid)}?page={page_id}&v={conv.get('version', 0)}"
        return Markup(self.pages.templates.get("stube/widget.html").render(
            cid=cid, body=Markup(body), url=url, page_id=page_id, sse_url=sse, step=step,
            step_url=f"{self.urls.base}/_stube/step/{cid}", noscript_url=noscript,
            step_address=address,
            headers=json.dumps({"X-Stube-Page": page_id}), version=conv.get("version", 0),
            inspect_url=self.urls.base + "/_stube/inspect" if self.pages.debug else None,
        ))

    def page(self, widget: Markup, title: str) -> str:
        """A whole HTML document around ``widget``."""
        return self.pages.templates.get("stube/page.html").render(
            title=title, head=self.head(), scripts=self.scripts(), widget=widget)

    def conversation_page(self, conv: dict[str, Any], body: str, title: str, *, fresh: bool = False) -> str:
        return self.page(self.widget(conv, body, fresh=fresh), title)
