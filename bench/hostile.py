"""What hostile page-view traffic costs a stube process (issue 10, item 2).

(a) Memory: 10,000 page views (``--views``) of the gallery's ``/counter`` by a crawler (no cookies, so every
    view is a new session and a new conversation), in-process through Starlette's TestClient,
    with the default settings and with ``Stube(max_conversations=1_000)``. Each configuration
    runs in a fresh child process; it prints the growth of the resident set (VmRSS), with
    ``--tracemalloc`` that of the Python heap too, and how many conversations are still live.
(b) CPU: ``uvicorn demos.app:app`` on 127.0.0.1 gets 1,000 page views of ``/clock`` (a page whose
    ``start()`` arms a timer); then the server's CPU seconds over the next 5 s are read from
    ``/proc/<pid>/stat``, next to the same 5 s measured before any view.

    .venv/bin/python bench/hostile.py [--views 10000] [--clock-views 1000] [--idle 5]

Bounded: every loop has a fixed count and the server is stopped at the end. It prints numbers
and asserts nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py is named like the standard library's ``http`` package: keep this folder off the
# import path (a script's folder comes first) so ``http.client`` still resolves to the stdlib.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import gc
import json
import os
import socket
import subprocess
import time
import tracemalloc
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TICK = os.sysconf("SC_CLK_TCK")


def rss() -> int:
    """Resident set size of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICK


def mib(n: float) -> str:
    return f"{n / (1 << 20):.1f} MiB"


# -- (a) memory, in a child process per configuration --------------------------------------------


def memory_child(views: int, cap: int | None, trace: bool) -> dict[str, Any]:
    from starlette.testclient import TestClient

    from demos.app import build

    options: dict[str, Any] = {"secret_key": "hostile-bench"}
    if cap is not None:
        options["max_conversations"] = cap
    try:
        app = build(**options)
    except TypeError as exc:
        return {"supported": False, "error": str(exc)}
    with TestClient(app) as client:
        for _ in range(200):  # warm-up: templates compiled, caches filled
            client.cookies.clear()
            client.get("/counter")
        gc.collect()
        if trace:
            tracemalloc.start()
        heap0, rss0 = tracemalloc.get_traced_memory()[0], rss()
        started = time.perf_counter()
        for _ in range(views):
            client.cookies.clear()  # a crawler: no cookie, so a new session every time
            r = client.get("/counter")
            if r.status_code != 200:
                return {"supported": True, "error": f"GET /counter answered {r.status_code}"}
        elapsed = time.perf_counter() - started
        gc.collect()
        heap1, rss1 = tracemalloc.get_traced_memory()[0], rss()
        tracemalloc.stop()
        live = len(app.runtime.conversations)
    return {"supported": True, "heap": heap1 - heap0 if trace else None, "rss": rss1 - rss0, "live": live,
            "seconds": elapsed}


def memory(views: int, cap: int | None, trace: bool) -> None:
    label = ("default settings" if cap is None else f"max_conversations={cap:,}") + f", {views:,} views"
    args = [sys.executable, __file__, "--child-memory", str(views)] + ([] if cap is None else ["--cap", str(cap)])
    args += ["--tracemalloc"] if trace else []
    out = subprocess.run(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=1800)
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"  {label}: the child failed\n{out.stderr[-2000:]}")
        return
    if not result["supported"]:
        print(f"  {label}: not supported ({result['error']})")
    elif "error" in result:
        print(f"  {label}: {result['error']}")
    else:
        heap = "" if result["heap"] is None else \
            f"heap +{mib(result['heap'])} ({result['heap'] / views:,.0f} B/view), "
        print(f"  {label}: {heap}RSS +{mib(result['rss'])} ({result['rss'] / views:,.0f} B/view), "
              f"{result['live']:,} conversations live, {views / result['seconds']:,.0f} views/s")


# -- (b) CPU after timer-page views, against a real server -------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clock_cpu(views: int, idle: float) -> None:
    import httpx2

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "demos.app:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env={"STUBE_SECRET": "hostile-bench", **os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    print("  uvicorn did not start")
                    return
                time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with httpx2.Client(base_url=base, timeout=30) as client:
            client.get("/clock")  # warm-up
            before = cpu_seconds(proc.pid)
            time.sleep(idle)
            quiet = cpu_seconds(proc.pid) - before
            started = time.perf_counter()
            for _ in range(views):
                client.cookies.clear()
                client.get("/clock").raise_for_status()
            elapsed = time.perf_counter() - started
            before = cpu_seconds(proc.pid)
            time.sleep(idle)
            after = cpu_seconds(proc.pid) - before
            t0 = time.perf_counter()
            for _ in range(20):
                client.get("/counter")
            p_counter = (time.perf_counter() - t0) / 20 * 1000
        print(f"  before any view: {quiet:.2f} CPU s in {idle:g} s")
        print(f"  {views:,} GETs of /clock took {elapsed:.1f} s")
        print(f"  after them: {after:.2f} CPU s in {idle:g} s ({after / idle * 100:.0f} % of one core); "
              f"a /counter page view then took {p_counter:.1f} ms on average")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=10_000)  # about 30 s; the figures are per view
    parser.add_argument("--clock-views", type=int, default=1_000)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace the Python heap (about three times slower)")
    parser.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        print(json.dumps(memory_child(args.child_memory, args.cap, args.tracemalloc)))
        return
    print(f"(a) memory for {args.views:,} crawler page views of /counter (TestClient, in-process):")
    memory(args.views, None, args.tracemalloc)
    memory(args.views, 1_000, args.tracemalloc)
    memory(args.views // 4, 1_000, args.tracemalloc)  # past the cap, growth must not follow the views
    print(f"(b) CPU of uvicorn after {args.clock_views:,} page views of /clock (127.0.0.1):")
    clock_cpu(args.clock_views, args.idle)


if __name__ == "__main__":
    main()
