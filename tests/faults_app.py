"""The app the shutdown and store-fault tests run under uvicorn (``--factory``).

``$FAULTS_STORE`` picks the conversation store and ``$FAULTS_STASH`` the stash:
``sqlite:<file>``, ``file:<folder>``, ``redis:<url>`` or empty (in memory).
``/counter`` is a counter, ``/prefs`` a component whose one attribute lives in
the stash. ``plain()`` is the Stube app alone; ``fastapi_host()`` mounts it in a
FastAPI host at ``/w`` with the documented ``async with app.lifespan()``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import stube
from stube import Component, event

STREAMS = 200  # the shutdown test opens 100 streams from a handful of sessions


class Count(Component):
    template_string = ('<div {{ root() }}><span class="n">{{ self.n }}</span>'
                       '<button {{ on("inc") }}>+</button></div>')

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


class Prefs(Component):
    template_string = ('<div {{ root() }}><span class="sort">{{ self.sort }}</span>'
                       '<button {{ on("order", by="mass") }}>mass</button></div>')
    stash = ("sort",)

    def __init__(self) -> None:
        self.sort = "name"

    @event
    def order(self, by: str) -> None:
        self.sort = by


def backend(spec: str, kind: str) -> Any:
    scheme, _, where = spec.partition(":")
    if not scheme:
        return None
    if kind == "store":
        return {"sqlite": stube.SQLiteStore, "file": stube.FileStore, "redis": stube.RedisStore}[scheme](where)
    return {"sqlite": stube.SQLiteStashStore, "file": stube.FileStashStore,
            "redis": stube.RedisStashStore}[scheme](where)


def plain() -> stube.Stube:
    app = stube.Stube(store=backend(os.environ.get("FAULTS_STORE", ""), "store"),
                      stash=backend(os.environ.get("FAULTS_STASH", ""), "stash"),
                      max_streams=STREAMS, max_streams_per_session=STREAMS, sse_keepalive=5)
    app.mount("/counter", Count)
    app.mount("/prefs", Prefs)
    return app


def fastapi_host() -> Any:
    from fastapi import FastAPI

    widgets = plain()

    @asynccontextmanager
    async def lifespan(host: FastAPI) -> AsyncIterator[None]:
        async with widgets.lifespan():
            yield

    host = FastAPI(lifespan=lifespan)

    @host.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    host.mount("/w", widgets)
    return host
