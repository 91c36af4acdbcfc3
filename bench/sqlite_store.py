"""Does a store's cost follow the change or the page? SQLiteStore vs FileStore vs memory.

    python bench/sqlite_store.py [--quick] [--dir PATH]

For a page of 1 and a page of 1,000 keyed instances, one event changes one
instance and the conversation is saved (kernel through the Harness, no
HTTP). Printed per store and page size: bytes written per event, events/s
(event + durable save, one at a time), and the ratio 1,000 : 1. Also the
disk's fsync p50, which bounds every durable store here: FileStore syncs a
file and its folder per save, SQLiteStore the WAL once per commit. ``--dir``
chooses the disk (default: a temporary folder).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stube.store import FileStore, InMemoryStore  # noqa: E402
from stube.store.sqlite import SQLiteStore  # noqa: E402
from tests.store_support import page_harness  # noqa: E402


class CountingFileStore(FileStore):
    """A FileStore that counts the bytes of every file it writes."""

    bytes_written = 0

    def _write(self, cid: str, data: bytes) -> None:
        self.bytes_written += len(data)
        super()._write(cid, data)


def make(kind: str, folder: Path) -> Any:
    if kind == "memory":
        return InMemoryStore()
    if kind == "file":
        return CountingFileStore(folder / "files")
    return SQLiteStore(folder / "store.sqlite")


async def run(kind: str, size: int, events: int, folder: Path) -> tuple[float, float, float]:
    """(bytes per event, events per second, saves per second) for ``events`` events on a page of ``size``."""
    store = make(kind, folder)
    h, item = page_harness(size)
    await store.save(h.conversation)
    for _ in range(10):  # a history window as a page that has been used has it
        h.dispatch("inc", target=item)
        await store.save(h.conversation)
    before = getattr(store, "bytes_written", 0)
    started = time.perf_counter()
    saving = 0.0
    for _ in range(events):
        h.dispatch("inc", target=item)
        t = time.perf_counter()
        await store.save(h.conversation)
        saving += time.perf_counter() - t
    elapsed = time.perf_counter() - started
    written = getattr(store, "bytes_written", 0) - before
    if hasattr(store, "aclose"):
        await store.aclose()
    return written / events, events / elapsed, events / saving


async def through_runtime(kind: str, size: int, events: int, folder: Path) -> tuple[float, float]:
    """(CPU µs, wall µs) per event folded by the Runtime (lock, kernel, durable save, commit) on a page of ``size``."""
    from stube.kernel import Env, Event
    from stube.runtime import Runtime
    from tests.store_support import Page

    store = make(kind, folder)
    rt = Runtime(env=Env(), store=store)
    await rt.start()
    try:
        out = await rt.mint(Page(size), owner="bench", principal=None, mount="/", base="")
        conv = out.conversation
        cid = conv["id"]
        item = conv["instances"][conv["stack"][0]]["keyed"]["items"]["iids"]["k0"]
        for _ in range(10):  # used (first save), and a history window
            await rt.apply(cid, Event(item, "inc"))
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(events):
            await rt.apply(cid, Event(item, "inc"))
        return ((time.process_time() - cpu) / events * 1e6, (time.perf_counter() - wall) / events * 1e6)
    finally:
        await rt.shutdown()


async def concurrent_saves(kind: str, folder: Path, total: int) -> float:
    """Saves per second with 100 conversations saving at once (each its own event, one at a time)."""
    store = make(kind, folder)
    pages = [page_harness(3) for _ in range(100)]
    await asyncio.gather(*(store.save(h.conversation) for h, _ in pages))

    async def worker(h: Any, item: str) -> None:
        for _ in range(total // len(pages)):
            h.dispatch("inc", target=item)
            await store.save(h.conversation)

    started = time.perf_counter()
    await asyncio.gather(*(worker(h, item) for h, item in pages))
    rate = total / (time.perf_counter() - started)
    await store.aclose()
    return rate


def fsync_p50(folder: Path, samples: int) -> float:
    """Median seconds of one write + fsync of a small file on ``folder``'s disk."""
    path = folder / "fsync-probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for i in range(samples):
            os.pwrite(fd, b"%d" % i, 0)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times)


async def main(quick: bool, base: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="stube-bench-", dir=base))
    try:
        print(f"disk: {folder}  fsync p50: {fsync_p50(folder, 50 if quick else 300) * 1e3:.2f} ms")
        print(f"{'store':8} {'page':>6} {'bytes/event':>12} {'events/s':>10} {'saves/s':>10}")
        for kind in ("memory", "file", "sqlite"):
            figures = {}
            for size in (1, 1000):
                events = {"memory": 2000, "file": 100, "sqlite": 300}[kind] // (4 if quick else 1)
                sub = folder / f"{kind}-{size}"
                sub.mkdir()
                figures[size] = await run(kind, size, events, sub)
                b, e, v = figures[size]
                print(f"{kind:8} {size:>6} {b:>12,.0f} {e:>10,.0f} {v:>10,.0f}")
            (b1, e1, v1), (b1000, e1000, v1000) = figures[1], figures[1000]
            ratio = f"{b1000 / b1:>11.2f}x" if b1 else f"{'-':>12}"
            print(f"{kind:8} {'1000:1':>6} {ratio} {e1 / e1000:>9.2f}x {v1 / v1000:>9.2f}x"
                  "  (bytes, time per event, time per save)")
        print("through the runtime (Runtime.apply: lock, kernel, save, commit), one event on one of N keyed items:")
        for kind in ("memory", "sqlite"):
            times = {}
            for size in (1, 1000):
                sub = folder / f"{kind}-runtime-{size}"
                sub.mkdir()
                n = (300 if kind == "sqlite" else 2000) // (4 if quick else 1)
                times[size] = await through_runtime(kind, size, n, sub)
                cpu, wall = times[size]
                print(f"{kind:8} {size:>6} {cpu:>10,.0f} CPU µs/event {wall:>10,.0f} wall µs/event")
            ratio = times[1000][0] / times[1][0]
            print(f"{kind:8} {'1000:1':>6} {ratio:>10.2f}x CPU time (wall {times[1000][1] / times[1][1]:.2f}x)  "
                  f"target <= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'}")
        print("100 conversations saved concurrently (group commit for sqlite, group folder sync for file):")
        for kind in ("file", "sqlite"):
            sub = folder / f"{kind}-concurrent"
            sub.mkdir()
            print(f"{kind:8} {await concurrent_saves(kind, sub, 100 if quick else 500):>10,.0f} saves/s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    where = args[args.index("--dir") + 1] if "--dir" in args else None
    asyncio.run(main("--quick" in args, where))
