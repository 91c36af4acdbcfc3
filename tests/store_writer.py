"""Save big conversations with FileStore in a loop until killed (used by test_store_atomic).

    python tests/store_writer.py <folder> <seed>

Prints ``ready`` once every conversation has been saved at least once.
Each conversation's note is ``<version>:`` followed by x's up to a length
derived from its version, so a reader can tell a complete value from a torn one.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stube.store import FileStore  # noqa: E402
from tests.store_support import big_conversation  # noqa: E402

CONVERSATIONS = 6
SIZE = 1_500_000


def note_for(version: int) -> str:
    head = f"{version}:"
    return head + "x" * (SIZE + (version * 7919) % SIZE - len(head))


async def main(folder: str, seed: int) -> None:
    rng = random.Random(seed)
    store = FileStore(folder)
    base = big_conversation(10)
    convs = []
    for i in range(CONVERSATIONS):
        conv = dict(base, id=f"cv-atomic{i:04d}")
        convs.append(conv)
    version = 1000 * seed

    async def save(conv: dict) -> None:
        nonlocal version
        version += 1
        iid = conv["stack"][-1]
        rec = conv["instances"][iid]
        state = dict(rec["state"], notes=[note_for(version)])
        conv["instances"] = {**conv["instances"], iid: dict(rec, state=state)}
        conv["version"] = version
        await store.save(dict(conv))

    for conv in convs:
        await save(conv)
    print("ready", flush=True)

    async def keep_saving(conv: dict) -> None:
        while True:
            await save(conv)
            await asyncio.sleep(rng.uniform(0, 0.002))

    # One task per conversation: one encodes while the others' writes run in threads.
    await asyncio.gather(*(keep_saving(conv) for conv in convs))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
