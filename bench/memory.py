"""Memory per conversation, in process (tracemalloc): page views only, then one event each.

    python -m bench.memory [--conversations 5000]

A page view mints a conversation (the runtime's ``mint``, as ``GET`` does);
nobody has used it yet, so it is neither saved nor armed. Then one counter
event is folded into each (``apply``, as an htmx click does): the conversation
now has a history entry, is in the use order and was saved once (in memory;
the store's own copy is not counted: it is the same value). Measured: the
traced bytes the runtime holds per conversation after each step, garbage
collected first.

Targets (issue 13): <= 1 KB per never-used conversation, <= 2 KB per idle
counter conversation after one event.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stube import Component, event  # noqa: E402
from stube.kernel import Env, Event  # noqa: E402
from stube.runtime import Runtime, Settings  # noqa: E402
from stube.store import InMemoryStore  # noqa: E402


class Counter(Component):
    name = "bench/memory-counter"
    template_string = ('<div {{ root() }}><button {{ on("inc") }}>+</button> '
                       '<span class="count">{{ self.n }}</span></div>')

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def main(conversations: int) -> None:
    rt = Runtime(env=Env(), store=InMemoryStore(), settings=Settings(max_conversations=conversations * 2))
    await rt.start()
    try:
        # Warm: templates compiled, caches filled, one conversation of each kind made and dropped.
        warm = await rt.mint(Counter, owner="warm", principal=None, mount="/", base="")
        await rt.apply(warm.conversation["id"], Event(warm.conversation["stack"][-1], "inc"))
        tracemalloc.start()
        base = traced()
        cids = []
        for i in range(conversations):
            out = await rt.mint(Counter, owner=f"owner-{i:06d}", principal=None, mount="/", base="")
            cids.append(out.conversation["id"])
        viewed = traced()
        for cid in cids:
            conv = rt.conversations[cid]
            await rt.apply(cid, Event(conv["stack"][-1], "inc"))
        used = traced()
        ids = sys.getsizeof(cids) + sum(sys.getsizeof(c) for c in cids)  # this script's own list
        tracemalloc.stop()
    finally:
        await rt.shutdown()
    page_view = (viewed - base - ids) / conversations
    after_event = (used - base - ids) / conversations
    print(f"memory per conversation ({conversations} conversations, tracemalloc, in process)")
    print(f"page view only:            {page_view:8.0f} B   target <= 1024 B: "
          f"{page_view / 1024:.2f}x {'met' if page_view <= 1024 else 'NOT met'}")
    print(f"idle counter, one event:   {after_event:8.0f} B   target <= 2048 B: "
          f"{after_event / 2048:.2f}x {'met' if after_event <= 2048 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=5000)
    asyncio.run(main(parser.parse_args().conversations))
