"""A tiny Starlette app for the cluster rig's own tests (tests/test_cluster_rig.py).

- ``GET /pid``: which process answered, and the env the rig passed.
- ``GET /sse?wait=<name>``: one event at once, the next only after the test created
  ``$CLUSTER_APP_DIR/<name>``: the first can only arrive before the end if nothing buffers.
- ``GET /listen``: SSE of every message on the ``RedisBus`` channel ``chat`` (the first
  event says which process holds the stream); ``POST /say?text=...`` publishes to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from stube.bus import Message, RedisBus

bus: RedisBus | None = None


def info() -> dict[str, Any]:
    return {"pid": os.getpid(), "node": os.environ.get("STUBE_CLUSTER_NODE"),
            "greeting": os.environ.get("GREETING")}


async def pid(request: Request) -> Response:
    return JSONResponse(info())


def sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


async def hold(request: Request) -> Response:
    name = request.query_params.get("wait", "")
    if not re.fullmatch(r"[a-z0-9]{1,32}", name):
        return Response("bad name", status_code=400)
    signal = Path(os.environ["CLUSTER_APP_DIR"]) / name

    async def events() -> AsyncIterator[bytes]:
        yield sse({"first": True, **info()})
        for _ in range(1500):  # at most 30 s, then end anyway
            if signal.exists():
                break
            await asyncio.sleep(0.02)
        yield sse({"released": signal.exists()})

    return StreamingResponse(events(), media_type="text/event-stream")


async def listen(request: Request) -> Response:
    assert bus is not None
    queue: asyncio.Queue[Message] = asyncio.Queue()
    sub = bus.subscribe("chat", queue.put_nowait)

    async def events() -> AsyncIterator[bytes]:
        with sub:
            await sub.ready()
            yield sse({"ready": True, **info()})
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), 30)
                except TimeoutError:
                    return
                yield sse({**message.data, "own": message.own, **info()})

    return StreamingResponse(events(), media_type="text/event-stream")


async def say(request: Request) -> Response:
    assert bus is not None
    await bus.publish("chat", {"text": request.query_params.get("text", ""), "from_pid": os.getpid()})
    return JSONResponse(info())


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global bus
    bus = RedisBus(os.environ["STUBE_REDIS_URL"])
    await bus.start()
    try:
        yield
    finally:
        await bus.close()


app = Starlette(routes=[Route("/pid", pid), Route("/sse", hold), Route("/listen", listen),
                        Route("/say", say, methods=["POST"])], lifespan=lifespan)
