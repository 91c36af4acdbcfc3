"""``Stube``: the ASGI application that serves mounted components over htmx.

::

    app = stube.Stube(secret_key=os.environ["STUBE_SECRET"], templates=["templates"])
    app.mount("/", Counter)
    # uvicorn mymodule:app   — or inside a host: host.mount("/widgets", app)

Routes (all under the prefix the app is mounted at)::

    GET  <mount>                            a page: mint (or, with ?cv=, resume) a conversation
    POST /_stube/event/<cid>/<iid>/<event>  an event (htmx partials, or 303 without htmx)
    POST /_stube/back/<cid>                 rewind one step
    POST /_stube/step/<cid>?step=<n>        the browser's Back/Forward went to step n (``backtrack``)
    GET  /_stube/sse/<cid>                  the page's server-push stream
    GET  /_stube/static/<path>              htmx, stube.js, stube.css
    GET  /_stube/health                     200 ``{"store": "ok"}`` or 503
    GET  /_stube/inspect/<cid>/<iid>        the inspector's panel (``debug`` only; 404 otherwise)

The events (``event``, ``back``), their checks and answers, and server push
live here: that is the hot path. Pages and embedding are
:class:`~stube.mounts.Mounts`, ``step`` is :class:`~stube.steps.Steps`,
``health`` and ``inspect`` are :class:`~stube.probes.Probes`; ``Stube.__init__``
builds them and registers their endpoints.

Refusals are raised as :class:`~stube.responses.Refused` where they are found
and answered by one exception handler; every response gets ``nosniff`` and
``Referrer-Policy``, pages also the framing policy (:class:`~stube.responses.Secured`).

An event is the one request a page sends over and over, so ``Stube.__call__``
tries the event route first and serves it directly: the same route object
matches it and the same endpoint answers, without Starlette's middleware,
router and ``Secured`` layers around it (about a fifth of an event's time;
ADR 0008). Everything else goes through Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import conversation as cv
from . import kernel, wire
from .bus import Bus
from .errors import BadPayload, NotSaved, UnknownEvent
from .forms import check_fields, read_form, seen_version, warn_unlisted
from .kernel import Env, Event
from .mounts import Mount as Mount  # re-exported: stube.http.Mount / MountPoint keep working
from .mounts import MountPoint as MountPoint
from .mounts import Mounts, Root
from .pages import Embedded, Pages, not_saved, prefix_for, shutting_down
from .payload import signature
from .probes import Probes
from .render import STATIC_DIR, Templates, Urls, resolve_folders
from .responses import (
    NO_STORE,
    STREAM_HEADERS,
    EventStream,
    PartialsResponse,
    Refused,
    Secured,
    framing,
    refused_response,
    secured_headers,
)
from .runtime import Runtime, Settings
from .sessions import MAX_AGE, Sessions, cross_origin
from .stash import InMemoryStashStore, Stash
from .steps import Steps
from .stopping import StopSignals
from .store import InMemoryStore

log = logging.getLogger("stube")


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
    above), ``max_field`` (bytes per lifted form field; 400 above),
    ``sse_keepalive`` (seconds), ``trusted_origins`` (origins besides the app's
    own allowed to send events), ``frame_ancestors`` (CSP ``frame-ancestors``
    value; ``None`` allows framing anywhere), ``session_max_age`` (seconds a
    session cookie is honoured), ``unused_ttl`` (seconds a conversation with
    neither an event nor a stream lives), ``max_conversations`` (live
    conversations per process; unused ones are evicted first), ``max_streams``
    and ``max_streams_per_session`` (open SSE streams; the oldest is closed),
    ``debug`` (also ``$STUBE_DEBUG=1``: exception text in banners, strict
    templates reloaded when they change, the inspector, a warning for posted
    inputs a component does not lift), ``root_path`` (the folder relative
    ``templates`` and ``static`` folders are found in; default: the folder of
    the module that creates the ``Stube``, so the working directory does not
    matter), ``backtrack`` (default on: every step gets a browser history entry,
    ``<mount>?cv=<cid>&step=<n>``, and the browser's Back and Forward move the
    conversation to that step; ``False``: Back reloads the current state, as in 0.1),
    ``bus`` (how several processes of this app reach each other: a
    :class:`~stube.bus.RedisBus`; default the in-process
    :class:`~stube.bus.LocalBus`; started and closed with the app), ``tune_gc`` (default
    on: ``gc.freeze()`` and a young-generation threshold ≥ 2,000 at the first start; :func:`~stube.runtime.tune_gc`).
    """

    def __init__(self, *, store: Any = None, stash: Any = None, secret_key: str | bytes | None = None,
                 templates: Sequence[str | Path] = (), static: Sequence[str | Path] = (), app: Any = None,
                 principal: Callable[[Request], Any] | None = None, history_limit: int = 50,
                 conversation_ttl: float | None = 12 * 3600.0, reaper_interval: float | None = None,
                 max_body: int = 1 << 20, max_upload: int = 10 << 20, max_field: int = 64 * 1024,
                 sse_keepalive: float = 15.0, title: str = "stube", debug: bool = False,
                 trusted_origins: Iterable[str] = (), frame_ancestors: str | None = "'self'",
                 session_max_age: int = MAX_AGE, unused_ttl: float | None = 600.0,
                 max_conversations: int = 100_000, max_streams: int = 4,
                 max_streams_per_session: int = 16, root_path: str | Path | None = None,
                 backtrack: bool = True, bus: Bus | None = None, tune_gc: bool = True) -> None:
        base = Path(root_path).absolute() if root_path is not None else _caller_folder()
        templates, static = resolve_folders(templates, base), resolve_folders(static, base)
        secret = secret_key or os.environ.get("STUBE_SECRET")
        if not secret:
            secret = secrets.token_bytes(32)
            log.warning("stube: no secret_key (or $STUBE_SECRET); sessions and conversation "
                        "ownership will not survive a restart")
        self.debug = debug or os.environ.get("STUBE_DEBUG") == "1"
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.sessions = Sessions(self.secret, max_age=session_max_age)
        self.templates = Templates(templates, auto_reload=self.debug, strict=self.debug)
        self.backtrack = backtrack
        self.env = Env(self.templates, app=app, history_limit=history_limit, debug=self.debug, backtrack=backtrack)
        self.store = store if store is not None else InMemoryStore()
        self.stash = stash if isinstance(stash, Stash) else Stash(
            stash if stash is not None else InMemoryStashStore(), secret=self.secret)
        self.principal = principal
        self.max_body, self.max_upload, self.max_field = max_body, max_upload, max_field
        self.trusted_origins = frozenset(o.rstrip("/").lower() for o in trusted_origins)
        self.title = title
        self.pages = Pages(self.templates, [*static, STATIC_DIR], title, debug=self.debug, backtrack=backtrack)
        self.runtime = Runtime(
            env=self.env, store=self.store, stash=self.stash,
            settings=Settings(ttl=conversation_ttl, reaper_interval=reaper_interval, keepalive=sse_keepalive,
                              unused_ttl=unused_ttl, max_conversations=max_conversations,
                              max_streams=max_streams, max_streams_per_session=max_streams_per_session,
                              tune_gc=tune_gc),
            bus=bus,
        )
        self.bus = self.runtime.bus
        self._steps = Steps(self.runtime, self.pages, guard=self._guard, respond=self._respond, enabled=backtrack)
        self._mounts = Mounts(runtime=self.runtime, sessions=self.sessions, pages=self.pages, steps=self._steps,
                              principal=principal)
        self.mounts = self._mounts.points
        probes = Probes(runtime=self.runtime, sessions=self.sessions, templates=self.templates, store=self.store,
                        stash=self.stash, debug=self.debug)
        self._start_lock = asyncio.Lock()
        self._signals = StopSignals(self.runtime.release_streams)
        self._event_route = Route("/_stube/event/{cid}/{iid}/{name}", self._event, methods=["POST"])
        self._starlette = Starlette(
            routes=[
                self._event_route,
                Route("/_stube/back/{cid}", self._back, methods=["POST"]),
                Route("/_stube/step/{cid}", self._steps.endpoint, methods=["POST"]),
                Route("/_stube/sse/{cid}", self._sse, methods=["GET"]),
                Route("/_stube/static/{path:path}", self.pages.asset, methods=["GET", "HEAD"]),
                Route("/_stube/health", probes.health, methods=["GET"]),
                Route("/_stube/inspect/{cid}/{iid}", probes.inspect, methods=["GET"]),
            ],
            lifespan=lambda app: self.lifespan(),
            exception_handlers={Refused: refused_response},
            debug=self.debug,
        )
        self._framing = framing(frame_ancestors)
        self._app: ASGIApp = Secured(self._starlette, self._framing)
        self._errors = ServerErrorMiddleware(self._starlette, debug=self.debug)  # its 500 pages, for events

    # -- configuration --

    def mount(self, path: str, root: Root, *, title: str | None = None) -> None:
        """Serve ``root`` at ``path``: a component class, an embed spec, a flow, or ``factory(request)``."""
        mount = self._mounts.add(path, root, title)
        page = self._mounts.page

        async def endpoint(request: Request) -> Response:
            return await page(request, mount)

        self._starlette.router.routes.append(Route(path, endpoint, methods=["GET", "HEAD"], name=path))

    # -- ASGI and lifecycle --

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.runtime.running:
            await self.startup()
        if scope["type"] == "http" and scope["method"] == "POST":
            match, child = self._event_route.matches(scope)
            if match is Match.FULL:
                scope.update(child)  # as Starlette's router does
                await self._event_direct(scope, receive, send)
                return
        await self._app(scope, receive, send)

    async def _event_direct(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An event without the layers around Starlette's router, doing what they would: ``Refused``
        answered as the exception handler does, anything else Starlette's 500 page and raised on.
        """
        scope["app"] = self._starlette
        request = Request(scope, receive, send)
        try:
            response = await self._event(request)
        except Refused as exc:
            response = refused_response(request, exc)
        except Exception as exc:
            await _server_error(self._errors, request, exc, self._framing)(scope, receive, send)
            raise
        if not isinstance(response, PartialsResponse):  # it sets its own (ADR 0008)
            response.raw_headers = secured_headers(response.raw_headers, self._framing)
        await response(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """For hosts that mount stube: ``async with stube_app.lifespan(): ...`` in the host's lifespan."""
        await self.startup()
        self._signals.install()  # SIGTERM/SIGINT end the open streams first (ADR 0006)
        try:
            yield
        finally:
            try:
                await self.shutdown()
            finally:
                self._signals.restore()

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

    # -- page shells (kept for hosts that build their own pages) --

    def asset_url(self, urls: Urls, path: str) -> str:
        return self.pages.at(urls.base).asset_url(path)

    def head(self, urls: Urls) -> Markup:
        """The ``<head>`` tags a page with stube widgets needs (htmx config, stylesheet)."""
        return self.pages.at(urls.base).head()

    def scripts(self, urls: Urls) -> Markup:
        """The scripts, for the end of ``<body>``."""
        return self.pages.at(urls.base).scripts()

    # -- embedding --

    async def embed(self, request: Request, path: str) -> Embedded:
        """Mint the conversation mounted at ``path`` for a host page rendered by ``request``.

        The host's request must reach this app's prefix (``host.mount(prefix, app)``);
        pass the same request the host page handles.
        """
        await self.startup()
        if self.runtime.shutting_down:
            raise RuntimeError("stube is shutting down")
        return await self._mounts.embed(request, path, prefix_for(request, self))

    # -- events --

    async def _event(self, request: Request) -> Response:
        """One event, in one pass: checks in the contract's order, then the body, then the fold.

        The conversation is fetched and the handler resolved once (``kernel.admit``),
        before the body is read; ``Runtime.apply`` folds under the lock without
        resolving again unless the conversation moved on meanwhile.
        """
        params = request.path_params
        cid, iid, name = params["cid"], params["iid"], params["name"]
        headers = _headers(request)
        conv = await self._guard(request, cid, headers)
        try:
            handler = kernel.admit(conv, iid, name)
            if handler is None:
                # Another process may have moved it on (a dialog it opened holds ``iid``): look again.
                moved = await self.runtime.fresh(cid)
                if moved is not None and moved is not conv:
                    conv = moved
                    handler = kernel.admit(conv, iid, name)
        except UnknownEvent as exc:
            raise Refused(404, str(exc)) from None
        except LookupError:  # a type this process no longer defines
            raise self.pages.gone(request, cid) from None
        if handler is None:
            # Gone, or covered by a dialog, or displaced: a double click or a stale tab.
            return Response(status_code=204)
        form = await read_form(request, max_body=self.max_body, max_upload=self.max_upload,
                               wants_files=handler.wants_files, headers=headers)
        try:
            if handler.cls.fields:
                check_fields(form, handler.cls.fields, self.max_field)
            if self.debug:
                warn_unlisted(handler.cls, form.fields, signature(handler.fn, 2 if handler.catch_all else 1))
            event = Event(iid, name, form.payload, form.fields, convert=True)
            try:
                out = await self.runtime.apply(cid, event, page=headers.get("x-stube-page"),
                                               handler=handler, admitted=conv)
            except BadPayload as exc:
                raise Refused(400, str(exc)) from None
            except NotSaved:
                raise not_saved(request) from None
        finally:
            if form.uploads.files:
                form.uploads.close()
        return self._respond(request, cid, out, headers)

    async def _back(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        await self._guard(request, cid)
        try:
            out = await self.runtime.apply(cid, kernel.rewind, page=request.headers.get("x-stube-page"))
        except NotSaved:
            raise not_saved(request) from None
        return self._respond(request, cid, out)

    async def _guard(self, request: Request, cid: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The checks before a state change, in the contract's order: origin, 410, then 403."""
        if headers is None:
            headers = _headers(request)
        # First, so the session checks run together; a live one needs no call into the runtime.
        conv = self.runtime.conversations.get(cid) or await self.runtime.conversation(cid)
        why = cross_origin(request, self.trusted_origins, headers)
        if why is not None:
            raise Refused(403, f"cross-origin request refused ({why})")
        if conv is None or conv.get("ended"):
            raise self.pages.gone(request, cid)
        if not self.sessions.owns_cookie(headers.get("cookie", ""), conv):
            raise Refused(403, "stube conversation belongs to a different session.")
        return conv

    def _respond(self, request: Request, cid: str, out: kernel.Outcome | None,
                 headers: dict[str, str] | None = None) -> Response:
        if out is None:
            raise self.pages.gone(request, cid)
        conv = out.conversation
        if (headers if headers is not None else request.headers).get("hx-request") != "true":
            urls = Urls(conv.get("base") or request.scope.get("root_path", ""))
            mount = conv.get("mount") or "/"
            target = urls.page(mount) if conv.get("ended") else urls.page(mount, cid)
            if self.backtrack and not conv.get("ended"):
                target += f"&step={cv.step_of(conv)}"  # a JS-off browser's history entry names the step
            return RedirectResponse(target, status_code=303, headers=dict(NO_STORE))
        return PartialsResponse(out.fragments, cid=cid, conv=conv, since=out.since)

    # -- server push --

    async def _sse(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        rt = self.runtime
        if rt.shutting_down or not rt.streams.accepting:
            raise shutting_down()
        seen = seen_version(request.headers.get("last-event-id"), request.query_params.get("v"))
        conv = await rt.conversation(cid)
        if conv is not None and not conv.get("ended") and not self.sessions.owns(request, conv):
            raise Refused(403, "stube conversation belongs to a different session.")
        stream = None if conv is None or conv.get("ended") else await rt.open_stream(
            cid, request.query_params.get("page", ""), seen)
        if stream is None:
            message = wire.sse_message(wire.closing(cid, self.pages.stale("")))
            return Response(message, media_type="text/event-stream", headers=dict(STREAM_HEADERS))
        return EventStream(rt.events(stream))


def _server_error(errors: ServerErrorMiddleware, request: Request, exc: Exception,
                  framing: list[tuple[bytes, bytes]]) -> Response:
    """Starlette's 500 answer for ``exc`` (its traceback page in debug), with the security headers."""
    response = errors.debug_response(request, exc) if errors.debug else errors.error_response(request, exc)
    response.raw_headers = secured_headers(response.raw_headers, framing)
    return response


def _caller_folder() -> Path:
    """The folder of the module whose code is creating a :class:`Stube` (Flask's ``root_path``).

    Frames of this module (a ``Stube.__init__`` reached through a subclass in
    here) are skipped; code without a ``__file__`` (a REPL, ``python -c``) gets
    the working directory at creation time.
    """
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    filename = frame.f_globals.get("__file__") if frame is not None else None
    return Path(filename).resolve().parent if filename else Path.cwd()


def _headers(request: Request) -> dict[str, str]:
    """The request's headers read once into a dict (lower-case names; the first of repeats wins).

    Starlette's ``request.headers.get`` scans the raw list on every call, and one
    event reads seven of them: the origin checks, the cookie, the body's size and
    type, htmx's markers.
    """
    found: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        key = name.decode("latin-1")
        if key not in found:
            found[key] = value.decode("latin-1")
    return found
