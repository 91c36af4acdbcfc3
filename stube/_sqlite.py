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
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        # Jobs handed to the worker, and jobs it finished (each counter written by one thread only):
        # while they differ, the connection is the worker's.
        self._submitted = 0
        self._finished = 0

    def __repr__(self) -> str:
        return f"Database({self.path!r})"

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on the worker thread."""
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="stube-sqlite")
            self._conn, self._pid = None, os.getpid()
            self._submitted = self._finished = 0
        self._submitted += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn, args)

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
        executor, self._executor = self._executor, None
        if executor is None or self._pid != os.getpid():
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)


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
