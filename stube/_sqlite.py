"""One SQLite database file shared by processes: a connection on its own thread, short write transactions.

Both SQLite backends (conversations and the stash) sit on this. The
connection runs in WAL mode with ``synchronous=FULL`` (a committed
transaction survives a power cut) and a busy timeout, so several processes
can use one file: each write is one ``BEGIN IMMEDIATE`` … ``COMMIT``, a few
rows long. Everything that can wait (another process's lock, the disk, a
read) runs on one worker thread per database, never on the event loop.
:meth:`Database.write` is the exception that keeps a write cheap: when the
write lock is free at once and the connection idle, the statements run on
the calling thread (page-cache work, microseconds) and only the ``COMMIT``
with its fsync goes to the worker thread, one hand-off and one return of the
GIL per transaction instead of one per statement. A forked child opens its
own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["Database"]

T = TypeVar("T")


class Database:
    """``path`` opened lazily on a private worker thread; ``schema`` is run once per connection."""

    def __init__(self, path: str | os.PathLike[str], schema: str, *, timeout: float = 30.0) -> None:
        self.path = os.path.abspath(path)
        self.timeout = timeout
        self._schema = schema
        self._conn: sqlite3.Connection | None = None
        self._worker: _Worker | None = None
        self._pid = 0
        # Jobs handed to the worker, and jobs it finished (each counter written by one thread only):
        # while they differ, the connection is the worker's.
        self._submitted = 0
        self._finished = 0

    def __repr__(self) -> str:
        return f"Database({self.path!r})"

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on the worker thread."""
        if self._worker is None or self._pid != os.getpid():
            self._worker = _Worker()
            self._conn, self._pid = None, os.getpid()
            self._submitted = self._finished = 0
        self._submitted += 1
        return await self._worker.submit(self._call, fn, args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in one write transaction; its result once it is committed (durable).

        When the connection is idle and the write lock free at once, ``fn`` runs
        here, on the calling thread, and only the ``COMMIT`` on the worker
        thread; otherwise (another process holds the lock, a read is under way,
        no connection yet) the whole transaction runs on the worker thread,
        waiting up to the busy timeout. Either way a failure rolls back.
        """
        conn = self._conn
        idle = conn is not None and self._submitted == self._finished and self._pid == os.getpid()
        if conn is None or not idle or not _begin_now(conn, self.timeout):
            return await self.run(_in_transaction, fn, args)
        try:
            result = fn(conn, *args)
        except BaseException:
            _rollback(conn)
            raise
        await self.run(_commit)
        return result

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            return fn(self._conn, *args)
        finally:
            self._finished += 1  # the job's last use of the connection

    def _connect(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if not os.path.exists(self.path):  # private from the first byte: conversations carry principals
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            for attempt in range(50):  # switching to WAL needs a moment alone with the file
                try:
                    conn.execute("PRAGMA journal_mode=WAL").fetchone()
                    break
                except sqlite3.OperationalError:
                    if attempt == 49:
                        raise
                    time.sleep(0.02)
            conn.execute("PRAGMA synchronous=FULL")
            with transaction(conn):
                for statement in self._schema.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    async def aclose(self) -> None:
        """Close the connection and stop the thread; the next ``run`` opens them again."""
        worker, self._worker = self._worker, None
        if worker is None or self._pid != os.getpid():
            return
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await worker.submit(conn.close)
        finally:
            worker.stop()


class _Worker:
    """One thread running jobs in order, each answered as an asyncio future on the caller's loop.

    Leaner than a one-thread ``ThreadPoolExecutor`` (no ``concurrent.futures``
    future, condition or semaphore per job): a hand-off is a queue put and a
    ``call_soon_threadsafe``. A daemon thread: one still running at exit is
    cut off like a crash, which SQLite's transactions are made for.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="stube-sqlite", daemon=True).start()

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return future

    def stop(self) -> None:
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                outcome, ok = fn(*args), True
            except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the caller
                outcome, ok = exc, False
            try:
                loop.call_soon_threadsafe(_settle, future, outcome, ok)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass
            del job, future, outcome


def _settle(future: asyncio.Future[Any], outcome: Any, ok: bool) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(outcome)
    else:
        future.set_exception(outcome)


def _begin_now(conn: sqlite3.Connection, timeout: float) -> bool:
    """``BEGIN IMMEDIATE`` without waiting: ``False`` when another connection holds the write lock."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")


def _commit(conn: sqlite3.Connection) -> None:
    """(Worker thread.) ``COMMIT`` the transaction :meth:`Database.write` began; roll back if it fails."""
    try:
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # also when COMMIT itself failed
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _in_transaction(conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    with transaction(conn):
        return fn(conn, *args)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (the write lock up front, waiting up to the busy timeout) … ``COMMIT``.

    Any exception rolls back and propagates: a transaction that did not
    commit is never reported as written.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
