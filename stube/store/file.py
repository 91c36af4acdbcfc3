"""``FileStore``: one ``<cid>.json`` per conversation in a folder owned by one process."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .._atomic import DirSync, write_atomic
from ..errors import StubeError
from .codec import Encoder, _gc_paused, check_conversation, decode, require_cid
from .lanes import Lanes

__all__ = ["TMP_SUFFIX", "FileStore", "FolderInUse"]

log = logging.getLogger("stube.store")

#: Suffix of FileStore's temporary files. ``load_all`` never reads them.
TMP_SUFFIX = ".stube-tmp"


class FolderInUse(StubeError, RuntimeError):
    """Another process already uses this ``FileStore`` folder (it would lose that process's writes)."""


# (st_dev, st_ino) of a locked folder -> [descriptor holding the flock, number of FileStores using it],
# for the process in _owner: a forked child starts with none (the parent's locks are not its own).
_held: dict[tuple[int, int], list[int]] = {}
_held_mutex = threading.Lock()
_owner = [os.getpid()]


class _FolderLock:
    """An exclusive ``flock`` on the folder itself, shared by every FileStore of this process.

    The lock is taken on the folder's own descriptor rather than on a lock
    file, so the folder keeps holding nothing but conversations. flock locks
    belong to an open file description: other processes (including children
    forked after the lock was taken, which :meth:`acquire` detects by pid)
    are refused, stores of this process share one descriptor.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._key: tuple[int, int] | None = None
        self._pid = 0

    def acquire(self) -> None:
        if self._key is not None and self._pid == os.getpid():
            return
        self._key = None
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        with _held_mutex:
            if _owner[0] != os.getpid():
                _held.clear()
                _owner[0] = os.getpid()
            held = _held.get(key)
            if held is not None and held[1] > 0:
                os.close(fd)
                held[1] += 1
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                        raise
                    raise FolderInUse(
                        f"FileStore folder {self.path} is already used by another process. A FileStore "
                        "serves one process; for several (uvicorn --workers N) use stube.SQLiteStore(path) "
                        "on one machine or stube.RedisStore(url) across machines.") from None
                _held[key] = [fd, 1]
        self._key, self._pid = key, os.getpid()

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None or self._pid != os.getpid():
            return
        with _held_mutex:
            held = _held.get(key) if _owner[0] == os.getpid() else None
            if held is None:
                return
            held[1] -= 1
            if held[1] <= 0:
                del _held[key]
                os.close(held[0])  # closing the descriptor releases the lock


class FileStore:
    """One ``<cid>.json`` per conversation in ``directory``, and nothing else at rest.

    Each save is an atomic, durable replace (:mod:`stube._atomic`), so a crash
    leaves either the old or the new conversation, and a save that returned
    survives a power cut; a save that could not be made durable raises.
    Files are created ``0600`` (conversations carry session hashes and
    principals) in a folder created ``0700`` if missing. Ids are checked
    against the conversation id pattern before any path is built.

    One process owns a folder: the constructor takes an exclusive lock on it
    and raises :class:`FolderInUse` if another process holds it, so the error
    comes at start-up, before any request, and no write of this store ever
    happens without the lock (``load_all`` alone would leave a store that
    only saves unprotected). :meth:`aclose` releases it; a later use takes it
    again. File I/O runs on the store's own ``workers`` threads; writes of one
    conversation never reorder.
    """

    def __init__(self, directory: str | os.PathLike[str], *, workers: int = 16) -> None:
        self.directory = Path(os.path.abspath(directory))  # a later chdir must not move the store
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._dir = os.fspath(self.directory)
        self._lock = _FolderLock(self._dir)
        self._lock.acquire()
        weakref.finalize(self, self._lock.release)
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._sync_dir = DirSync(self._dir)
        self._lanes = Lanes()
        self._encoder = Encoder()

    def __repr__(self) -> str:
        return f"FileStore({self._dir!r})"

    def path(self, cid: str) -> Path:
        """Where ``cid`` is stored (``ValueError`` for a malformed id)."""
        return self.directory / f"{require_cid(cid)}.json"

    def _run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        self._lock.acquire()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="stube-filestore")
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load_all(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = await self._run(self._load_all)
        return result

    async def save(self, conv: dict[str, Any]) -> None:
        cid = require_cid(conv.get("id") if isinstance(conv, dict) else None)
        # Encoded on the loop thread: a consistent snapshot, whatever happens to ``conv`` next.
        data = self._encoder.encode(conv)
        try:
            await self._lanes.start(cid, lambda: self._run(self._write, cid, data))
        except BaseException:
            self._encoder.forget(cid)
            raise

    async def delete(self, cid: str) -> None:
        require_cid(cid)
        self._encoder.forget(cid)
        await self._lanes.start(cid, lambda: self._run(self._remove, cid))

    async def check(self) -> None:
        """Raise unless a durable write to the folder works now (the lock held, space left)."""
        await self._run(self._probe)

    async def aclose(self) -> None:
        """Finish every pending write, stop the worker threads and release the folder lock.

        The store can still be used afterwards (it takes the lock again).
        """
        await self._lanes.wait_idle()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        self._lock.release()

    # -- blocking parts, run in worker threads --

    def _write(self, cid: str, data: bytes) -> None:
        write_atomic(os.path.join(self._dir, cid + ".json"), data, sync_dir=self._sync_dir,
                     tmp=os.path.join(self._dir, f".{cid}.{secrets.token_hex(4)}{TMP_SUFFIX}"))

    def _remove(self, cid: str) -> None:
        try:
            os.unlink(os.path.join(self._dir, cid + ".json"))
        except FileNotFoundError:
            return
        self._sync_dir()

    def _probe(self) -> None:
        name = os.path.join(self._dir, f".check.{secrets.token_hex(4)}")
        probe = name + TMP_SUFFIX  # a crash mid-check leaves only what load_all removes
        write_atomic(probe, b"{}", tmp=name + ".w" + TMP_SUFFIX, sync_dir=self._sync_dir)
        os.unlink(probe)
        free = os.statvfs(self._dir)
        if free.f_bavail == 0:
            raise OSError(errno.ENOSPC, f"no space left for FileStore {self._dir}")

    def _load_all(self) -> dict[str, dict[str, Any]]:
        with _gc_paused():
            return self._read_folder()

    def _read_folder(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        try:
            entries = list(os.scandir(self._dir))
        except FileNotFoundError:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            return out
        for entry in entries:
            name = entry.name
            if name.endswith(TMP_SUFFIX):
                # A write interrupted by a crash; its conversation's previous file is intact.
                try:
                    os.unlink(entry.path)
                    log.info("removed interrupted write %s", entry.path)
                except OSError:
                    pass
                continue
            if not name.endswith(".json"):
                continue
            value = self._read_entry(entry)
            if value is not None:
                out[name[:-5]] = value
        return out

    def _read_entry(self, entry: os.DirEntry[str]) -> dict[str, Any] | None:
        if not entry.is_file(follow_symlinks=False):
            log.warning("skipping %s: not a regular file", entry.path)
            return None
        try:
            with open(entry.path, "rb") as f:
                raw = f.read()
        except OSError as exc:
            log.warning("skipping %s: cannot read it (%s)", entry.path, exc)
            return None
        try:
            value = decode(raw)
        except (ValueError, RecursionError) as exc:
            log.warning("skipping %s: not valid JSON (%s)", entry.path, exc)
            return None
        reason = check_conversation(value, entry.name[:-5])
        if reason is not None:
            log.warning("skipping %s: not a stube conversation (%s)", entry.path, reason)
            return None
        return value  # type: ignore[no-any-return]
