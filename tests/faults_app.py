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
                       '<button {{ on("by_mass") }}>mass</button>'
                       '<b class="visits">{{ self.visits }}</b><button {{ on("visit") }}>visit</button></div>')
    stash = ("sort",)

    def __init__(self) -> None:
        self.sort = "name"
        self.visits = 0  # not stashed: per conversation

    @event
    def by_mass(self) -> None:
        self.sort = "mass"

    @event
    def visit(self) -> None:
        self.visits += 1


def backend(spec: str, kind: str) -> Any:
    scheme, _, where = spec.partition(":")
    if not scheme:
        return None
    if kind == "store":
        return {"sqlite": stube.SQLiteStore, "file": stube.FileStore, "redis": stube.RedisStore}[scheme](where)
    return {"sqlite": stube.SQLiteStashStore, "file": stube.FileStashStore,
            "redis": stube.RedisStashStore}[scheme](where)


def inject(marker: str, store: Any) -> None:
    """Where ``mount`` is impossible: writes under the faulty folder fail while ``marker`` exists.

    The folder is ``marker`` without its ``.inject`` suffix; the errno is the marker's content.
    File backends fail in the atomic-write layer (``stube._atomic.write_atomic``, as the
    stores call it); an SQLite store in that folder fails its ``save``/``check`` as SQLite would.
    """
    import errno
    import sqlite3

    import stube.stash.file
    import stube.store.file

    root = marker.removesuffix(".inject") + os.sep

    def failing(path: str, sqlite: bool = False) -> None:
        if os.path.exists(marker) and os.path.abspath(path).startswith(root):
            code = int(open(marker).read())
            if sqlite:
                raise sqlite3.OperationalError("database or disk is full" if code == errno.ENOSPC
                                               else "attempt to write a readonly database")
            raise OSError(code, os.strerror(code))

    for module in (stube.store.file, stube.stash.file):
        real = module.__dict__.get("_real_write_atomic", module.write_atomic)
        module._real_write_atomic = real  # type: ignore[attr-defined]

        def write_atomic(path: str, *args: Any, _real: Any = real, **kwargs: Any) -> None:
            failing(path)
            _real(path, *args, **kwargs)
        module.write_atomic = write_atomic  # type: ignore[assignment]
    if isinstance(store, stube.SQLiteStore):
        where = os.environ["FAULTS_STORE"].partition(":")[2]
        for name in ("save", "check"):
            real_method = getattr(store, name)

            async def method(*args: Any, _real: Any = real_method) -> Any:
                failing(where, sqlite=True)
                return await _real(*args)
            setattr(store, name, method)


def plain() -> stube.Stube:
    store = backend(os.environ.get("FAULTS_STORE", ""), "store")
    if os.environ.get("FAULTS_INJECT"):
        inject(os.environ["FAULTS_INJECT"], store)
    app = stube.Stube(store=store, stash=backend(os.environ.get("FAULTS_STASH", ""), "stash"),
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
