"""Scale-out: what several processes on one Redis cost and give (issue 12).

Through the test rig (``tests/cluster.py``: a private redis-server, N uvicorn
processes of ``tests/scale_app.py``, Debian's nginx round-robin in front):

1. events/s and p99 latency, one process vs two (RedisStore + RedisBus), clients
   posting increments to their own conversations through nginx;
2. end-to-end push latency: an event posted to process B, until its fragment
   arrives on an SSE stream held by process A (p50/p99);
3. the bus's cost on one process: the same single process with the in-process
   ``LocalBus`` (the default) vs ``RedisBus``, and in-process ``Runtime.apply``
   rates with LocalBus vs RedisBus (no HTTP).

    .venv/bin/python -m bench.scaleout [--seconds 4] [--clients 16] [--pushes 200]

Bounded: every phase runs a fixed time or count; the rig stops everything on exit.
On a shared 2-core machine the absolute numbers are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import html as htmllib
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.cluster import Cluster, RedisProcess  # noqa: E402

APP = "tests.scale_app:host"
HX = {"HX-Request": "true"}


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"{pattern!r} not in the page")
    return htmllib.unescape(found.group(1))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def load(url: str, clients: int, seconds: float) -> tuple[float, float, float]:
    """(events/s, p50 ms, p99 ms) of ``clients`` concurrent clients, each on its own conversation."""
    async with httpx2.AsyncClient(base_url=url, timeout=30, limits=httpx2.Limits(max_connections=clients * 2)) as c:
        targets = []
        for _ in range(clients):
            page = await c.get("/")
            targets.append((_find(r'hx-post="([^"]+/inc)"', page.text), dict(page.cookies)))
        latencies: list[float] = []
        errors = 0
        stop = time.monotonic() + seconds

        async def client(inc: str, cookies: dict[str, str]) -> None:
            nonlocal errors
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = await c.post(inc, headers=HX, cookies=cookies)
                if r.status_code != 200:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        for inc, cookies in targets:  # warm-up: every conversation loaded where it lands
            await c.post(inc, headers=HX, cookies=cookies)
        t0 = time.monotonic()
        await asyncio.gather(*(client(inc, ck) for inc, ck in targets))
        elapsed = time.monotonic() - t0
    if errors:
        print(f"   ({errors} non-200 answers)")
    return len(latencies) / elapsed, pct(latencies, 0.5) * 1e3, pct(latencies, 0.99) * 1e3


def push_latency(a: str, b: str, samples: int) -> tuple[float, float]:
    """(p50 ms, p99 ms): POST on ``b`` until the fragment shows on a stream held by ``a``."""
    page = httpx2.get(a + "/", timeout=10)
    cookies = dict(page.cookies)
    inc, sse = _find(r'hx-post="([^"]+/inc)"', page.text), _find(r'hx-sse:connect="([^"]+)"', page.text)
    arrived: dict[int, float] = {}
    ready = threading.Event()
    done = threading.Event()

    def listen() -> None:
        try:
            read()
        except httpx2.HTTPError:
            pass  # the cluster stopped

    def read() -> None:
        with httpx2.Client(timeout=httpx2.Timeout(30, read=30), cookies=cookies) as client:
            with client.stream("GET", a + sse) as response:
                ready.set()
                for line in response.iter_lines():
                    m = re.search(r'class="n">(\d+)<', line)
                    if m:
                        arrived.setdefault(int(m.group(1)), time.perf_counter())
                    if done.is_set():
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(10)
    time.sleep(0.3)
    latencies = []
    with httpx2.Client(base_url=b, timeout=10, cookies=cookies) as client:
        for n in range(1, samples + 1):
            t0 = time.perf_counter()
            client.post(inc, headers=HX)
            deadline = time.monotonic() + 5
            while n not in arrived and time.monotonic() < deadline:
                time.sleep(0.0002)
            if n in arrived:
                latencies.append(arrived[n] - t0)
    done.set()
    return pct(latencies, 0.5) * 1e3, pct(latencies, 0.99) * 1e3


async def runtime_rates(redis_url: str, events: int) -> dict[str, float]:
    """``Runtime.apply`` folds/s on one process: LocalBus vs RedisBus (memory store, no HTTP)."""
    import stube
    from stube.kernel import Event
    from tests.scale_app import Counter

    out = {}
    for label, bus in (("LocalBus", stube.LocalBus()), ("RedisBus", stube.RedisBus(redis_url))):
        app = stube.Stube(secret_key="bench", bus=bus)
        rt = app.runtime
        await rt.start()
        cids = []
        for _ in range(16):
            minted = await rt.mint(Counter, owner=None, principal=None, mount="/", base="")
            cids.append(minted.conversation["id"])
        iid = {cid: rt.conversations[cid]["stack"][0] for cid in cids}
        for cid in cids:
            await rt.apply(cid, Event(iid[cid], "inc"))
        t0 = time.perf_counter()
        for k in range(events):
            cid = cids[k % len(cids)]
            await rt.apply(cid, Event(iid[cid], "inc"))
        out[label] = events / (time.perf_counter() - t0)
        await rt.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--pushes", type=int, default=200)
    parser.add_argument("--events", type=int, default=5000, help="in-process folds per bus")
    args = parser.parse_args()

    rows: dict[str, tuple[float, float, float]] = {}
    for label, n, env in (("1 process, LocalBus", 1, {"STUBE_SCALE_BUS": "local"}),
                          ("1 process, RedisBus", 1, {}),
                          ("2 processes, RedisBus", 2, {})):
        with Cluster(APP, n, env=env) as c:
            rows[label] = asyncio.run(load(c.url, args.clients, args.seconds))
            if n == 2:
                push = push_latency(c.urls[0], c.urls[1], args.pushes)
    print(f"events through nginx ({args.clients} clients, {args.seconds:g} s each; RedisStore + RedisStashStore):")
    for label, (rate, p50, p99) in rows.items():
        print(f"  {label:24s} {rate:8.0f} events/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    one, two = rows["1 process, RedisBus"][0], rows["2 processes, RedisBus"][0]
    local = rows["1 process, LocalBus"][0]
    print(f"  2 processes / 1 process (RedisBus): {two / one:.2f}x")
    print(f"  RedisBus on one process: {100 * (1 - one / local):.1f} % fewer events/s than LocalBus (the default)")
    print(f"push latency, event on B -> fragment on a stream on A ({args.pushes} events): "
          f"p50 {push[0]:.2f} ms   p99 {push[1]:.2f} ms")

    with tempfile.TemporaryDirectory(prefix="stube-bench-redis-") as folder:
        server = RedisProcess(Path(folder)).start()
        try:
            rates = asyncio.run(runtime_rates(server.url, args.events))
        finally:
            server.stop()
    base = rates["LocalBus"]
    print(f"in-process Runtime.apply ({args.events} folds, memory store):")
    for label, rate in rates.items():
        print(f"  {label:10s} {rate:8.0f} folds/s  ({rate / base:.2f}x LocalBus)")
    print("  (LocalBus, the default, takes the same path as before the bus existed: no copy, no publish)")


if __name__ == "__main__":
    main()
