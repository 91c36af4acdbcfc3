"""The demo gallery as one ASGI application: ``uvicorn demos.app:app`` (or ``./run demo``).

Every catalogue entry is mounted at its path, the landing page at ``/``, and
the embedded-host demo (a plain Starlette app with a stube widget inside)
beside them at ``/embedded``. The principal is the raw ``?user=`` query value
(a stand-in for real sign-in, used by the protected counter).

Conversations and the session stash are kept in memory unless
``STUBE_DEMO_VAR`` names a folder (files there survive restarts: try the
durable wizard) or ``STUBE_DEMO_REDIS`` a Redis URL (several processes).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

import stube
from stube.stash import FileStashStore, InMemoryStashStore
from stube.store import FileStore

from . import TEMPLATES, embedded
from .catalogue import CATALOGUE
from .gallery import Gallery

#: Demo only: a fixed key so sessions survive restarts of the gallery. Set STUBE_SECRET in real apps.
DEMO_SECRET = "stube-demo-gallery-not-a-secret"


def principal_from_query(request: Any) -> str | None:
    """``?user=ada`` signs in as ``ada`` for this conversation (demo only: no password)."""
    user = (request.query_params.get("user") or "").strip()
    return user[:40] or None


def build(var: str | os.PathLike[str] | None = None, *, redis: str | None = None, **options: Any) -> stube.Stube:
    """A fresh gallery application; ``var`` (a folder) or ``redis`` (a URL) makes it durable."""
    if redis is not None:
        from stube.redis_store import RedisStore
        from stube.stash_redis import RedisStashStore

        options.setdefault("store", RedisStore(redis))
        options.setdefault("stash", RedisStashStore(redis))
    elif var is not None:
        folder = Path(var)
        options.setdefault("store", FileStore(folder / "conversations"))
        options.setdefault("stash", FileStashStore(folder / "stash"))
    else:
        options.setdefault("stash", InMemoryStashStore())
    options.setdefault("secret_key", os.environ.get("STUBE_SECRET") or DEMO_SECRET)
    gallery = stube.Stube(
        templates=[TEMPLATES],
        principal=principal_from_query,
        title="stube examples",
        **options,
    )
    gallery.mount("/", Gallery, title="stube examples")
    for entry in CATALOGUE:
        if entry.root is not None:
            gallery.mount(entry.path, entry.root, title=f"{entry.title} · stube examples")
    return gallery


def serve(gallery: stube.Stube) -> Starlette:
    """The gallery with the embedded-host demo mounted beside it, under one lifespan."""
    host, widgets = embedded.build_host(secret_key=gallery.secret)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with gallery.lifespan(), widgets.lifespan():
            yield

    return Starlette(routes=[Mount("/embedded", app=host), Mount("/", app=gallery)], lifespan=lifespan)


app = serve(build(os.environ.get("STUBE_DEMO_VAR") or None, redis=os.environ.get("STUBE_DEMO_REDIS") or None))
