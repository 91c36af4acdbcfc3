"""Session stash benchmark: merge latency (p50/p99) and merges/s per backend.

    .venv/bin/python bench/stash.py [--quick]

Every merge here changes a value, so every one is a real, durable store write
(the file store fsyncs the file and its folder; "file-nosync" shows the CPU
cost without the disk, and the "disk floor" line what the fsyncs alone cost
on this machine). "sequential" is one session
awaiting each merge; "concurrent" is 64 sessions writing at once. Redis runs
on a private ``redis-server`` started for the run (``tests.redis_server``).
Targets: file merge p50 < 2 ms, in-memory merge p50 < 50 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Running ``python bench/stash.py`` puts bench/ first on sys.path, where a sibling script
# (bench/http.py) would shadow the standard library: import from the repository root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from stube.stash import FileStashStore, InMemoryStashStore, Stash  # noqa: E402
from tests.redis_server import redis_server  # noqa: E402

VIEW = "bench.views.Table"
TARGETS_P50_US = {"memory": 50.0, "file": 2000.0}


def pct(sorted_values: list[float], p: float) -> float:
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


async def sequential(stash: Stash, n: int) -> tuple[list[float], float]:
    s = stash.session("bench-session")
    await s.merge(VIEW, {"sort": "name", "page": 0, "open": [1, 2, 3]})  # warm the actor
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        a = time.perf_counter()
        await s.merge(VIEW, {"page": i + 1})
        lat.append(time.perf_counter() - a)
    return sorted(lat), n / (time.perf_counter() - t0)


async def concurrent(stash: Stash, sessions: int, per: int) -> float:
    handles = [stash.session(f"bench-{k}") for k in range(sessions)]

    async def worker(s: Any) -> None:
        for i in range(per):
            await s.merge(VIEW, {"page": i + 1})

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in handles))
    return sessions * per / (time.perf_counter() - t0)


async def reads(stash: Stash, n: int) -> list[float]:
    s = stash.session("bench-session")
    lat = []
    for _ in range(n):
        a = time.perf_counter()
        await s.views()
        lat.append(time.perf_counter() - a)
    return sorted(lat)


async def run(name: str, make: Callable[[], Stash], n: int) -> dict[str, Any]:
    stash = make()
    try:
        lat, seq_rate = await sequential(stash, n)
        conc_rate = await concurrent(stash, 64, max(5, n // 64))
        read_lat = await reads(stash, max(100, n // 4))
    finally:
        await stash.aclose()
    return {"backend": name, "p50": pct(lat, 50), "p99": pct(lat, 99), "mean": statistics.fmean(lat),
            "seq": seq_rate, "conc": conc_rate, "read_p50": pct(read_lat, 50)}


def disk_floor(folder: str, n: int) -> list[float]:
    """What the disk alone costs per write: temp file, fsync, rename, fsync of the folder."""
    import os

    lat = []
    body = b'{"v":"0123456789abcdef","state":{"views":{},"last_seen_at":0}}'
    for _ in range(n):
        a = time.perf_counter()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        os.write(fd, body)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, os.path.join(folder, "floor.json"))
        dfd = os.open(folder, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        lat.append(time.perf_counter() - a)
    return sorted(lat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args, _ = parser.parse_known_args()
    scale = 0.2 if args.quick else 1.0
    rows = []
    with tempfile.TemporaryDirectory(prefix="stube-bench-stash-") as folder, redis_server() as url:
        from stube.stash_redis import RedisStashStore

        backends: list[tuple[str, Callable[[], Stash], int]] = [
            ("memory", lambda: Stash(InMemoryStashStore()), int(20000 * scale)),
            ("file", lambda: Stash(FileStashStore(folder), secret="bench"), int(1000 * scale)),
            ("file-nosync", lambda: Stash(FileStashStore(folder, durable=False), secret="bench"),
             int(2000 * scale)),
            ("redis", lambda: Stash(RedisStashStore(url), secret="bench"), int(5000 * scale)),
        ]
        for name, make, n in backends:
            rows.append(asyncio.run(run(name, make, n)))
        floor_dir = Path(folder) / "floor"
        floor_dir.mkdir()
        floor = disk_floor(str(floor_dir), int(1000 * scale))

    us = 1e6
    print(f"{'backend':11} {'merge p50':>11} {'merge p99':>11} {'merges/s seq':>13} "
          f"{'merges/s x64':>13} {'views() p50':>12}  target")
    failed = False
    for r in rows:
        target = TARGETS_P50_US.get(r["backend"])
        verdict = ""
        if target is not None:
            ok = r["p50"] * us < target
            failed |= not ok
            verdict = f"p50 < {target:g} µs: {'ok' if ok else 'MISSED'}"
        print(f"{r['backend']:11} {r['p50'] * us:9.1f}µs {r['p99'] * us:9.1f}µs {r['seq']:13.0f} "
              f"{r['conc']:13.0f} {r['read_p50'] * us:10.1f}µs  {verdict}")
    print(f"disk floor (temp + fsync + rename + fsync dir, no stube): p50 {pct(floor, 50) * us:.1f}µs "
          f"p99 {pct(floor, 99) * us:.1f}µs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
