"""A FileStore folder belongs to one process: a second one fails at start-up, naming the folder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stube.store import FileStore, FolderInUse
from tests.store_support import counter_conversation

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]

SECOND = textwrap.dedent("""
    import sys
    from stube.store import FileStore, FolderInUse
    try:
        FileStore(sys.argv[1])
    except FolderInUse as exc:
        print("refused:", exc)
        sys.exit(3)
    print("started")
""")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def second_process(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SECOND, str(folder)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


async def test_a_second_process_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "conversations"
    store = FileStore(folder)
    also_mine = FileStore(folder)  # the same process may open it again (tests, a restart in place)
    await store.save(counter_conversation())
    run = second_process(folder)
    assert run.returncode == 3, run.stdout + run.stderr
    assert str(folder) in run.stdout
    assert "SQLiteStore" in run.stdout and "RedisStore" in run.stdout

    await also_mine.aclose()
    assert second_process(folder).returncode == 3  # still held by the other store of this process
    await store.aclose()  # shutdown releases the folder: a new process may take over
    run = second_process(folder)
    assert run.returncode == 0 and run.stdout.strip() == "started", run.stdout + run.stderr
    assert len(await store.load_all()) == 1  # the closed store takes the folder again when used


def test_a_folder_held_by_another_process_refuses_this_one(tmp_path: Path) -> None:
    folder = tmp_path / "conversations"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from stube.store import FileStore; s = FileStore(sys.argv[1]); "
                               "print('ready', flush=True); sys.stdin.read()", str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(FolderInUse, match="SQLiteStore") as info:
            FileStore(folder)
        assert str(folder) in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    FileStore(folder)  # the holder exited: the lock went with it


def test_a_child_forked_after_start_up_does_not_share_the_folder(tmp_path: Path) -> None:
    """gunicorn --preload forks workers after the app (and its FileStore) was built: each is refused."""
    import asyncio
    import os

    store = FileStore(tmp_path / "conversations")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: using the inherited store must fail, not silently share the lock
        code = 1
        try:
            asyncio.run(store.check())
        except FolderInUse:
            code = 3
        except BaseException:
            code = 2
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == bytes([3])
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    asyncio.run(store.check())  # the parent still holds it
