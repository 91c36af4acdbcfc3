"""Trace one counter ``add`` event (amount=10) through the real ASGI app and count stube's calls.

    PYTHONPATH=$PWD .venv/bin/python scripts/trace_event.py [--quiet]

The page is fetched and one warm-up event sent first (caches, the session
cookie), then one more event runs under ``sys.setprofile``. Counted: calls of
functions whose code lives in ``stube/`` (a generator resumed counts again),
distinct functions, module switches between consecutive stube calls, and how
often ``displayed``, ``resolve`` (``lifecycle.method_for``) and the type ``lookup`` ran;
comprehension frames (Python < 3.12) are shown but not counted as calls. Targets (issue 11):
at most 60 calls and 30 module switches.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections import Counter as Tally
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import stube  # noqa: E402
from bench.inprocess import call  # noqa: E402  (one ASGI request, no server)
from stube import Component, event  # noqa: E402

PACKAGE = str(ROOT / "stube") + "/"
COMPREHENSIONS = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>")


class Counter(Component):
    name = "trace/counter"
    template_string = ('<div {{ root() }}><span class="n">{{ self.n }}</span>'
                       '<button {{ on("add", amount=10) }}>+10</button></div>')

    def __init__(self) -> None:
        self.n = 0

    @event
    def add(self, amount: int) -> None:
        self.n += amount


def where(frame: FrameType) -> tuple[str, str] | None:
    """``(module, qualified name)`` of a stube frame, ``None`` for anything else."""
    filename = frame.f_code.co_filename
    if not filename.startswith(PACKAGE):
        return None
    module = filename[len(PACKAGE):-3].replace("/", ".")
    return module, frame.f_code.co_qualname


async def main(quiet: bool) -> None:
    app = stube.Stube(secret_key="trace", conversation_ttl=None)
    app.mount("/", Counter)
    calls: list[tuple[str, str]] = []

    def profile(frame: FrameType, what: str, arg: object) -> None:
        if what == "call":
            found = where(frame)
            if found is not None:
                calls.append(found)

    async with app.lifespan():
        status, headers, body = await call(app, "GET", "/", [(b"host", b"127.0.0.1")])
        assert status == 200, status
        cookie = headers[b"set-cookie"].split(b";")[0]
        match = re.search(rb'hx-post="([^"]+/add)"', body)
        assert match is not None
        path = match.group(1).decode()
        form = b"amount=10"
        hdrs = [(b"host", b"127.0.0.1"), (b"hx-request", b"true"), (b"cookie", cookie),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(form)).encode())]
        status, _, _ = await call(app, "POST", path, hdrs, form)  # warm-up
        assert status == 200, status
        sys.setprofile(profile)
        try:
            status, _, answer = await call(app, "POST", path, hdrs, form)
        finally:
            sys.setprofile(None)
        assert status == 200 and b">20<" in answer, (status, answer)

    frames = len(calls)
    # Comprehensions are frames of their own on Python < 3.12 (PEP 709 inlines them): not calls.
    calls = [c for c in calls if not c[1].endswith(COMPREHENSIONS)]
    switches = sum(1 for a, b in zip(calls, calls[1:], strict=False) if a[0] != b[0])
    tally = Tally(calls)
    modules = {m for m, _ in calls}
    if not quiet:
        previous = None
        for i, (module, name) in enumerate(calls, 1):
            mark = "" if module == previous else "  <- " + module
            print(f"{i:4} {name}{mark}")
            previous = module
        print()
    print(f"stube calls:      {len(calls):4}   (target <= 60; {frames} frames with comprehensions)")
    print(f"distinct:         {len(set(calls)):4}")
    print(f"module switches:  {switches:4}   (target <= 30)")
    print(f"modules touched:  {len(modules):4}")
    print(f"displayed: {tally['conversation', 'displayed']}  resolve: {tally['lifecycle', 'method_for']}  "
          f"type lookup: {tally['component', 'lookup']}")
    ok = len(calls) <= 60 and switches <= 30
    print(f"target {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quiet", action="store_true", help="only the figures, not the call list")
    asyncio.run(main(parser.parse_args().quiet))
