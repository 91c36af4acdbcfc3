"""``SQLiteStashStore``: session states in one SQLite file, shared by the processes of one machine.

One row per session: ``version`` (a random etag), the state as JSON, its
``last_seen_at`` (for :meth:`sweep`) and an optional expiry. Compare-and-set
is one short ``BEGIN IMMEDIATE`` transaction, so processes sharing the file
never overwrite each other; a save returns once SQLite has committed it with
``synchronous=FULL``. The file may be the same as a
:class:`stube.store.sqlite.SQLiteStore`'s (the tables differ).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from typing import Any

from .._sqlite import Database, transaction
from .base import _JSON, StashConflict, _check_key, _empty_state, _new_version

__all__ = ["SQLiteStashStore"]

log = logging.getLogger("stube.stash")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stube_stash (key TEXT PRIMARY KEY, version TEXT NOT NULL, state TEXT NOT NULL,
    seen REAL, expires REAL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stube_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID
"""


class SQLiteStashStore:
    """Session states in the SQLite file ``path`` (created ``0600``); safe for several processes."""

    persistent = True

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = os.path.abspath(path)
        self._db = Database(self.path, _SCHEMA, timeout=timeout)

    def __repr__(self) -> str:
        return f"SQLiteStashStore({self.path!r})"

    async def load(self, key: str) -> tuple[dict[str, Any], str] | None:
        return await self._db.run(_load, _check_key(key), time.time())

    async def save(self, key: str, state: dict[str, Any], expected: str | None, *,
                   ttl: float | None = None) -> str:
        _check_key(key)
        body = _JSON(state)  # encoding fails before the database is touched
        seen = state.get("last_seen_at")
        version = _new_version()
        now = time.time()
        ok = await self._db.run(_save, key, expected, version, body,
                                seen if isinstance(seen, (int, float)) else None,
                                now + ttl if ttl else None, now)
        if not ok:
            raise StashConflict(f"stash {key[:12]}: version changed")
        return version

    async def delete(self, key: str, expected: str) -> bool:
        return await self._db.run(_delete, _check_key(key), expected, time.time())

    async def sweep(self, cutoff_ms: int) -> int:
        return await self._db.run(_sweep, cutoff_ms, time.time())

    async def check(self) -> None:
        """Raise unless a durable write transaction on the file works now."""
        await self._db.run(_probe)

    async def aclose(self) -> None:
        await self._db.aclose()


def _current(conn: sqlite3.Connection, key: str, now: float) -> tuple[str, str] | None:
    row = conn.execute("SELECT version, state, expires FROM stube_stash WHERE key = ?", (key,)).fetchone()
    if row is None or (row[2] is not None and row[2] <= now):
        return None  # expired keys read as absent, like Redis's
    return row[0], row[1]


def _load(conn: sqlite3.Connection, key: str, now: float) -> tuple[dict[str, Any], str] | None:
    got = _current(conn, key, now)
    if got is None:
        return None
    version, body = got
    try:
        state = json.loads(body)
        if not isinstance(state, dict):
            raise ValueError("not an object")
    except ValueError:
        log.warning("stash row %s holds a corrupt or foreign value; it reads as empty", key[:12])
        return _empty_state(), version
    return state, version


def _save(conn: sqlite3.Connection, key: str, expected: str | None, version: str, body: str,
          seen: float | None, expires: float | None, now: float) -> bool:
    with transaction(conn):
        got = _current(conn, key, now)
        if (got[0] if got else None) != expected:
            return False
        conn.execute("INSERT OR REPLACE INTO stube_stash VALUES (?, ?, ?, ?, ?)",
                     (key, version, body, seen, expires))
    return True


def _delete(conn: sqlite3.Connection, key: str, expected: str, now: float) -> bool:
    with transaction(conn):
        got = _current(conn, key, now)
        if got is None or got[0] != expected:
            return False
        conn.execute("DELETE FROM stube_stash WHERE key = ?", (key,))
    return True


def _sweep(conn: sqlite3.Connection, cutoff_ms: int, now: float) -> int:
    with transaction(conn):
        cur = conn.execute("DELETE FROM stube_stash WHERE seen IS NULL OR seen < ? OR expires <= ?",
                           (cutoff_ms, now))
    return cur.rowcount


def _probe(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO stube_meta VALUES ('stash-check', ?)", (repr(time.time()),))
