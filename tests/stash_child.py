"""Child process for the crash test: merge forever, acknowledging each write after it returns.

Usage: ``python tests/stash_child.py file|sqlite|redis <folder-file-or-url> <session-id>``.
Prints ``ACK <i>`` (flushed) once ``merge(..., {"k<i>": i})`` has returned.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stube.stash import FileStashStore, SQLiteStashStore, Stash  # noqa: E402

SECRET = "crash-test-secret"
VIEW = "crash.View"


async def main(kind: str, where: str, session_id: str) -> None:
    store: Any
    if kind == "file":
        store = FileStashStore(where)
    elif kind == "sqlite":
        store = SQLiteStashStore(where)
    else:
        from stube.stash_redis import RedisStashStore

        store = RedisStashStore(where)
    s = Stash(store, secret=SECRET).session(session_id)
    i = 0
    while True:
        await s.merge(VIEW, {f"k{i}": i, "last": i})
        sys.stdout.write(f"ACK {i}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
