"""Fan-out: ``publish`` to 1,000 subscribed conversations with open streams, in process.

    python -m bench.fanout [--conversations 1000] [--rounds 30] [--store memory|sqlite|file]

Each conversation is a page whose component subscribes to one topic and
re-renders the message it hears; each has one open SSE stream (the runtime's
own ``open_stream``, no sockets) whose body, ``Runtime.events`` (what the HTTP
layer streams to the browser), is read by one task for the whole run, as a
server's response task would. One round publishes one message and waits until
every body has yielded that round's fragment; the figure is the wall-clock time
from ``publish`` to the last arrival (and the median arrival), p50 and p99 over
the rounds. Persistence is in memory unless ``--store`` says otherwise (a durable
store adds its save per conversation, in a temporary folder).

Target (issue 13): every fragment delivered in <= 100 ms, p99 of the last arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stube import Component, event, subscribe  # noqa: E402
from stube.kernel import Env, Event  # noqa: E402
from stube.runtime import Runtime, Settings  # noqa: E402
from stube.store import FileStore, InMemoryStore  # noqa: E402
from stube.store.sqlite import SQLiteStore  # noqa: E402

TOPIC = "bench-fanout"


class Board(Component):
    """Shows the last message of the topic."""

    name = "bench/fanout-board"
    template_string = '<div {{ root() }}><span class="msg">{{ self.last }}</span></div>'

    def __init__(self) -> None:
        self.last = ""
        self.pokes = 0

    def start(self):  # type: ignore[no-untyped-def]
        return subscribe(TOPIC, "hear")

    def hear(self, message: str) -> None:
        self.last = message

    @event
    def poke(self) -> None:
        self.pokes += 1


def make_store(kind: str, folder: str) -> Any:
    if kind == "sqlite":
        return SQLiteStore(Path(folder) / "fanout.db")
    if kind == "file":
        return FileStore(Path(folder) / "conversations")
    return InMemoryStore()


async def main(conversations: int, rounds: int, store: str = "memory") -> None:
    with tempfile.TemporaryDirectory(prefix="stube-fanout-") as folder:
        await measure(conversations, rounds, make_store(store, folder), store)


async def measure(conversations: int, rounds: int, store: Any, kind: str) -> None:
    rt = Runtime(env=Env(), store=store, settings=Settings(max_streams_per_session=conversations + 1))
    await rt.start()
    state: dict[str, Any] = {"marker": b"", "arrivals": [], "all": asyncio.Event()}

    async def reader(body: AsyncIterator[bytes]) -> None:
        # What the SSE response does with the body: take each message as it comes.
        async for chunk in body:
            marker = state["marker"]
            if marker and marker in chunk:
                arrivals = state["arrivals"]
                arrivals.append(time.perf_counter())
                if len(arrivals) == conversations:
                    state["all"].set()

    readers: list[asyncio.Task[None]] = []
    try:
        streams = []
        for i in range(conversations):
            out = await rt.mint(Board, owner=f"owner-{i % 50}", principal=None, mount="/", base="")
            cid = out.conversation["id"]
            stream = await rt.open_stream(cid, "page", out.conversation.get("version", 0))
            assert stream is not None
            streams.append(stream)
            iid = out.conversation["stack"][-1]
            await rt.apply(cid, Event(iid, "poke"))  # used once, as a page someone clicked
        readers = [asyncio.create_task(reader(rt.events(s))) for s in streams]
        await asyncio.sleep(0.1)  # every body yields its opening keepalive (and what opening queued), then waits
        subscribers = rt.subscribers(TOPIC)
        lasts: list[float] = []
        medians: list[float] = []
        cpus: list[float] = []  # CPU time of this process per round: what the neighbours do not inflate
        for n in range(rounds):
            arrivals: list[float] = []
            state.update(marker=f"round-{n}<".encode(), arrivals=arrivals, all=asyncio.Event())
            cpu = time.process_time()
            start = time.perf_counter()
            rt.publish(TOPIC, f"round-{n}")
            await asyncio.wait_for(state["all"].wait(), 30)
            cpus.append((time.process_time() - cpu) * 1000)
            lasts.append((max(arrivals) - start) * 1000)
            medians.append((statistics.median(arrivals) - start) * 1000)
    finally:
        await rt.shutdown()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    p50, p99 = _p50_p99(lasts)
    print(f"fan-out: {subscribers} subscribers, {len(streams)} open streams, {rounds} rounds, {kind} store "
          "(wall clock; the machine may be shared)")
    print(f"last arrival after publish: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"{p99 / len(streams) * 1000:.1f} µs per conversation; median arrival p50 {_p50_p99(medians)[0]:.1f} ms; "
          f"CPU per round p50 {statistics.median(cpus):.1f} ms, max {max(cpus):.1f} ms")
    print(f"target: p99 of the last arrival <= 100 ms: {p99:.1f} ms ({p99 / 100:.2f}x of the budget) "
          f"{'met' if p99 <= 100 else 'NOT met'}")


def _p50_p99(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--store", choices=("memory", "sqlite", "file"), default="memory")
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.rounds, args.store))
