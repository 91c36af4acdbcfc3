"""``Stube``: the ASGI application that serves mounted components over htmx.

::

    app = stube.Stube(secret_key=os.environ["STUBE_SECRET"], templates=["templates"])
    app.mount("/", Counter)
    # uvicorn mymodule:app   — or inside a host: host.mount("/widgets", app)

Routes (all under the prefix the app is mounted at)::

    GET  <mount>                            a page: mint (or, with ?cv=, resume) a conversation
    POST /_stube/event/<cid>/<iid>/<event>  an event (htmx partials, or 303 without htmx)
    POST /_stube/back/<cid>                 rewind one step
    GET  /_stube/sse/<cid>                  the page's server-push stream
    GET  /_stube/static/<path>              htmx, stube.js, stube.css
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.datastructures import URL, FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from . import conversation as cv
from . import kernel, wire
from .component import Component, lookup
from .errors import BadPayload, UnknownEvent
from .jsonstate import json_copy
from .kernel import Env, Event
from .payload import Raw
from .render import STATIC_DIR, Templates, Urls
from .runtime import Runtime, Settings
from .sessions import Sessions

log = logging.getLogger("stube")

Root = Component | type[Component] | Callable[[Request], Any]
_ASSET_PATH = re.compile(r"[A-Za-z0-9_./-]+")
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(slots=True)
class Mount:
    path: str
    root: Root
    title: str | None

    async def make(self, request: Request) -> Component:
        root = self.root
        if isinstance(root, Component):
            return root
        if isinstance(root, type) and issubclass(root, Component):
            return root()
        made = root(request)
        if inspect.isawaitable(made):
            made = await made
        if isinstance(made, type) and issubclass(made, Component):
            made = made()
        if not isinstance(made, Component):
            raise TypeError(f"mount factory for {self.path} returned {made!r}, not a component")
        return made


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


class Stube:
    """An ASGI application serving stube components.

    Options: ``store`` (a :class:`~stube.store.ConversationStore`; default in
    memory), ``stash`` (a stash backend or :class:`~stube.stash.Stash`),
    ``secret_key`` (signs the session cookie; default ``$STUBE_SECRET`` or a
    random key per process), ``templates`` (folders searched before stube's
    own), ``static`` (folders served under ``/_stube/static/`` before stube's
    own), ``app`` (host dependencies for ``stube.app()``), ``principal``
    (``fn(request)`` computed once per conversation), ``history_limit``,
    ``conversation_ttl`` (seconds idle before the reaper ends a conversation;
    ``None`` keeps them forever), ``max_body`` and ``max_upload`` (bytes; 413
    above), ``sse_keepalive`` (seconds).
    """

    def __init__(self, *, store: Any = None, stash: Any = None, secret_key: str | bytes | None = None,
                 templates: Sequence[str | Path] = (), static: Sequence[str | Path] = (), app: Any = None,
                 principal: Callable[[Request], Any] | None = None, history_limit: int = 50,
                 conversation_ttl: float | None = 12 * 3600.0, reaper_interval: float | None = None,
                 max_body: int = 1 << 20, max_upload: int = 10 << 20, sse_keepalive: float = 15.0,
                 title: str = "stube", debug: bool = False) -> None:
        from .store import InMemoryStore

        secret = secret_key or os.environ.get("STUBE_SECRET")
        if not secret:
            secret = secrets.token_bytes(32)
            log.warning("stube: no secret_key (or $STUBE_SECRET); sessions and conversation "
                        "ownership will not survive a restart")
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.sessions = Sessions(self.secret)
        self.templates = Templates(templates, auto_reload=debug)
        self.env = Env(self.templates, app=app, history_limit=history_limit)
        self.store = store if store is not None else InMemoryStore()
        self.stash = self._make_stash(stash)
        self.principal = principal
        self.max_body = max_body
        self.max_upload = max_upload
        self.title = title
        self.mounts: dict[str, Mount] = {}
        self.runtime = Runtime(
            env=self.env, store=self.store, stash=self.stash,
            settings=Settings(ttl=conversation_ttl, reaper_interval=reaper_interval, keepalive=sse_keepalive),
            ended_html=self._ended_html,
        )
        self._static_dirs = [Path(d) for d in static] + [STATIC_DIR]
        self._static = [StaticFiles(directory=str(d), check_dir=False) for d in self._static_dirs]
        self._asset_versions: dict[str, str] = {}
        self._start_lock = asyncio.Lock()
        self.router = Starlette(
            routes=[
                Route("/_stube/event/{cid}/{iid}/{name}", self._event, methods=["POST"]),
                Route("/_stube/back/{cid}", self._back, methods=["POST"]),
                Route("/_stube/sse/{cid}", self._sse, methods=["GET"]),
                Route("/_stube/static/{path:path}", self._asset, methods=["GET", "HEAD"]),
            ],
            lifespan=self._lifespan,
            debug=debug,
        )

    def _make_stash(self, stash: Any) -> Any:
        """A :class:`~stube.stash.Stash` over the given backend (in memory by default)."""
        from .stash import InMemoryStashStore, Stash

        if isinstance(stash, Stash):
            return stash
        return Stash(stash if stash is not None else InMemoryStashStore(), secret=self.secret)

    # -- configuration --

    def mount(self, path: str, root: Root, *, title: str | None = None) -> None:
        """Serve ``root`` at ``path``: a component class, an embed spec, a flow, or ``factory(request)``."""
        if not path.startswith("/"):
            raise ValueError(f"mount paths start with '/', got {path!r}")
        if path.startswith("/_stube"):
            raise ValueError("/_stube is reserved for stube's own routes")
        if path in self.mounts:
            raise ValueError(f"{path} is already mounted")
        if "{" in path:
            raise ValueError(f"mount paths are literal ({path!r}); read arguments from the query string "
                             "with a factory: mount(path, lambda request: Item(request.query_params['id']))")
        mount = Mount(path, root, title)
        self.mounts[path] = mount

        async def endpoint(request: Request) -> Response:
            return await self._page(request, mount)

        self.router.router.routes.append(Route(path, endpoint, methods=["GET", "HEAD"], name=path))

    # -- ASGI --

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.runtime.running:
            await self.startup()
        await self.router(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """For hosts that mount stube: ``async with stube_app.lifespan(): ...`` in the host's lifespan."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    async def startup(self) -> None:
        """Load stored conversations (once), before the first request is served."""
        async with self._start_lock:
            if not self.runtime.running and not self.runtime.shutting_down:
                await self.runtime.start()

    async def shutdown(self) -> None:
        """Graceful shutdown: new pages get 503, ``stop`` hooks run, streams close, state is saved."""
        await self.runtime.shutdown()

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to this application's subscribers of ``topic``."""
        return self.runtime.publish(topic, message)

    # -- rendering pages --

    def _urls(self, request: Request) -> Urls:
        return Urls(request.scope.get("root_path", ""))

    def asset_url(self, urls: Urls, path: str) -> str:
        version = self._asset_versions.get(path)
        if version is None:
            for folder in self._static_dirs:
                f = folder / path
                if f.is_file():
                    version = hashlib.sha256(f.read_bytes()).hexdigest()[:12]
                    break
            else:
                version = "0"
            self._asset_versions[path] = version
        return f"{urls.static(path)}?v={version}"

    def head(self, urls: Urls) -> Markup:
        """The ``<head>`` tags a page with stube widgets needs (htmx config, stylesheet)."""
        config = json.dumps({"noSwap": [204, 304, "4xx", "5xx"], "history": "reload"})
        return Markup(
            f'<meta name="htmx-config" content="{escape(config)}">\n'
            f'<link rel="stylesheet" href="{escape(self.asset_url(urls, "stube.css"))}">'
        )

    def scripts(self, urls: Urls) -> Markup:
        """The scripts, for the end of ``<body>``.

        Plain (not deferred) scripts run in order while the document is still
        loading, so htmx initialises only after its SSE extension is registered.
        """
        return Markup("\n".join(
            f'<script src="{escape(self.asset_url(urls, path))}"></script>'
            for path in ("htmx/htmx.min.js", "htmx/hx-sse.min.js", "stube.js")
        ))

    def _widget(self, conv: dict[str, Any], body: str, urls: Urls, *, own_url: bool = True) -> Markup:
        cid = conv["id"]
        page_id = secrets.token_urlsafe(8)
        root_cls = lookup(conv["instances"][conv["stack"][0]]["type"]) if conv["stack"] else None
        if not own_url:
            url = ""
        elif root_cls is not None and "url" in root_cls._stube_hooks and conv.get("last_url"):
            url = conv["last_url"]
        else:
            url = urls.page(conv.get("mount") or "/", cid)
        sse = f"{urls.sse(cid)}?page={page_id}&v={conv.get('version', 0)}"
        return Markup(self.templates.get("stube/widget.html").render(
            cid=cid, body=Markup(body), url=url, page_id=page_id, sse_url=sse,
            headers=json.dumps({"X-Stube-Page": page_id}), version=conv.get("version", 0),
        ))

    def _page_html(self, conv: dict[str, Any], body: str, urls: Urls, title: str) -> str:
        return self.templates.get("stube/page.html").render(
            title=title, head=self.head(urls), scripts=self.scripts(urls), widget=self._widget(conv, body, urls),
        )

    def _ended_html(self, conv: dict[str, Any]) -> str:
        urls = Urls(conv.get("base") or "")
        return self.templates.get("stube/ended.html").render(
            restart=urls.page(conv.get("mount") or "/"), result=conv.get("result"))

    def _title(self, mount: Mount, conv: dict[str, Any]) -> str:
        if mount.title:
            return mount.title
        if conv["stack"]:
            cls = lookup(conv["instances"][conv["stack"][0]]["type"])
            title = cls.__dict__.get("title")
            if isinstance(title, str):
                return title
        return self.title

    async def _conversation_for(self, request: Request, mount: Mount, sid: str,
                                base: str) -> tuple[dict[str, Any], str]:
        owner = self.sessions.owner(sid)
        cid = request.query_params.get("cv")
        if cid and cv.valid_cid(cid):
            conv = await self.runtime.lookup(cid)
            if conv is not None and conv.get("owner") == owner and conv.get("mount") == mount.path:
                found = await self.runtime.page(cid)
                if found is not None:
                    return found
        root = await mount.make(request)
        principal = None
        if self.principal is not None:
            principal = self.principal(request)
            if inspect.isawaitable(principal):
                principal = await principal
            principal = json_copy(principal, "principal")
        out = await self.runtime.mint(root, owner=owner, principal=principal, mount=mount.path, base=base)
        conv = out.conversation
        body = next((f.html for f in out.fragments if f.kind == "page"), "")
        scripts = "".join(wire.script_tag(f.html) for f in out.fragments if f.kind == "script")
        if conv.get("ended"):
            body = self._ended_html(conv)
        return conv, body + scripts

    async def _page(self, request: Request, mount: Mount) -> Response:
        if self.runtime.shutting_down:
            return PlainTextResponse("stube is shutting down; try again in a moment.", status_code=503,
                                     headers={"Retry-After": "5", **_NO_STORE})
        sid, minted = self.sessions.ensure(request)
        conv, body = await self._conversation_for(request, mount, sid, request.scope.get("root_path", ""))
        urls = self._urls(request)
        html = self._page_html(conv, body, urls, self._title(mount, conv))
        response = HTMLResponse(html, headers=dict(_NO_STORE))
        if minted:
            self.sessions.set_cookie(response, sid, secure=request.url.scheme == "https",
                                     path=request.scope.get("root_path") or "/")
        return response

    async def embed(self, request: Request, path: str) -> Embedded:
        """Mint the conversation mounted at ``path`` for a host page rendered by ``request``.

        The host's request must reach this app's prefix (``host.mount(prefix, app)``);
        pass the same request the host page handles.
        """
        await self.startup()
        if self.runtime.shutting_down:
            raise RuntimeError("stube is shutting down")
        mount = self.mounts[path]
        sid, minted = self.sessions.ensure(request)
        prefix = self._prefix_for(request)
        conv, body = await self._conversation_for(request, mount, sid, prefix)
        urls = Urls(prefix)
        def cookie(response: Response) -> None:
            # The host page lives outside the prefix: the cookie must come back with its requests too.
            self.sessions.set_cookie(response, sid, secure=request.url.scheme == "https", path="/")

        return Embedded(self._widget(conv, body, urls, own_url=False), self.head(urls), self.scripts(urls),
                        conv["id"], cookie if minted else None)

    def _prefix_for(self, request: Request) -> str:
        """Where this app is mounted in the host serving ``request``."""
        app = request.scope.get("app")
        for route in getattr(getattr(app, "router", None), "routes", []):
            if getattr(route, "app", None) is self:
                return request.scope.get("root_path", "") + route.path
        return request.scope.get("root_path", "")

    # -- events --

    def _stale(self, request: Request, cid: str) -> Response:
        html = self.templates.get("stube/stale.html").render(reload=self._reload_url(request))
        if request.headers.get("hx-request") == "true":
            return HTMLResponse(wire.closing(cid, html), status_code=410, headers=dict(_NO_STORE))
        urls = self._urls(request)
        return HTMLResponse(self.templates.get("stube/page.html").render(
            title="stube", head=self.head(urls), scripts=self.scripts(urls), widget=Markup(html)),
            status_code=410, headers=dict(_NO_STORE))

    def _reload_url(self, request: Request) -> str:
        """Where "Reload" should go: the page the browser shows (htmx tells us, or the Referer)."""
        for header in ("hx-current-url", "referer"):
            url = request.headers.get(header, "")
            if url and URL(url).netloc == request.url.netloc:
                return url
        return (request.scope.get("root_path") or "") + "/"

    async def _guard(self, request: Request, cid: str) -> tuple[dict[str, Any] | None, Response | None]:
        """The status checks in the contract's order: 410, then 403."""
        conv = await self.runtime.lookup(cid)
        if conv is None or conv.get("ended"):
            return None, self._stale(request, cid)
        if not self.sessions.owns(request, conv):
            return None, PlainTextResponse("stube conversation belongs to a different session.",
                                           status_code=403, headers=dict(_NO_STORE))
        return conv, None

    async def _event(self, request: Request) -> Response:
        cid, iid, name = (request.path_params[k] for k in ("cid", "iid", "name"))
        conv, refusal = await self._guard(request, cid)
        if refusal is not None:
            return refusal
        if not cv.displayed(conv, iid):
            # Gone, or covered by a dialog, or displaced: a double click or a stale tab.
            return Response(status_code=204)
        try:
            kernel.resolve(lookup(conv["instances"][iid]["type"]), Event(iid, name))
        except UnknownEvent as exc:
            return PlainTextResponse(str(exc), status_code=404, headers=dict(_NO_STORE))
        except LookupError:  # a type this process no longer defines
            return self._stale(request, cid)
        try:
            payload, fields, files = await self._read_payload(request)
        except _TooLarge as exc:
            return PlainTextResponse(str(exc), status_code=413, headers=dict(_NO_STORE))
        except BadPayload as exc:
            return PlainTextResponse(str(exc), status_code=400, headers=dict(_NO_STORE))
        event = Event(iid, name, payload, fields, convert=True)

        def fold(c: dict[str, Any], env: Env) -> kernel.Outcome:
            # Checked again under the lock: an earlier event may have covered it meanwhile.
            return kernel.run(c, event, env) if cv.displayed(c, iid) else kernel.Outcome(c)

        try:
            out = await self.runtime.apply(cid, fold, page=request.headers.get("x-stube-page"))
        except BadPayload as exc:
            return PlainTextResponse(str(exc), status_code=400, headers=dict(_NO_STORE))
        finally:
            for f in files:
                with contextlib.suppress(OSError):
                    os.unlink(f)
        if out is None:
            return self._stale(request, cid)
        return self._respond(request, cid, out)

    async def _back(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        conv, refusal = await self._guard(request, cid)
        if refusal is not None:
            return refusal
        out = await self.runtime.apply(cid, kernel.rewind, page=request.headers.get("x-stube-page"))
        if out is None:
            return self._stale(request, cid)
        return self._respond(request, cid, out)

    def _respond(self, request: Request, cid: str, out: kernel.Outcome) -> Response:
        conv = out.conversation
        if request.headers.get("hx-request") != "true":
            urls = Urls(conv.get("base") or request.scope.get("root_path", ""))
            mount = conv.get("mount") or "/"
            target = urls.page(mount) if conv.get("ended") else urls.page(mount, cid)
            return RedirectResponse(target, status_code=303, headers=dict(_NO_STORE))
        body = wire.partials(out.fragments, cid=cid, ended_html=lambda: self._ended_html(conv))
        headers = {**_NO_STORE, **wire.history_headers(out.fragments), "X-Stube-Cid": cid,
                   "X-Stube-From": str(out.since if out.since is not None else conv.get("version", 0)),
                   "X-Stube-To": str(conv.get("version", 0))}
        if not body:
            return Response(status_code=204, headers=headers)
        return HTMLResponse(body, headers=headers)

    async def _read_payload(self, request: Request) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """Query string + form body (urlencoded or multipart) under the size caps."""
        ctype = request.headers.get("content-type", "")
        multipart = ctype.startswith("multipart/form-data")
        cap = self.max_upload if multipart else self.max_body
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise _TooLarge(f"request body over {cap} bytes")
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise _TooLarge(f"request body over {cap} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        payload: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            _add(payload, key, value)
        fields: dict[str, Any] = {}
        files: list[dict[str, Any]] = []
        paths: list[str] = []
        if body and (multipart or ctype.startswith("application/x-www-form-urlencoded")):
            try:
                form: FormData = await Request(request.scope, receive).form(
                    max_files=1000, max_fields=1000, max_part_size=cap)
            except Exception as exc:
                raise BadPayload(f"malformed form body: {exc}") from None
            try:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        if not value.filename:
                            continue
                        fd, path = tempfile.mkstemp(prefix="stube-upload-")
                        with os.fdopen(fd, "wb") as out:
                            value.file.seek(0)
                            shutil.copyfileobj(value.file, out)
                            size = out.tell()
                        paths.append(path)
                        files.append({"name": key, "filename": value.filename,
                                      "content_type": value.content_type or "application/octet-stream",
                                      "size": size, "path": path})
                    else:
                        _add(fields, key, value)
            except BaseException:
                for path in paths:  # copied so far: nobody will see them
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                raise
            finally:
                await form.close()
        elif body:
            raise BadPayload(f"unsupported content type {ctype!r}")
        for key, value in fields.items():
            payload.setdefault(key, value)
        if files:
            payload["files"] = Raw(files)
        return payload, fields, paths

    # -- server push --

    async def _sse(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        rt = self.runtime
        headers = {**_NO_STORE, "X-Accel-Buffering": "no"}
        if rt.shutting_down:
            return PlainTextResponse("stube is shutting down", status_code=503,
                                     headers={"Retry-After": "5", **_NO_STORE})
        conv = await rt.lookup(cid)
        if conv is None or conv.get("ended"):
            html = self.templates.get("stube/stale.html").render(reload="")
            return Response(wire.sse_message(wire.closing(cid, html)), media_type="text/event-stream",
                            headers=headers)
        if not self.sessions.owns(request, conv):
            return PlainTextResponse("stube conversation belongs to a different session.", status_code=403,
                                     headers=dict(_NO_STORE))
        conv["touched"] = time.time()
        page = request.query_params.get("page", "")
        seen = _seen_version(request.headers.get("last-event-id"), request.query_params.get("v"))
        # Attach and take the snapshot under the lock, so no fold slips in between.
        async with rt.locked(cid):
            stream = rt.attach(cid, page)
            current = rt.conversations.get(cid)
            if current is not None and (cid in rt.restored or seen < current.get("version", 0)):
                found = await rt.page_locked(cid)
                if found is not None:
                    stream.queue.put_nowait(rt.snapshot(cid, *found))
        keepalive = rt.settings.keepalive

        async def events() -> AsyncIterator[bytes]:
            try:
                yield wire.KEEPALIVE
                while True:
                    try:
                        item = await asyncio.wait_for(stream.queue.get(), keepalive)
                    except TimeoutError:
                        yield wire.KEEPALIVE
                        continue
                    if item is None:
                        return
                    yield item
            finally:
                rt.detach(cid, stream)

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    # -- static assets --

    async def _asset(self, request: Request) -> Response:
        path = request.path_params["path"]
        if not _ASSET_PATH.fullmatch(path) or any(p in ("", ".", "..") for p in path.split("/")):
            return PlainTextResponse("invalid asset path", status_code=400)
        for static in self._static:
            try:
                response = await static.get_response(path, request.scope)
            except Exception:
                continue
            if response.status_code in (200, 304):
                immutable = request.query_params.get("v") == self._asset_versions.get(path)
                response.headers["Cache-Control"] = (
                    "public, max-age=31536000, immutable" if immutable else "public, max-age=3600")
                return response
        return PlainTextResponse("not found", status_code=404)


class _TooLarge(Exception):
    pass


def _seen_version(last_event_id: str | None, initial: str | None) -> int:
    """The newest version a reconnecting page has applied (``a-b`` or ``s-v`` ids)."""
    for value in (last_event_id, initial):
        if value:
            tail = value.rsplit("-", 1)[-1]
            if tail.isdigit():
                return int(tail)
    return 0


def _add(target: dict[str, Any], key: str, value: Any) -> None:
    if key in target:
        existing = target[key]
        target[key] = existing + [value] if isinstance(existing, list) else [existing, value]
    else:
        target[key] = value
