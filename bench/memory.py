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

After each figure, where the bytes go: the conversation values walked part by
part (``sys.getsizeof``, each object counted once however many conversations
share it, so a shared root spec costs nothing per conversation), and the rest
of the traced growth as the runtime's own bookkeeping (the live map, the use
order, sets of ids).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from collections import Counter as Tally
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


#: The parts of a conversation the breakdown names, in the order it walks them (first seen, first billed).
PARTS = ("conversation dict", "instance map and ids (cid, iids)", "records", "component state", "stack",
         "history (undo log)", "root_spec", "other keys (owner, mount, touched, ...)")


def breakdown(conversations: Iterable[dict[str, Any]]) -> Tally[str]:
    """Bytes of the conversation values by part; an object shared by several is counted once."""
    seen: set[int] = set()
    out: Tally[str] = Tally()

    def add(obj: Any, part: str) -> None:
        todo = [obj]
        while todo:
            x = todo.pop()
            if id(x) in seen:
                continue
            seen.add(id(x))
            out[part] += sys.getsizeof(x)
            if type(x) is dict:
                todo.extend(x.keys())
                todo.extend(x.values())
            elif type(x) is list:
                todo.extend(x)

    for conv in conversations:
        seen.add(id(conv))
        out[PARTS[0]] += sys.getsizeof(conv)
        add(conv["id"], PARTS[1])
        instances = conv["instances"]
        seen.add(id(instances))
        out[PARTS[1]] += sys.getsizeof(instances)  # the map itself, with its keys: ids
        for iid, rec in instances.items():
            add(iid, PARTS[1])
            add(rec.get("state"), PARTS[3])
            add(rec, PARTS[2])
        for key, value in conv.items():
            seen.add(id(key))  # key strings are shared literals
            part = {"stack": PARTS[4], "history": PARTS[5], "root_spec": PARTS[6]}.get(key, PARTS[7])
            add(value, part)
    return out


def report(label: str, total: float, target: int, parts: Tally[str], conversations: int) -> None:
    print(f"{label:27s}{total:8.0f} B   target <= {target} B: {total / target:.2f}x "
          f"{'met' if total <= target else 'NOT met'}")
    walked = 0.0
    for part in PARTS:
        each = parts[part] / conversations
        walked += each
        if each >= 0.5:
            print(f"    {part:42s}{each:7.0f} B")
    print(f"    {'runtime bookkeeping (live map, use order)':42s}{total - walked:7.0f} B")


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
        # The script's own list of ids; the id strings themselves are the conversations' (billed to them).
        ids = sys.getsizeof(cids)
        viewed_parts = breakdown(rt.conversations[cid] for cid in cids)
        for cid in cids:
            conv = rt.conversations[cid]
            await rt.apply(cid, Event(conv["stack"][-1], "inc"))
        used = traced()
        used_parts = breakdown(rt.conversations[cid] for cid in cids)
        tracemalloc.stop()
    finally:
        await rt.shutdown()
    page_view = (viewed - base - ids) / conversations
    after_event = (used - base - ids) / conversations
    print(f"memory per conversation ({conversations} conversations, tracemalloc, in process)")
    report("page view only:", page_view, 1024, viewed_parts, conversations)
    report("idle counter, one event:", after_event, 2048, used_parts, conversations)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=5000)
    asyncio.run(main(parser.parse_args().conversations))
