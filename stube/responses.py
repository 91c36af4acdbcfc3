"""What the HTTP layer answers: htmx partials, and refusals raised where they are found.

An endpoint raises :class:`Refused` at the point it finds a reason to say no
(410, 403, 404, 400, 413, 503); one exception handler on the inner Starlette
turns it into a response and logs one line. Successful events answer a
:class:`PartialsResponse`, which owns the ``X-Stube-*`` headers and
``no-store``, so no endpoint has to remember them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import wire
from .fragments import HISTORY, STEP, Fragment

log = logging.getLogger("stube.http")

#: Nothing stube answers may be cached: every response reflects a live conversation.
NO_STORE: Mapping[str, str] = {"Cache-Control": "no-store"}


class Refused(Exception):
    """A request stube will not serve: ``status`` and a short ``text`` (or a whole ``html`` body)."""

    def __init__(self, status: int, text: str, *, html: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.html = html
        self.headers = dict(headers or {})


def refused_response(request: Request, exc: Exception) -> Response:
    """The one place a :class:`Refused` becomes a response (and a log line)."""
    if not isinstance(exc, Refused):  # pragma: no cover - registered for Refused only
        raise exc
    level = logging.WARNING if exc.status in (403, 413) else logging.INFO
    log.log(level, "refused %s %s %s: %s", exc.status, request.method, request.url.path, exc.text)
    headers = {**NO_STORE, **exc.headers}
    if exc.html is not None:
        return HTMLResponse(exc.html, status_code=exc.status, headers=headers)
    return PlainTextResponse(exc.text, status_code=exc.status, headers=headers)


class PartialsResponse(HTMLResponse):
    """An event's answer: htmx partials plus where the conversation went (``X-Stube-From``/``To``).

    An empty body is a 204 with the same headers (nothing to swap, the version still moved).
    """

    def __init__(self, fragments: Iterable[Fragment], *, cid: str, conv: dict[str, Any],
                 since: int | None) -> None:
        fragments = list(fragments)
        body = wire.partials(fragments, cid=cid)
        version = conv.get("version", 0)
        # The raw headers built here once (what HTMLResponse.__init__ would make of a headers dict).
        raw = [(b"cache-control", b"no-store")]
        if any(f.kind == HISTORY or f.kind == STEP for f in fragments):
            raw += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in wire.history_headers(fragments).items()]
        raw += [(b"x-stube-cid", cid.encode("latin-1")),
                (b"x-stube-from", str(since if since is not None else version).encode("latin-1")),
                (b"x-stube-to", str(version).encode("latin-1"))]
        self.background = None
        if body:
            self.status_code = 200
            self.body = body.encode("utf-8")
            raw += [(b"content-length", str(len(self.body)).encode("latin-1")),
                    (b"content-type", b"text/html; charset=utf-8")]
        else:
            self.status_code = 204  # nothing to swap, the version still moved: no body, no content type
            self.body = b""
            self.media_type = None  # type: ignore[assignment]
        self.raw_headers = raw


class EventStream(StreamingResponse):
    """An SSE answer whose body is a stream's messages (``Runtime.events``), unbuffered by proxies."""

    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        super().__init__(body, headers=STREAM_HEADERS)


#: Headers of every SSE answer (proxies must not buffer it).
STREAM_HEADERS: Mapping[str, str] = {**NO_STORE, "X-Accel-Buffering": "no"}


def framing(frame_ancestors: str | None) -> list[tuple[bytes, bytes]]:
    """The framing headers HTML responses carry (none when ``frame_ancestors`` is ``None``)."""
    if frame_ancestors is None:
        return []
    headers = [(b"content-security-policy", f"frame-ancestors {frame_ancestors}".encode("latin-1"))]
    if frame_ancestors.strip() == "'self'":
        headers.append((b"x-frame-options", b"SAMEORIGIN"))
    return headers


_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]


class Secured:
    """ASGI wrapper adding the headers every response carries (and, on HTML, the framing policy)."""

    def __init__(self, app: ASGIApp, framing: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.framing = framing
        self._html = _ALWAYS + framing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        html_headers = self._html

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = set()
                html = False
                for k, v in headers:
                    k = k.lower()
                    present.add(k)
                    if k == b"content-type" and v.startswith(b"text/html"):
                        html = True
                for k, v in html_headers if html else _ALWAYS:
                    if k not in present:
                        headers.append((k, v))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)
