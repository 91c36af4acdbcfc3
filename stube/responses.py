"""What the HTTP layer answers: htmx partials, and refusals raised where they are found.

An endpoint raises :class:`Refused` at the point it finds a reason to say no
(410, 403, 404, 400, 413, 503); one exception handler on the inner Starlette
turns it into a response and logs one line. Successful events answer a
:class:`PartialsResponse`, which owns the ``X-Stube`` headers, so no endpoint
has to remember them.

Every response carries ``nosniff`` and ``Referrer-Policy``; HTML documents
also the framing policy (:class:`Secured`). A partial is never a document
(htmx swaps it into the page, whose own framing policy applies), so it carries
those two alone: each header costs about 2 µs per response in uvicorn, and an
event answer is the hot path (ADR 0008).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import wire
from .fragments import Fragment

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
    """An event's answer: htmx partials plus where the conversation went (``X-Stube``, :func:`~stube.wire.fold_header`).

    An empty body is a 204 with the same headers (nothing to swap, the version still moved).
    No ``Cache-Control``: the answer to a POST is never stored by a cache unless it says it
    may be (RFC 9111, section 9.3.3).
    """

    def __init__(self, fragments: Iterable[Fragment], *, cid: str, conv: dict[str, Any],
                 since: int | None) -> None:
        fragments = list(fragments)
        body = wire.partials(fragments, cid=cid)
        version = conv.get("version", 0)
        history, step = wire.history_headers(fragments)  # an address (``url()``), a step (backtrack)
        # The raw headers built here once (what HTMLResponse.__init__ would make of a headers dict).
        fold = wire.fold_header(cid, since if since is not None else version, version, step)
        raw = [(b"x-stube", fold.encode("latin-1")), *_ALWAYS]
        for k, v in history.items():
            raw.append((k.lower().encode("latin-1"), v.encode("latin-1")))
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


NOSNIFF = (b"x-content-type-options", b"nosniff")
_ALWAYS = [NOSNIFF, (b"referrer-policy", b"same-origin")]


RawHeaders = list[tuple[bytes, bytes]]


def secured_headers(headers: Iterable[tuple[bytes, bytes]], framing: RawHeaders) -> RawHeaders:
    """``headers`` plus what every response carries; HTML ones also get ``framing``.

    A response that sets ``nosniff`` itself (a :class:`PartialsResponse`) has
    set its own security headers and is left as it is.
    """
    out = list(headers)
    present = set()
    html = False
    for k, v in out:
        k = k.lower()
        if k == b"x-content-type-options":
            return out
        present.add(k)
        if k == b"content-type" and v.startswith(b"text/html"):
            html = True
    for k, v in (_ALWAYS + framing) if html else _ALWAYS:
        if k not in present:
            out.append((k, v))
    return out


class Secured:
    """ASGI wrapper adding the headers every response carries (and, on HTML, the framing policy)."""

    def __init__(self, app: ASGIApp, framing: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.framing = framing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        framing = self.framing

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": secured_headers(message.get("headers", ()), framing)}
            await send(message)

        await self.app(scope, receive, secured)
