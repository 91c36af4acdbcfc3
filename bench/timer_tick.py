"""What a timer tick that changes nothing costs, with persistence on: renders, saves, bytes, CPU.

    python -m bench.timer_tick [--conversations 200] [--seconds 3]

Each conversation's root re-arms a 20 ms timer and changes nothing when it
fires (a poll that found nothing new). The conversations are used once (a
click, as a browser would), so they are saved and their timers run, then
the runtime runs for ``--seconds`` with an ``SQLiteStore`` in a temporary
folder. Counted: ticks delivered, renders (the component's ``render`` calls),
store saves and the bytes the database grew by, and CPU µs per tick; against
the same conversations' clicks, which do render and save (the baseline).

Target (issue 13): a timer tick that changes nothing costs no render and no save.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stube import Component, after, event  # noqa: E402
from stube.kernel import Env, Event  # noqa: E402
from stube.runtime import Runtime  # noqa: E402
from stube.store.sqlite import SQLiteStore  # noqa: E402

TICKS = 0
RENDERS = 0


class Poll(Component):
    """Polls every 20 ms and finds nothing new."""

    name = "bench/poll"

    def __init__(self) -> None:
        self.n = 0

    def start(self) -> Any:
        return after(0.02, "tick")

    def tick(self) -> Any:
        global TICKS
        TICKS += 1
        return after(0.02, "tick")

    def render(self) -> str:
        global RENDERS
        RENDERS += 1
        return f'<div id="{self.iid}">{self.n}</div>'

    @event
    def poke(self) -> None:
        self.n += 1


class CountingSQLiteStore(SQLiteStore):
    saves = 0

    async def save(self, conv: dict[str, Any]) -> None:
        self.saves += 1
        await super().save(conv)


def db_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


async def main(conversations: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="stube-bench-tick-") as tmp:
        folder = Path(tmp)
        store = CountingSQLiteStore(folder / "store.sqlite")
        rt = Runtime(env=Env(), store=store)
        await rt.start()
        try:
            cids = []
            for _ in range(conversations):
                out = await rt.mint(Poll, owner="bench", principal=None, mount="/", base="")
                cids.append(out.conversation["id"])
            start_cpu, renders, saves = time.process_time(), RENDERS, store.saves
            for cid in cids:  # the baseline: one click each, which renders and saves
                await rt.apply(cid, Event(rt.conversations[cid]["stack"][-1], "poke"))
            click_cpu = (time.process_time() - start_cpu) / conversations * 1e6
            click_renders, click_saves = RENDERS - renders, store.saves - saves
            global TICKS
            TICKS = 0
            renders, saves, size = RENDERS, store.saves, db_bytes(folder)
            start_cpu = time.process_time()
            await asyncio.sleep(seconds)
            tick_cpu = time.process_time() - start_cpu
            ticks, tick_renders, tick_saves = TICKS, RENDERS - renders, store.saves - saves
            grew = db_bytes(folder) - size
        finally:
            await rt.shutdown()
    print(f"timer ticks that change nothing, {conversations} conversations, SQLiteStore, {seconds:g} s")
    print(f"  clicks (baseline)  {conversations:7,} events   renders {click_renders:6,}   saves {click_saves:6,}"
          f"   {click_cpu:6.0f} CPU µs/event")
    per_tick = tick_cpu / max(ticks, 1) * 1e6
    print(f"  ticks              {ticks:7,} events   renders {tick_renders:6,}   saves {tick_saves:6,}"
          f"   {per_tick:6.0f} CPU µs/event ({per_tick / click_cpu:.2f}x a click); the database grew {grew} B")
    met = ticks > 0 and tick_renders == 0 and tick_saves == 0 and grew == 0
    print(f"target: a tick that changes nothing costs no render and no save: {tick_renders} renders, "
          f"{tick_saves} saves {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.seconds))
