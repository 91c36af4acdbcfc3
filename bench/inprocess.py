"""One counter event in process: stube against the hand-written anchor, no server, no sockets.

Each app is called as an ASGI application with a prepared scope (the request
htmx sends: ``POST``, ``HX-Request: true``, the session cookie, an empty body).
What remains is the framework's own work per event. The figure issue 13 asks
for is stube's time minus the anchor's. Times are the process's CPU time
(``time.process_time``): on a shared machine a wall clock mostly measures the neighbours.

    .venv/bin/python -m bench.inprocess [--events 20000] [--rounds 5]

Target: stube's own time per counter event <= 40 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = Path(os.environ.get("STUBE_ANCHORS", ROOT.parent / "shared" / "anchors"))

ASGI = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
                Awaitable[None]]


def load_anchor() -> ASGI:
    spec = importlib.util.spec_from_file_location("anchor_starlette_jinja", ANCHORS / "app_starlette_jinja.py")
    if spec is None or spec.loader is None:
        sys.exit(f"the anchors are missing: expected {ANCHORS}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: ASGI = module.app
    return app


async def call(app: ASGI, method: str, path: str, headers: list[tuple[bytes, bytes]],
               body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
    """One request straight into an ASGI app: no server, no sockets; ``(status, headers, body)``."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    out: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out["headers"], out["body"]


async def prepare(app: ASGI, stube_target: bool) -> tuple[str, list[tuple[bytes, bytes]]]:
    """GET the page like a browser; return the event path and the request headers."""
    status, headers, body = await call(app, "GET", "/", [(b"host", b"127.0.0.1")])
    assert status == 200, status
    cookie = headers.get(b"set-cookie", b"").split(b";")[0]
    path = "/inc"
    if stube_target:
        path = re.search(rb'hx-post="([^"]+/inc)"', body).group(1).decode()  # type: ignore[union-attr]
    hdrs = [(b"host", b"127.0.0.1"), (b"hx-request", b"true"), (b"cookie", cookie),
            (b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"0")]
    status, _, _ = await call(app, "POST", path, hdrs)
    assert status == 200, status
    return path, hdrs


async def per_event(app: ASGI, path: str, headers: list[tuple[bytes, bytes]], events: int) -> float:
    """CPU µs per event: ``process_time``, so other processes on a shared machine count less than on a wall clock."""
    start = time.process_time()
    for _ in range(events):
        await call(app, "POST", path, headers)
    return (time.process_time() - start) / events * 1e6


async def run(events: int, rounds: int) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.http_apps import stube_app

    anchor = load_anchor()
    async with stube_app.lifespan():
        a_path, a_headers = await prepare(anchor, False)
        s_path, s_headers = await prepare(stube_app, True)
        anchor_us, stube_us = [], []
        for _ in range(rounds):  # alternate, so drift of the machine hits both alike
            anchor_us.append(await per_event(anchor, a_path, a_headers, events))
            stube_us.append(await per_event(stube_app, s_path, s_headers, events))
    a, s = statistics.median(anchor_us), statistics.median(stube_us)
    print(f"{'in process (median of ' + str(rounds) + ')':32}{'CPU µs/event':>13}")
    print(f"{'Starlette + Jinja2 by hand':32}{a:10.1f}")
    print(f"{'stube':32}{s:10.1f}   ratio {s / a:.2f}x")
    own = statistics.median(x - y for x, y in zip(stube_us, anchor_us, strict=True))
    print(f"target: stube's own time per event (stube - anchor) <= 40 µs: {own:.1f} µs "
          f"{'met' if own <= 40 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.rounds))


if __name__ == "__main__":
    main()
