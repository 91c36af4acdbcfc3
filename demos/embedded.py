"""Embedded: a host Starlette application with its own routes and a stube widget in its page.

The gallery mounts this host at ``/embedded`` (see demos/app.py); it also
runs on its own: ``uvicorn demos.embedded:host``. The host serves
``/healthz``, ``/api/foo`` and the page ``/widget``; the stube application is
mounted under ``/widget/`` (its event, stream and asset routes live there),
and ``await widgets.embed(request, "/counter")`` renders a conversation into
the host's own markup. ``stube.app()`` gives the widget the host's
dependencies (here, one string).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

import stube
from stube import Component, event

from . import TEMPLATES


class EmbeddedWidget(Component):
    """A small counter that also shows what the host handed to ``stube.app()``."""

    name = "demo.embedded.widget"
    template = "demos/embedded_widget.html"

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def dec(self) -> None:
        self.n -= 1


HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Host Starlette app</title>
{head}
</head>
<body>
<main class="stube-page">
  <h1>Host Starlette app</h1>
  <p>This page, <a href="{base}/healthz">/healthz</a> and <a href="{base}/api/foo">/api/foo</a>
     are the host's own routes. The card below is a stube conversation rendered into the host's markup.</p>
  {widget}
</main>
{scripts}
</body>
</html>
"""


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def api_foo(request: Request) -> Response:
    return JSONResponse({"foo": "bar", "served_by": "host"})


async def index(request: Request) -> Response:
    return RedirectResponse(request.scope.get("root_path", "") + "/widget", status_code=307)


def build_host(**options: object) -> tuple[Starlette, stube.Stube]:
    """A fresh host application and the stube application mounted inside it."""
    widgets = stube.Stube(app={"host_says": "plain Starlette"}, templates=[TEMPLATES],
                          title="Embedded widget", **options)  # type: ignore[arg-type]
    widgets.mount("/counter", EmbeddedWidget)

    async def widget_page(request: Request) -> Response:
        embedded = await widgets.embed(request, "/counter")
        base = request.scope.get("root_path", "")
        html = HOST_PAGE.format(head=embedded.head, widget=embedded.html, scripts=embedded.scripts, base=base)
        return embedded.apply(HTMLResponse(html, headers={"Cache-Control": "no-store"}))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A mounted app gets no lifespan events of its own: start and stop stube with the host.
        async with widgets.lifespan():
            yield

    host = Starlette(
        routes=[
            Route("/", index),
            Route("/widget", widget_page),
            Route("/healthz", healthz),
            Route("/api/foo", api_foo),
            Mount("/widget", app=widgets),
        ],
        lifespan=lifespan,
    )
    return host, widgets


#: ``uvicorn demos.embedded:host`` serves the host on its own.
host, widgets = build_host()

__all__ = ["EmbeddedWidget", "build_host", "host", "widgets"]
