"""Conversation stores: where conversations live between processes.

The runtime keeps every live conversation in memory. A store is the copy that
survives a restart (``FileStore``) or is shared by several processes
(``stube.redis_store.RedisStore``). The runtime calls:

* ``await store.load_all()`` once at start-up, before serving;
* ``await store.save(conv)`` after every successful swap (never twice for one
  write);
* ``await store.delete(cid)`` when a conversation ends or is reaped;
* ``await store.aclose()``, if the store has one, at shutdown.

A store that fails raises; the runtime logs the failure and the request that
caused it still succeeds, because the live conversation in memory is the
truth while the process runs.

Saves of one conversation land in the order they were called, even when the
caller does not wait for them (write-behind): a queued save is replaced by a
newer one, and ``aclose()`` waits for every save already started.

Conversations holding a live, unserialisable flow continuation are not saved
at all (see :class:`FlowGuard`); they keep working in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from . import conversation as cv
from . import flows
from .errors import StubeError

__all__ = [
    "ConversationStore",
    "FileStore",
    "FlowGuard",
    "InMemoryStore",
    "StaleWrite",
    "check_conversation",
    "decode",
    "encode",
]

log = logging.getLogger("stube.store")

#: Suffix of FileStore's temporary files. ``load_all`` never reads them.
TMP_SUFFIX = ".stube-tmp"


class StaleWrite(StubeError):
    """A save refused because another process already stored a newer version, or this one differently.

    That process committed the conversation further than (or as far as, from
    the same starting point) the value being saved, so writing it would lose
    that work. ``version`` is what was offered, ``stored`` what is kept.
    """

    def __init__(self, cid: str, version: int, stored: int) -> None:
        super().__init__(
            f"conversation {cid}: version {version} not saved, the store already holds version {stored}"
        )
        self.cid = cid
        self.version = version
        self.stored = stored


@runtime_checkable
class ConversationStore(Protocol):
    """Where conversations are persisted. Every method may raise on backend failure.

    The runtime catches and logs what ``save`` and ``delete`` raise without
    failing the request. ``load_all`` raises only when the backend itself
    cannot be read; single unreadable entries are skipped with a warning.
    A store may also offer ``async aclose()``, called at shutdown.
    """

    async def load_all(self) -> dict[str, dict]:
        """Every stored conversation, ``{cid: conversation}``. Called once, before serving.

        Entries that cannot be read are skipped with a warning, never a crash.
        """
        ...

    async def save(self, conv: dict) -> None:
        """Replace the stored value of ``conv["id"]``; durable when it returns.

        Saves of one conversation take effect in the order they were called.
        """
        ...

    async def delete(self, cid: str) -> None:
        """Forget ``cid``. Idempotent: deleting an unknown id is not an error."""
        ...


class InMemoryStore:
    """The default store: the runtime's live map is the only copy.

    It keeps nothing (a second copy of every conversation would double the
    memory), so nothing survives a restart.
    """

    async def load_all(self) -> dict[str, dict]:
        return {}

    async def save(self, conv: dict) -> None:
        return None

    async def delete(self, cid: str) -> None:
        return None

    def __repr__(self) -> str:
        return "InMemoryStore()"


# -- shared helpers -------------------------------------------------------


def encode(conv: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes; NaN and infinities are refused rather than written as non-JSON."""
    return json.dumps(conv, separators=(",", ":"), allow_nan=False).encode("ascii")


class Encoder:
    """:func:`encode` for a store that writes the same conversations again and again.

    History entries never change once written (each event appends one and the
    oldest falls off), yet they are most of a conversation's JSON. The encoder
    remembers each conversation's encoded entries by identity and encodes only
    the new one: a save costs what the step changed, not the history's length.
    """

    def __init__(self) -> None:
        self._entries: dict[str, list[tuple[Any, bytes]]] = {}

    def encode(self, conv: Mapping[str, Any]) -> bytes:
        history = conv.get("history")
        if not history:
            self._entries.pop(conv["id"], None)
            return encode(conv)
        # The entries held in the previous list keep their ids from being reused.
        known = {id(entry): data for entry, data in self._entries.get(conv["id"], ())}
        pairs = [(entry, known.get(id(entry)) or encode(entry)) for entry in history]
        self._entries[conv["id"]] = pairs
        head = encode({k: v for k, v in conv.items() if k != "history"})
        return b"%s,\"history\":[%s]}" % (head[:-1], b",".join(data for _, data in pairs))

    def forget(self, cid: str) -> None:
        self._entries.pop(cid, None)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def decode(raw: bytes | str) -> Any:
    """Parse stored JSON (UTF-8). Plain JSON parsing: nothing is ever evaluated or constructed."""
    if not isinstance(raw, str):
        raw = raw.decode("utf-8")
    return _DECODER.decode(raw)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many fresh objects that are all kept.

    Loading thousands of conversations otherwise triggers repeated full
    collections over everything loaded so far (half of the load time).
    Only used by ``load_all``, which runs once, before serving.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def valid_cid(cid: Any) -> bool:
    """A well-formed conversation id, matched in full (``$`` alone would accept a trailing newline)."""
    return isinstance(cid, str) and cv.CID_RE.fullmatch(cid) is not None


def require_cid(cid: Any) -> str:
    """``cid`` if it is a well-formed conversation id, else ``ValueError`` (nothing is touched)."""
    if not valid_cid(cid):
        raise ValueError(f"not a conversation id: {cid!r}")
    return cid


def _is_int(value: Any) -> bool:
    return type(value) is int


def check_conversation(value: Any, cid: str | None = None) -> str | None:
    """Why ``value`` is not a restorable conversation (stored under ``cid``), or ``None`` if it is."""
    if not isinstance(value, dict):
        return f"not a JSON object but {type(value).__name__}"
    got = value.get("id")
    if not valid_cid(got):
        return f"id {got!r} is not a conversation id"
    if cid is not None and got != cid:
        return f"id {got!r} does not match its name {cid!r}"
    fmt = value.get("format")
    if not _is_int(fmt) or not 1 <= fmt <= cv.FORMAT:
        return f"unsupported format {fmt!r}"
    version = value.get("version")
    if not _is_int(version) or version < 0:
        return f"version {version!r} is not a non-negative int"
    stack, instances = value.get("stack"), value.get("instances")
    if not isinstance(stack, list) or not all(isinstance(i, str) for i in stack):
        return "stack is not a list of instance ids"
    if not isinstance(instances, dict) or not all(isinstance(r, dict) for r in instances.values()):
        return "instances is not an object of records"
    missing = [i for i in stack if i not in instances]
    if missing:
        return f"stack names unknown instances {missing[:3]}"
    if not isinstance(value.get("history"), list):
        return "history is not a list"
    return None


class FlowGuard:
    """Decides whether a conversation can be saved, warning once per conversation if not.

    A live flow continuation (a greenlet or a generator) cannot be
    serialised, so a conversation holding one is skipped; the first skip logs
    one WARNING naming the conversation and the flow types. Later skips of
    the same conversation are silent until :meth:`forget` (on delete).
    """

    def __init__(self) -> None:
        self._warned: set[str] = set()

    def skip(self, conv: Mapping[str, Any]) -> bool:
        live = flows.live_continuations(conv)  # looked up at call time: the flows module owns it
        if not live:
            return False
        cid = conv["id"]
        if cid not in self._warned:
            self._warned.add(cid)
            names = ", ".join(sorted({name for _, name in live}))
            log.warning(
                "conversation %s not saved: it holds a live flow (%s) that cannot be serialised; "
                "it keeps working in memory but will not survive a restart or move to another process. "
                "Use @stube.flow(durable=True) or a task component to persist it.",
                cid, names,
            )
        return True

    def forget(self, cid: str) -> None:
        self._warned.discard(cid)


class _Lane:
    __slots__ = ("op", "waiters", "task")

    def __init__(self) -> None:
        self.op: Callable[[], Awaitable[None]] | None = None
        self.waiters: list[asyncio.Future[None]] = []
        self.task: asyncio.Task[None] | None = None


class Lanes:
    """Per-key write ordering with coalescing.

    Writes for one key run one at a time, in call order; while one runs, the
    next queued write replaces any older queued one (only the newest value
    matters), and every caller returns when a write at least as new as theirs
    has finished (or gets its exception). Different keys run concurrently.
    Nothing is kept for idle keys.
    """

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    async def submit(self, key: str, op: Callable[[], Awaitable[None]]) -> None:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.op = op
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.waiters.append(fut)
        if lane.task is None:
            lane.task = asyncio.get_running_loop().create_task(self._drain(key, lane))
        await fut

    async def _drain(self, key: str, lane: _Lane) -> None:
        try:
            while lane.op is not None:
                op, waiters = lane.op, lane.waiters
                lane.op, lane.waiters = None, []
                try:
                    # Runs in this task, not the caller's: a cancelled caller never abandons a write.
                    await op()
                except Exception as exc:
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                except BaseException:  # this task was cancelled (loop shutdown)
                    for w in waiters:
                        w.cancel()
                    raise
                else:
                    for w in waiters:
                        if not w.done():
                            w.set_result(None)
        finally:
            for w in lane.waiters:  # queued behind a cancelled drain
                w.cancel()
            lane.task = None
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    async def wait_idle(self) -> None:
        """Return once every submitted write has finished (for shutdown after write-behind saves)."""
        while self._lanes:
            tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
            if not tasks:
                return
            await asyncio.wait(tasks)

    def __len__(self) -> int:
        return len(self._lanes)


# -- FileStore ------------------------------------------------------------


class _DirSync:
    """Group commit of the folder's ``fsync``: one call covers every rename made before it started.

    A rename is durable once the folder is synced. Concurrent writers each
    take a ticket after their rename; a writer whose ticket is already
    covered by a finished sync returns at once, so N concurrent saves cost
    far fewer than N folder syncs.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._syncing = threading.Lock()
        self._issued = 0  # tickets handed out (one per rename or unlink)
        self._covered = 0  # every ticket up to this one is durable

    def __call__(self) -> None:
        with self._mutex:
            self._issued += 1
            ticket = self._issued
        with self._syncing:
            if self._covered >= ticket:
                return  # a sync that started after our rename has finished
            with self._mutex:
                target = self._issued
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._covered = target


class FileStore:
    """One ``<cid>.json`` per conversation in ``directory``, and nothing else at rest.

    Each save writes a temporary file in the same folder, flushes and
    ``fsync``s it, renames it over the old file and ``fsync``s the folder, so
    a crash leaves either the old or the new conversation, never half of one,
    and a save that returned survives a power cut. Files are created
    ``0600`` (conversations carry session hashes and principals) in a folder
    created ``0700`` if missing. Ids are checked against the conversation id
    pattern before any path is built, so no id can name a file outside the
    folder.

    File I/O runs on the store's own ``workers`` threads (so slow ``io()``
    jobs elsewhere cannot hold up saves, and the event loop never waits on
    the disk); writes of one conversation never reorder. One process owns a
    folder: ``load_all`` removes temporary files left by a crash.
    """

    def __init__(self, directory: str | os.PathLike[str], *, workers: int = 16) -> None:
        self.directory = Path(os.path.abspath(directory))  # a later chdir must not move the store
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._dir = os.fspath(self.directory)
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._sync_dir = _DirSync(self._dir)
        self._guard = FlowGuard()
        self._lanes = Lanes()
        self._encoder = Encoder()

    def __repr__(self) -> str:
        return f"FileStore({self._dir!r})"

    def path(self, cid: str) -> Path:
        """Where ``cid`` is stored (``ValueError`` for a malformed id)."""
        return self.directory / f"{require_cid(cid)}.json"

    def _run(self, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="stube-filestore")
        return asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def load_all(self) -> dict[str, dict]:
        return await self._run(self._load_all)

    async def save(self, conv: dict) -> None:
        cid = require_cid(conv.get("id") if isinstance(conv, dict) else None)
        if self._guard.skip(conv):
            return
        # Encoded on the loop thread: a consistent snapshot, whatever happens to ``conv`` next.
        data = self._encoder.encode(conv)
        await self._lanes.submit(cid, lambda: self._run(self._write, cid, data))

    async def delete(self, cid: str) -> None:
        require_cid(cid)
        self._guard.forget(cid)
        self._encoder.forget(cid)
        await self._lanes.submit(cid, lambda: self._run(self._remove, cid))

    async def aclose(self) -> None:
        """Finish every pending write, then stop the worker threads. The store can still be used."""
        await self._lanes.wait_idle()
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    # -- blocking parts, run in worker threads --

    def _write(self, cid: str, data: bytes) -> None:
        final = os.path.join(self._dir, cid + ".json")
        tmp = os.path.join(self._dir, f".{cid}.{secrets.token_hex(4)}{TMP_SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileNotFoundError:  # the folder was removed under us
            os.makedirs(self._dir, mode=0o700, exist_ok=True)
            fd = os.open(tmp, flags, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self._sync_dir()

    def _remove(self, cid: str) -> None:
        try:
            os.unlink(os.path.join(self._dir, cid + ".json"))
        except FileNotFoundError:
            return
        self._sync_dir()

    def _load_all(self) -> dict[str, dict]:
        with _gc_paused():
            return self._read_folder()

    def _read_folder(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
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
            stem = name[:-5]
            if not entry.is_file(follow_symlinks=False):
                log.warning("skipping %s: not a regular file", entry.path)
                continue
            try:
                with open(entry.path, "rb") as f:
                    raw = f.read()
            except OSError as exc:
                log.warning("skipping %s: cannot read it (%s)", entry.path, exc)
                continue
            try:
                value = decode(raw)
            except (ValueError, RecursionError) as exc:
                log.warning("skipping %s: not valid JSON (%s)", entry.path, exc)
                continue
            reason = check_conversation(value, stem)
            if reason is not None:
                log.warning("skipping %s: not a stube conversation (%s)", entry.path, reason)
                continue
            out[stem] = value
        return out
