"""Conversation store benchmarks: save throughput and start-up load time.

    python bench/stores.py [--quick] [--only SECTION] [--before TREE]

``--only http`` runs section (c) alone; ``--before TREE`` also measures, in
section (c)'s alternating rounds, the stube of another tree (for example
``git archive main | tar -x -C TREE``) with this file's app.

Measures, in one run, against a private redis-server (Debian's) and a
temporary folder:

* saves/s of InMemoryStore, FileStore (fsync) and RedisStore on a realistic
  conversation (a counter after a few events, a call and its answer), one
  save at a time and with many conversations in flight;
* events/s of the kernel plus a save after every event (the Harness's
  kernel, no HTTP), each store's ratio to InMemoryStore: an early indicator;
* ``load_all`` of 10,000 stored conversations (target: under 2 s);
* (c) issue 13's targets: events/s over HTTP (uvicorn pinned to CPU 0, wrk
  to CPU 1, 16 conversations, every event durable before its answer) of
  memory, SQLiteStore, FileStore and RedisStore in alternating rounds, the
  ratios (SQLiteStore >= 0.5x, FileStore >= 0.4x of memory) with met / NOT
  met, and what bounds each: the disk's fsync p50, the server's CPU per
  event and how busy its core was, fsyncs and SQLite commits per save
  (counted in the server), and the floors (one atomic file replace, one
  durable SQLite commit).

Sections are plain async functions of a :class:`Bench`; append to
``SECTIONS`` (or call :func:`main` with extra sections) to extend the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, bench/ is sys.path[0]; its modules must not shadow the stdlib's (bench/http.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stube.redis_store import RedisStore  # noqa: E402
from stube.store import ConversationStore, FileStore, InMemoryStore, encode  # noqa: E402
from stube.store.sqlite import SQLiteStore  # noqa: E402
from stube.testing import Harness  # noqa: E402
from tests.redis_server import redis_server  # noqa: E402
from tests.store_support import Counter, clone, counter_conversation  # noqa: E402


@dataclass
class Bench:
    """What every section gets: a scratch folder, a Redis URL, and where results go.

    Shared machines are noisy: each measurement runs ``rounds`` times and
    the best round counts (the least disturbed one).
    """

    folder: Path
    redis_url: str
    quick: bool = False
    #: Another stube tree (an export of the previous version): section (c) measures it too, alternating.
    before: Path | None = None
    rounds: int = 3
    results: dict[str, float] = field(default_factory=dict)
    _n: int = 0

    def fresh_folder(self) -> Path:
        self._n += 1
        path = self.folder / f"run{self._n}"
        path.mkdir()
        return path

    async def store(self, kind: str) -> ConversationStore:
        """A fresh, empty store of ``kind`` ("memory", "file", "redis")."""
        if kind == "memory":
            return InMemoryStore()
        if kind == "file":
            return FileStore(self.fresh_folder())
        if kind == "redis":
            store = RedisStore(self.redis_url)
            await store.client.flushdb()
            return store
        raise ValueError(kind)

    async def best(self, kind: str, measure: Callable[[ConversationStore], Awaitable[float]],
                   higher_is_better: bool = True) -> float:
        """Run ``measure`` on a fresh store of ``kind`` ``rounds`` times; the best value."""
        values = []
        for _ in range(self.rounds):
            store = await self.store(kind)
            try:
                values.append(await measure(store))
            finally:
                await close(store)
        return max(values) if higher_is_better else min(values)

    def record(self, name: str, value: float, unit: str, base: str | None = None) -> None:
        self.results[name] = value
        ratio = f"   {value / self.results[base]:.2f}x of {base}" if base in self.results and base != name else ""
        print(f"  {name:<44} {value:>12,.2f} {unit}{ratio}", flush=True)


KINDS = ("memory", "file", "redis")


async def close(store: Any) -> None:
    aclose = getattr(store, "aclose", None)
    if aclose is not None:
        await aclose()


async def saves_per_second(store: ConversationStore, convs: list[dict], total: int, in_flight: int) -> float:
    """``total`` saves spread over ``convs``, ``in_flight`` conversations at a time, each version newer."""
    per_task = total // in_flight

    async def worker(k: int) -> None:
        conv = dict(convs[k % len(convs)])
        for _ in range(per_task):
            conv["version"] += 1
            await store.save(dict(conv))

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(in_flight)))
    return per_task * in_flight / (time.perf_counter() - started)


async def bench_saves(b: Bench) -> None:
    """(a) raw save throughput."""
    base = counter_conversation()
    print(f"(a) saves/s, counter conversation of {len(encode(base)):,} bytes of JSON")
    for in_flight in (1, 16):
        for kind in KINDS:
            total = {"memory": 100_000, "file": 1_000, "redis": 5_000}[kind] // (5 if b.quick else 1)
            convs = [clone(base) for _ in range(in_flight)]
            rate = await b.best(
                kind, lambda store, convs=convs, total=total, n=in_flight: saves_per_second(store, convs, total, n))
            b.record(f"save {kind} ({in_flight} in flight)", rate, "saves/s", f"save memory ({in_flight} in flight)")


async def events_per_second(store: ConversationStore, total: int, in_flight: int,
                            write_behind: bool = False) -> float:
    """Kernel dispatch (with rendering) plus a save after every event, as the runtime will do.

    ``write_behind``: the event does not wait for its save (saves of one
    conversation still land in order and coalesce); the clock stops when
    every save is durable.
    """
    harnesses = [Harness(Counter(n=0)) for _ in range(in_flight)]
    per_task = total // in_flight
    pending: set[asyncio.Task[None]] = set()

    async def worker(h: Harness) -> None:
        for _ in range(per_task):
            h.dispatch("inc")
            if write_behind:
                task = asyncio.ensure_future(store.save(h.conversation))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(0)  # a request boundary
            else:
                await store.save(h.conversation)

    started = time.perf_counter()
    await asyncio.gather(*(worker(h) for h in harnesses))
    await asyncio.gather(*pending)
    return per_task * in_flight / (time.perf_counter() - started)


async def bench_events(b: Bench) -> None:
    """Kernel + store, without HTTP: an early indicator for the runtime target."""
    print("(a') events/s: kernel dispatch (with rendering) + a save after each event (no HTTP)")
    for write_behind in (False, True):
        how = ", write-behind" if write_behind else ""
        for in_flight in (1, 16):
            for kind in KINDS:
                total = 5_000 if write_behind or kind != "file" else 1_000
                total //= 5 if b.quick else 1
                rate = await b.best(
                    kind,
                    lambda store, total=total, n=in_flight, wb=write_behind: events_per_second(store, total, n, wb))
                b.record(f"events {kind} ({in_flight} in flight{how})", rate, "events/s",
                         f"events memory ({in_flight} in flight{how})")


async def bench_load_all(b: Bench) -> None:
    """(b) start-up: load_all of 10,000 stored conversations."""
    n = 10_000
    base = counter_conversation()
    convs = [clone(base, version=i + 1) for i in range(n)]
    print(f"(b) load_all of {n:,} conversations (target < 2 s)")

    folder = b.fresh_folder()
    writer = FileStore(folder)
    for start in range(0, n, 200):
        await asyncio.gather(*(writer.save(c) for c in convs[start:start + 200]))
    await writer.aclose()

    async def load_file(_: Any) -> float:
        started = time.perf_counter()
        loaded = await FileStore(folder).load_all()  # a fresh process's view
        assert len(loaded) == n
        return time.perf_counter() - started

    b.record("load_all file", await b.best("memory", load_file, higher_is_better=False), "s")

    store = await b.store("redis")
    try:
        for start in range(0, n, 500):
            await asyncio.gather(*(store.save(c) for c in convs[start:start + 500]))
    finally:
        await close(store)

    async def load_redis(_: Any) -> float:
        reader = RedisStore(b.redis_url)  # a fresh process's view: connects from scratch
        try:
            started = time.perf_counter()
            loaded = await reader.load_all()
            assert len(loaded) == n
            return time.perf_counter() - started
        finally:
            await close(reader)

    b.record("load_all redis", await b.best("memory", load_redis, higher_is_better=False), "s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _http_events(spec: str, conversations: int, seconds: int,
                 root: Path | None = None) -> tuple[float, float, float, float]:
    """(events/s, server CPU µs per event, fsyncs and SQLite commits per save) through uvicorn, wrk driving.

    The server runs on CPU 0 and wrk on CPU 1 (as bench/http.py pins them), so
    the server's CPU time per event says whether the store is CPU-bound (its
    core is busy all the time) or waits (for the disk, or Redis).
    """
    import re
    import subprocess

    import httpx2

    from bench.http import Uvicorn, pinned

    counts = Path(tempfile.mkdtemp(prefix="stube-bench-counts-")) / "counts.json"
    env = {"STUBE_BENCH_STORE_SPEC": spec, "STUBE_BENCH_COUNTS": str(counts)}
    if root is not None:  # another stube tree (``--before``): its stube, this file's app
        env["PYTHONPATH"] = str(root)
    server = Uvicorn("bench.stores:app", env=env, app_dir=root)
    try:
        targets = []
        for _ in range(conversations):
            with httpx2.Client(base_url=server.url) as c:
                page = c.get("/").text
                path = re.search(r'hx-post="([^"]+/inc)"', page).group(1)  # type: ignore[union-attr]
                cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
                assert c.post(path, headers={"HX-Request": "true"}).status_code == 200
                targets.append(f"{path}|{cookie}")
        env = {**os.environ, "BENCH_TARGETS": ";".join(targets)}
        cmd = [*pinned(1), "wrk", "-t1", f"-c{conversations}", f"-d{seconds}s", "-s", str(HERE / "rotate.lua"),
               server.url]
        subprocess.run([*cmd[:-3], "-d1s", *cmd[-3:]], env=env, capture_output=True, check=True)  # warm-up
        cpu = _cpu_seconds(server.proc.pid)
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        cpu = _cpu_seconds(server.proc.pid) - cpu
        if "Non-2xx" in out:
            raise RuntimeError(out)
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    finally:
        server.stop()
    import json

    n = json.loads(counts.read_text()) if counts.exists() else {}
    shutil.rmtree(counts.parent, ignore_errors=True)
    saves = max(n.get("saves", 0), 1)
    return rate, cpu / max(done, 1) * 1e6, n.get("fsyncs", 0) / saves, n.get("commits", 0) / saves


def __getattr__(name: str) -> Any:
    """``bench.stores:app``: the counter of bench/http_apps.py on the store ``STUBE_BENCH_STORE_SPEC`` names.

    ``memory``, ``file:<folder>``, ``sqlite:<file>`` or a ``redis://`` URL (built on first use, in
    the uvicorn process that section (c) starts).
    """
    if name != "app":
        raise AttributeError(name)
    import stube
    from bench.http_apps import SECRET
    from bench.http_apps import Counter as HttpCounter

    spec = os.environ.get("STUBE_BENCH_STORE_SPEC", "memory")
    store: Any = stube.InMemoryStore()
    if spec.startswith("file:"):
        store = FileStore(spec[5:])
    elif spec.startswith("sqlite:"):
        store = SQLiteStore(spec[7:])
    elif spec.startswith("redis://"):
        store = RedisStore(spec)
    if os.environ.get("STUBE_BENCH_COUNTS"):
        _count_in_server(store, os.environ["STUBE_BENCH_COUNTS"])
    app = globals()["app"] = stube.Stube(secret_key=SECRET, conversation_ttl=None, store=store)
    app.mount("/", HttpCounter)
    return app


def _count_in_server(store: Any, path: str) -> None:
    """Count saves, fsyncs and SQLite commits in this (uvicorn) process; write them to ``path`` at shutdown.

    (When the store closes: uvicorn re-raises SIGTERM after its shutdown, so ``atexit`` never runs.)
    """
    import json

    counted = _Counted().__enter__()
    saves = [0]
    save = store.save

    async def counting_save(conv: dict[str, Any]) -> None:
        saves[0] += 1
        await save(conv)

    store.save = counting_save

    closing = getattr(store, "aclose", None)

    async def aclose() -> None:
        if closing is not None:
            await closing()
        Path(path).write_text(json.dumps({"saves": saves[0], "fsyncs": counted.fsyncs, "commits": counted.commits}))

    store.aclose = aclose


class _Counted:
    """Counts what bounds a durable save, in this process: fsync calls, SQLite commits, CPU seconds."""

    def __init__(self) -> None:
        self.fsyncs = 0
        self.commits = 0

    def __enter__(self) -> _Counted:
        from stube.store import sqlite

        self._fsync, self._batch = os.fsync, sqlite._write_batch

        def fsync(fd: int) -> None:
            self.fsyncs += 1
            self._fsync(fd)

        def batch(conn: Any, items: list[Any]) -> list[int]:
            self.commits += 1
            return self._batch(conn, items)

        os.fsync, sqlite._write_batch = fsync, batch  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from stube.store import sqlite

        os.fsync, sqlite._write_batch = self._fsync, self._batch  # type: ignore[assignment]


async def _runtime_events(store: Any, conversations: int, events: int) -> tuple[float, float, float]:
    """(CPU µs per event, fsyncs per event, SQLite commits per event) of ``conversations`` counters at once.

    The runtime's event path (lock, kernel, durable save, commit) without HTTP: each
    conversation folds its next event once its previous one is saved.
    """
    from stube.kernel import Env, Event
    from stube.runtime import Runtime

    rt = Runtime(env=Env(), store=store)
    await rt.start()
    try:
        cids = []
        for _ in range(conversations):
            out = await rt.mint(Counter(n=0), owner="bench", principal=None, mount="/", base="")
            cid = out.conversation["id"]
            await rt.apply(cid, Event(out.conversation["stack"][0], "inc"))
            cids.append((cid, out.conversation["stack"][0]))
        per = max(events // conversations, 1)

        async def one(cid: str, iid: str) -> None:
            for _ in range(per):
                await rt.apply(cid, Event(iid, "inc"))

        with _Counted() as counted:
            cpu = time.process_time()
            await asyncio.gather(*(one(cid, iid) for cid, iid in cids))
            cpu = time.process_time() - cpu
        n = per * conversations
        return cpu / n * 1e6, counted.fsyncs / n, counted.commits / n
    finally:
        await rt.shutdown()


async def bench_http_events(b: Bench) -> None:
    """(c) the issue's target: event throughput through uvicorn and the runtime, per store."""
    from bench.sqlite_store import fsync_p50

    if not shutil.which("wrk"):
        print("(c) skipped: wrk is missing (./run bench installs it)")
        return
    conversations, seconds = 16, 3 if b.quick else 5
    print(f"(c) events/s over HTTP (uvicorn on CPU 0, wrk on CPU 1; {conversations} conversations; "
          "every event saved durably before it is acknowledged)")
    disk = b.fresh_folder()
    fsync = fsync_p50(disk, 100 if b.quick else 400)
    print(f"    disk fsync p50 {fsync * 1e3:.3f} ms (write + fsync of a small file in {b.folder})")
    redis_url = b.redis_url.rsplit("/", 1)[0] + "/1"  # a database of its own (earlier sections filled /0)
    redis_before = b.redis_url.rsplit("/", 1)[0] + "/2"

    def specs(before: bool) -> dict[str, str]:
        name = "http-before" if before else "http"
        return {"memory": "memory", "sqlite": f"sqlite:{disk / name}.sqlite", "file": f"file:{disk / name}",
                "redis": redis_before if before else redis_url}

    trees: list[tuple[str, Path | None]] = [("", None)]
    if b.before is not None:
        trees.append((" (before)", b.before))
    runs: dict[str, list[tuple[float, float, float, float]]] = {
        kind + label: [] for kind in specs(False) for label, _ in trees}
    for _ in range(b.rounds):  # alternating rounds: a busy spell on the shared machine hits every store
        for kind in specs(False):
            for label, root in trees:
                spec = specs(root is not None)[kind]
                runs[kind + label].append(
                    await asyncio.to_thread(_http_events, spec, conversations, seconds, root))
    best = {kind: max(measured) for kind, measured in runs.items()}  # each store's least disturbed round
    for kind, (rate, *_) in best.items():
        label = " (before)" if kind.endswith(" (before)") else ""
        b.record(f"http events {kind}", rate, "events/s", None if kind.startswith("memory") else
                 f"http events memory{label}")
    base = best["memory"][0]
    print("    targets (issue 13: over HTTP, 16 conversations, ratio to memory in this run):")
    for kind, target in (("sqlite", 0.5), ("file", 0.4)):
        ratio = best[kind][0] / base
        was = (f"   (before: {best[kind + ' (before)'][0] / best['memory (before)'][0]:.2f}x)"
               if b.before is not None else "")
        print(f"      {kind:<7} >= {target:.2f}x: {ratio:.2f}x  {'met' if ratio >= target else 'NOT met'}{was}")
    print("    what bounds each, over HTTP: the server's CPU per event (its one core is the limit when it is")
    print("    busy all the time; 'CPU ratio' = memory's CPU per event / the store's: the events/s ratio the")
    print("    core alone allows), and the fsyncs and SQLite commits (one WAL fsync each) per save:")
    print(f"      {'store':<16} {'CPU µs/event':>12} {'core busy':>9} {'CPU ratio':>9} {'fsyncs/save':>11} "
          f"{'commits/save':>12}")
    for kind, (rate, cpu, fsyncs, commits) in best.items():
        base_cpu = best["memory (before)" if kind.endswith(" (before)") else "memory"][1]
        print(f"      {kind:<16} {cpu:>12,.0f} {cpu * rate / 1e6:>9.0%} {base_cpu / cpu:>8.2f}x {fsyncs:>11.2f} "
              f"{commits:>12.2f}" + ("   (the server's side; redis-server is another process)"
                                    if kind == "redis" else ""))
    print("    floors on this disk, in process, one at a time (CPU µs, kernel time included):")
    events = 800 if b.quick else 3000
    for kind in ("memory", "sqlite", "file"):
        store: Any = (InMemoryStore() if kind == "memory" else SQLiteStore(disk / f"rt-{b.rounds}.sqlite")
                      if kind == "sqlite" else FileStore(b.fresh_folder()))
        try:
            in_cpu, fsyncs, commits = await _runtime_events(store, conversations, events)
        finally:
            await close(store)
        print(f"      runtime event + save, {kind:<7} (16 conversations, no HTTP): {in_cpu:>5,.0f} CPU µs/event, "
              f"{fsyncs:.2f} fsyncs, {commits:.2f} commits per event")
    replace, commit = _floors(disk, 100 if b.quick else 400)
    print(f"      one atomic file replace (create, write, fsync, rename, folder fsync): {replace:>5,.0f} CPU µs")
    print(f"      one durable SQLite commit of two small rows (WAL, synchronous=FULL):  {commit:>5,.0f} CPU µs")


def _floors(folder: Path, n: int) -> tuple[float, float]:
    """CPU µs of one bare atomic file replace and of one bare durable SQLite commit, on ``folder``'s disk."""
    import sqlite3

    from stube._atomic import DirSync, write_atomic

    sub = folder / "floors"
    sub.mkdir()
    sync, data = DirSync(str(sub)), b"x" * 4096
    cpu = time.process_time()
    for i in range(n):
        write_atomic(str(sub / "c.json"), data, tmp=str(sub / f".c.{i}.tmp"), sync_dir=sync)
    replace = (time.process_time() - cpu) / n * 1e6
    conn = sqlite3.connect(sub / "floor.sqlite", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
        cpu = time.process_time()
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO t VALUES ('a', ?)", (data[:300],))
            conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (f"h{i % 50}", data[:300]))
            conn.execute("COMMIT")
        commit = (time.process_time() - cpu) / n * 1e6
    finally:
        conn.close()
    return replace, commit


SECTIONS: list[Callable[[Bench], Awaitable[None]]] = [bench_saves, bench_events, bench_load_all, bench_http_events]


def main(extra: list[Callable[[Bench], Awaitable[None]]] = ()) -> dict[str, float]:  # type: ignore[assignment]
    quick = "--quick" in sys.argv[1:]
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv[1:-1] else None
    before = Path(sys.argv[sys.argv.index("--before") + 1]).resolve() if "--before" in sys.argv[1:-1] else None
    folder = Path(tempfile.mkdtemp(prefix="stube-bench-stores-"))
    try:
        with redis_server() as url:
            bench = Bench(folder, url, quick=quick, rounds=1 if quick else 3, before=before)
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"stores benchmark (python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
                  f"load average {load}; best of {bench.rounds} rounds)")

            async def run() -> None:
                for section in [*SECTIONS, *extra]:
                    if only is None or only in section.__name__:
                        await section(bench)

            asyncio.run(run())
            return bench.results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
