"""Durability across a crash: what a killed process acknowledged is in the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stube.stash import FileStashStore, SQLiteStashStore, Stash
from tests.stash_child import SECRET, VIEW

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CHILD = Path(__file__).with_name("stash_child.py")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def run_and_kill(kind: str, where: str, acks: int) -> int:
    """Start the child, SIGKILL it right after reading its ``acks``-th acknowledgement."""
    proc = subprocess.Popen([sys.executable, str(CHILD), kind, where, "the-session"],
                            stdout=subprocess.PIPE, text=True)
    last = -1
    try:
        assert proc.stdout is not None
        while last < acks - 1:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"child exited early with {proc.wait()}")
            last = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return last


async def check(stash: Stash, last: int) -> None:
    data = await stash.session("the-session").get_view(VIEW)
    for i in range(last + 1):
        assert data.get(f"k{i}") == i, f"acknowledged write k{i} was lost"
    assert data["last"] >= last
    await stash.aclose()


@pytest.mark.parametrize("acks", [1, 25])
async def test_file_writes_acknowledged_before_sigkill_survive(tmp_path: Path, acks: int) -> None:
    last = run_and_kill("file", str(tmp_path), acks)
    # A corrupt (torn) file would read as empty and fail the check.
    await check(Stash(FileStashStore(tmp_path), secret=SECRET), last)


@pytest.mark.parametrize("acks", [1, 25])
async def test_sqlite_writes_acknowledged_before_sigkill_survive(tmp_path: Path, acks: int) -> None:
    last = run_and_kill("sqlite", str(tmp_path / "stash.sqlite"), acks)
    await check(Stash(SQLiteStashStore(tmp_path / "stash.sqlite"), secret=SECRET), last)


@pytest.mark.redis
@pytest.mark.parametrize("acks", [1, 25])
async def test_redis_writes_acknowledged_before_sigkill_survive(redis_url: str, acks: int) -> None:
    import redis

    from stube.stash_redis import RedisStashStore

    with redis.Redis.from_url(redis_url) as r:
        r.flushdb()
    last = run_and_kill("redis", redis_url, acks)
    await check(Stash(RedisStashStore(redis_url), secret=SECRET), last)
