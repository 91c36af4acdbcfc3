"""What durability costs, and what a second process buys on one SQLite file.

    python bench/faults.py [--quick] [--dir PATH]

1. The disk's fsync p50 (the floor under every durable save here).
2. Save latency p50/p99, ``SQLiteStore`` vs ``FileStore`` (a small page, one
   event per save, one at a time), and the ratio.
3. Over HTTP, real uvicorn processes on 127.0.0.1 with ``SQLiteStore``:
   events/s and p99 from one process, then from two processes on the same
   file (requests alternate between them), on 32 conversations at once (no
   contention) and on one conversation (every event contends). Status counts
   are printed: 410s on the one-conversation run mean the reload-and-retry
   of a fold overtaken by the other process is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from bench.sqlite_store import fsync_p50  # noqa: E402
from stube.store import FileStore  # noqa: E402
from stube.store.sqlite import SQLiteStore  # noqa: E402
from tests.store_support import page_harness  # noqa: E402
from tests.uvicorn_proc import HX, Uvicorn, page_parts  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def save_latencies(kind: str, folder: Path, events: int) -> list[float]:
    store = FileStore(folder / "files") if kind == "file" else SQLiteStore(folder / "store.sqlite")
    h, item = page_harness(3)
    await store.save(h.conversation)
    times = []
    for _ in range(events):
        h.dispatch("inc", target=item)
        t = time.perf_counter()
        await store.save(h.conversation)
        times.append(time.perf_counter() - t)
    await store.aclose()
    return times


async def load(urls: list[str], pages: list[tuple[httpx2.Cookies, str]], events: int,
               concurrency: int) -> tuple[float, float, Counter[int]]:
    """(events/s, p99 seconds, statuses) for ``events`` POSTs spread over ``pages`` and ``urls``."""
    limits = httpx2.Limits(max_connections=concurrency)
    clients = {(u, i): httpx2.AsyncClient(base_url=u, cookies=c, timeout=60, limits=limits)
               for u in urls for i, (c, _) in enumerate(pages)}
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def one(n: int) -> int:
        i = n % len(pages)
        client = clients[(urls[n % len(urls)], i)]
        async with gate:
            t = time.perf_counter()
            r = await client.post(pages[i][1], headers=HX)
            times.append(time.perf_counter() - t)
            return r.status_code

    started = time.perf_counter()
    statuses = Counter(await asyncio.gather(*(one(n) for n in range(events))))
    elapsed = time.perf_counter() - started
    for c in clients.values():
        await c.aclose()
    return events / elapsed, pct(times, 0.99), statuses


def open_pages(url: str, n: int) -> list[tuple[httpx2.Cookies, str]]:
    pages = []
    for _ in range(n):
        with httpx2.Client(base_url=url, timeout=30) as c:
            page = page_parts(c.get("/counter").text)
            c.post(page["post"], headers=HX)  # used and saved: any process can load it
            pages.append((c.cookies, page["post"]))
    return pages


def http_runs(folder: Path, events: int) -> None:
    for conversations in (32, 1):
        rates = {}
        for processes in (1, 2):
            sub = folder / f"http-{conversations}-{processes}"
            sub.mkdir()
            env = {"FAULTS_STORE": f"sqlite:{sub / 'stube.db'}"}
            servers = [Uvicorn("tests.faults_app:plain", sub / f"{i}.log", env=env,
                               args=("--log-level", "warning")).start() for i in range(processes)]
            try:
                pages = open_pages(servers[0].url, conversations)
                rate, p99, statuses = asyncio.run(load([s.url for s in servers], pages, events, 32))
            finally:
                for s in servers:
                    s.kill()
            rates[processes] = rate
            print(f"sqlite http  {conversations:>2} conversation(s) {processes} process(es): "
                  f"{rate:>7,.0f} events/s  p99 {p99 * 1e3:>6.1f} ms  {dict(statuses)}")
        print(f"sqlite http  {conversations:>2} conversation(s): two processes / one = {rates[2] / rates[1]:.2f}x")


def main(quick: bool, base: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="stube-bench-faults-", dir=base))
    try:
        fsync = fsync_p50(folder, 50 if quick else 300)
        print(f"disk: {folder}  fsync p50: {fsync * 1e3:.2f} ms")
        p50 = {}
        for kind in ("file", "sqlite"):
            sub = folder / kind
            sub.mkdir()
            times = asyncio.run(save_latencies(kind, sub, 100 if quick else 400))
            p50[kind] = statistics.median(times)
            print(f"{kind:8} save p50 {p50[kind] * 1e3:6.2f} ms  p99 {pct(times, 0.99) * 1e3:6.2f} ms  "
                  f"({p50[kind] / fsync:.1f} fsyncs)")
        print(f"sqlite save p50 / file save p50 = {p50['sqlite'] / p50['file']:.2f}x")
        http_runs(folder, 300 if quick else 1500)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dir", default=None, help="a folder on the disk to measure (default: a temporary one)")
    args = parser.parse_args()
    main(args.quick, args.dir)
