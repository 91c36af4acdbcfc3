"""``SQLiteStore``: conversations in one SQLite file, shared by the processes of one machine.

A conversation is a header row (``version``, write token, and everything but
its instances and history) plus one row per instance record and one per
history entry, so a save writes what the event changed, not the page (see
``docs/decisions/0005-sqlite-store-writes-what-changed.md``). The kernel
replaces records and history entries instead of mutating them, so comparing
each with what this store last saved, by identity, finds the changed ones in
a pass of pointer checks.

Saves are compare-and-set on the version column, with the same rules as
:class:`stube.store.redis.RedisStore`: a save lands only on top of what this
store last read or wrote, or on its own earlier write whose outcome was
unknown (its write token), or when the stored value is the very same
conversation; otherwise :class:`stube.store.StaleWrite`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from .._sqlite import Database, transaction
from . import StaleWrite
from .codec import _gc_paused, check_conversation, decode, encode, kept_run, require_cid
from .lanes import Lanes

__all__ = ["SQLiteStore"]

log = logging.getLogger("stube.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stube_conv (cid TEXT PRIMARY KEY, version INTEGER NOT NULL,
    token TEXT NOT NULL, head BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stube_inst (cid TEXT NOT NULL, iid TEXT NOT NULL, pos INTEGER NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (cid, iid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stube_hist (cid TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (cid, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stube_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID
"""

_SPLIT = ("instances", "history")
#: One save for the database thread: cid, version, write token, plan, version last seen, unconfirmed tokens.
_Item = tuple[str, int, str, "_Plan", int | None, list[str]]
_DELETED = "!deleted"  # in a conversation's unconfirmed tokens: a delete of ours whose outcome is unknown


@dataclass
class _Saved:
    """What the database holds for one conversation, as this store last wrote or read it."""

    instances: dict[str, Any]
    pos: dict[str, int]
    history: list[Any]
    seqs: list[int]
    next_pos: int = 0


@dataclass
class _Plan:
    """The rows one save writes. ``full``: every row of the conversation is rewritten."""

    head: bytes
    value: dict[str, Any]
    saved: _Saved
    full: bool
    upserts: list[tuple[str, int, bytes]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    keep: tuple[int, int] | None = None  # history seqs kept (inclusive range); None: drop every old one
    entries: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes sent to SQLite: every key and value of every row written."""
        cid = len(self.value["id"])
        return (cid + 16 + len(self.head) + sum(cid + len(i) + 8 + len(b) for i, _, b in self.upserts)
                + sum(cid + len(i) for i in self.removed) + sum(cid + 8 + len(b) for _, b in self.entries))


def _plan(prev: _Saved | None, head: bytes, value: dict[str, Any]) -> _Plan:
    instances, history = value["instances"], value["history"]
    if prev is None:
        pos = {iid: k for k, iid in enumerate(instances)}
        saved = _Saved(instances, pos, history, list(range(len(history))), len(pos))
        return _Plan(head, value, saved, True, [(i, pos[i], encode(r)) for i, r in instances.items()],
                     entries=[(k, encode(e)) for k, e in enumerate(history)])
    plan = _Plan(head, value, _Saved(instances, dict(prev.pos), history, [], prev.next_pos), False)
    old, pos = prev.instances, plan.saved.pos
    added = 0
    for iid, rec in instances.items():
        if old.get(iid) is not rec:  # replaced, never mutated: identity is change
            p = pos.get(iid)
            if p is None:
                p = pos[iid] = plan.saved.next_pos
                plan.saved.next_pos += 1
                added += 1
            plan.upserts.append((iid, p, encode(rec)))
    if len(old) + added != len(instances):  # some of the old ones are gone
        plan.removed = [iid for iid in old if iid not in instances]
        for iid in plan.removed:
            del pos[iid]
    # History: the longest run of old entries the new list starts with (an event appends one entry and
    # the oldest falls off; back() drops the newest); everything after it is new.
    start, kept = kept_run(prev.history, history)
    seqs = prev.seqs[start:start + kept]
    if seqs:
        plan.keep = (seqs[0], seqs[-1])
    nxt = (seqs[-1] if seqs else (prev.seqs[-1] if prev.seqs else -1)) + 1
    for k, entry in enumerate(history[kept:]):
        plan.entries.append((nxt + k, encode(entry)))
        seqs.append(nxt + k)
    plan.saved.seqs = seqs
    return plan


class SQLiteStore:
    """Conversations in the SQLite file ``path``; safe for several processes on one machine.

    Use it for ``uvicorn --workers N``: any process can load a conversation
    another saved (:meth:`load`), and a process holding an old copy gets
    :class:`StaleWrite` instead of overwriting newer work. The file is created
    ``0600``. ``timeout`` is how long a write waits for another process's
    transaction. :attr:`bytes_written` counts what saves sent to SQLite.
    """

    #: Several processes share it: the runtime saves page views and re-reads on reload.
    shared = True

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = os.path.abspath(path)
        self.writer = secrets.token_urlsafe(9)
        self.bytes_written = 0
        self._db = Database(self.path, _SCHEMA, timeout=timeout)
        self._lanes = Lanes()
        self._writes = 0
        self._saved: dict[str, _Saved] = {}
        self._seen: dict[str, int] = {}  # version this store last read or wrote, per conversation
        self._unconfirmed: dict[str, list[str]] = {}  # tokens of saves that raised: maybe they landed
        self._batch: list[tuple[_Item, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    async def load_all(self) -> dict[str, dict[str, Any]]:
        rows = await self._db.run(_read, None)
        return self._restore(rows)

    async def load(self, cid: str) -> dict[str, Any] | None:
        """One stored conversation (``None`` if absent or unreadable): for an id another process saved."""
        require_cid(cid)
        return self._restore(await self._db.run(_read, cid)).get(cid)

    def _restore(self, rows: list[tuple[str, int, Any, list[tuple[str, int, Any]], list[tuple[int, Any]]]],
                 ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with _gc_paused():
            for cid, version, head, inst, hist in rows:
                try:
                    conv = decode(head)
                    if isinstance(conv, dict):
                        conv["instances"] = {iid: decode(body) for iid, _, body in inst}
                        conv["history"] = [decode(body) for _, body in hist]
                except (ValueError, RecursionError) as exc:
                    log.warning("skipping conversation %s in %s: not valid JSON (%s)", cid, self.path, exc)
                    continue
                reason = check_conversation(conv, cid)
                if reason is None and conv["version"] != version:
                    reason = f"version {conv['version']} differs from its row's {version}"
                if reason is not None:
                    log.warning("skipping conversation %s in %s: not a stube conversation (%s)",
                                cid, self.path, reason)
                    continue
                out[cid] = conv
                self._seen[cid] = version
                pos = {iid: p for iid, p, _ in inst}
                self._saved[cid] = _Saved(dict(conv["instances"]), pos, list(conv["history"]),
                                          [s for s, _ in hist], max(pos.values(), default=-1) + 1)
        return out

    async def save(self, conv: dict[str, Any]) -> None:
        """Write what changed since this store's last save of ``conv`` (:class:`StaleWrite` on a conflict)."""
        cid = require_cid(conv.get("id") if isinstance(conv, dict) else None)
        version = conv.get("version")
        if type(version) is not int or version < 0:
            raise ValueError(f"conversation {cid}: version {version!r} is not a non-negative int")
        if not isinstance(conv.get("instances"), dict) or not isinstance(conv.get("history"), list):
            raise ValueError(f"conversation {cid}: instances must be an object and history a list")
        # A snapshot taken now (records are immutable; the containers are copied, a pass of pointers).
        head = encode({k: v for k, v in conv.items() if k not in _SPLIT})
        value = {**conv, "instances": dict(conv["instances"]), "history": list(conv["history"])}
        self._writes += 1
        token = f"{self.writer}-{self._writes:x}"
        await self._lanes.start(cid, lambda: self._start(cid, version, token, head, value))

    def _start(self, cid: str, version: int, token: str, head: bytes, value: dict[str, Any]) -> asyncio.Future[None]:
        """Plan the save against what the database holds now and queue it for the next transaction."""
        try:
            plan = _plan(self._saved.get(cid), head, value)
        except BaseException:
            self._saved.pop(cid, None)
            raise
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._batch.append(((cid, version, token, plan, self._seen.get(cid), self._unconfirmed.get(cid, [])), done))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return done

    def _settle(self, item: _Item, stored: int | BaseException) -> BaseException | None:
        """Record what one save of a transaction came to; the error its callers get, if any."""
        cid, version, token, plan, seen, maybe = item
        if isinstance(stored, BaseException):
            self._saved.pop(cid, None)  # the rows are unknown: the next save rewrites them all
            self._unconfirmed[cid] = (maybe + [token])[-8:]
            return stored
        if stored in (-1, -3):
            if stored == -1:
                self._saved[cid] = plan.saved
                self.bytes_written += plan.size
            else:  # identical rows are stored, but not necessarily laid out as planned: rewrite next time
                self._saved.pop(cid, None)
            self._seen[cid] = version
            self._unconfirmed.pop(cid, None)
            return None
        self._saved.pop(cid, None)
        self._seen.pop(cid, None)
        return StaleWrite.refused(cid, version, stored, seen)

    async def _flush(self) -> None:
        """Group commit: every save queued while one transaction runs goes into the next one.

        Lanes keep at most one write per conversation in flight, so a batch never holds two
        writes of one conversation; a failed transaction fails every save in it. Outcomes are
        recorded here, not by the callers: a cancelled caller leaves nothing half-done.
        """
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                outcomes: list[int | BaseException]
                try:
                    outcomes = [*await self._db.write(_write_batch, [item for item, _ in batch])]
                except Exception as exc:
                    outcomes = [exc] * len(batch)
                except BaseException as exc:
                    for item, done in batch:
                        self._settle(item, exc)
                        done.cancel()
                    for _, done in self._batch:
                        done.cancel()
                    raise
                for (item, done), outcome in zip(batch, outcomes, strict=True):
                    error = self._settle(item, outcome)
                    if done.done():
                        continue
                    if error is None:
                        done.set_result(None)
                    else:
                        done.set_exception(error)
        finally:
            self._flusher = None

    async def delete(self, cid: str) -> None:
        require_cid(cid)
        self._saved.pop(cid, None)

        async def remove() -> None:
            try:
                await self._db.run(_delete, cid)
            except Exception:
                self._unconfirmed[cid] = (self._unconfirmed.get(cid, []) + [_DELETED])[-8:]
                raise
            self._seen.pop(cid, None)
            self._unconfirmed.pop(cid, None)

        await self._lanes.submit(cid, remove)

    async def check(self) -> None:
        """Raise unless a durable write transaction on the file works now."""
        await self._db.run(_probe, self.writer)

    async def aclose(self) -> None:
        """Finish every pending write, then close the connection (reopened on the next use)."""
        await self._lanes.wait_idle()
        await self._db.aclose()


# -- run on the database's worker thread --

_Rows = list[tuple[str, int, Any, list[tuple[str, int, Any]], list[tuple[int, Any]]]]


def _rows(conn: sqlite3.Connection, cid: str | None) -> _Rows:
    where, args = ("WHERE cid = ?", (cid,)) if cid is not None else ("", ())
    heads = conn.execute(f"SELECT cid, version, head FROM stube_conv {where}", args).fetchall()
    inst: dict[str, list[tuple[str, int, Any]]] = {}
    for c, iid, pos, body in conn.execute(
            f"SELECT cid, iid, pos, body FROM stube_inst {where} ORDER BY cid, pos", args):
        inst.setdefault(c, []).append((iid, pos, body))
    hist: dict[str, list[tuple[int, Any]]] = {}
    for c, seq, body in conn.execute(f"SELECT cid, seq, body FROM stube_hist {where} ORDER BY cid, seq", args):
        hist.setdefault(c, []).append((seq, body))
    return [(c, v, h, inst.get(c, []), hist.get(c, [])) for c, v, h in heads]


def _read(conn: sqlite3.Connection, cid: str | None) -> _Rows:
    conn.execute("BEGIN")  # one snapshot for the three reads
    try:
        return _rows(conn, cid)
    finally:
        conn.execute("COMMIT")


def _same(conn: sqlite3.Connection, cid: str, value: dict[str, Any]) -> bool:
    """Whether the stored conversation is exactly ``value`` (a restored copy saved again)."""
    for _, _, head, inst, hist in _rows(conn, cid):
        try:
            stored = decode(head)
            stored["instances"] = {iid: decode(body) for iid, _, body in inst}
            stored["history"] = [decode(body) for _, body in hist]
        except (ValueError, TypeError, RecursionError):
            return False
        return bool(stored == value)
    return False


def _make_full(plan: _Plan) -> None:
    """Turn ``plan`` into a rewrite of every row (the stored rows are not what it was planned against)."""
    saved, instances = plan.saved, plan.value["instances"]
    saved.pos = {iid: k for k, iid in enumerate(instances)}
    saved.next_pos = len(saved.pos)
    plan.full, plan.removed, plan.keep = True, [], None
    plan.upserts = [(i, saved.pos[i], encode(r)) for i, r in instances.items()]
    plan.entries = [(s, encode(e)) for s, e in zip(saved.seqs, plan.value["history"], strict=True)]


def _write_batch(conn: sqlite3.Connection, items: list[_Item]) -> list[int]:
    """(In a transaction.) Every save of ``items``, committed together (one fsync); results as :func:`_write`'s."""
    return [_write(conn, *item) for item in items]


def _write(conn: sqlite3.Connection, cid: str, version: int, token: str, plan: _Plan,
           seen: int | None, maybe: list[str]) -> int:
    """(In a transaction.) -1 written, -3 already stored identically, -2 deleted elsewhere, else the stored version."""
    row = conn.execute("SELECT version, token FROM stube_conv WHERE cid = ?", (cid,)).fetchone()
    if row is None and seen is not None and _DELETED not in maybe:  # a delete of ours may have landed
        return -2
    ours = row is not None and row[1] in maybe
    if row is not None and not ours and (seen is None or row[0] != seen):
        # Not what this store last saw, nor its own write. The very same conversation from a store
        # that never read it (a restored copy saved again) is harmless; from one that read an older
        # version it is another event with the same outcome, and must not be swallowed.
        return -3 if row[0] == version and seen is None and _same(conn, cid, plan.value) else int(row[0])
    if ours and not plan.full:
        _make_full(plan)  # our write of unknown outcome landed: its rows are not what we planned on
    run, many = conn.execute, conn.executemany  # an event: 5 statements (head, a record, history trim, entry)
    run("INSERT OR REPLACE INTO stube_conv VALUES (?, ?, ?, ?)", (cid, version, token, plan.head))
    if plan.full:
        run("DELETE FROM stube_inst WHERE cid = ?", (cid,))
    if plan.removed:
        many("DELETE FROM stube_inst WHERE cid = ? AND iid = ?", [(cid, i) for i in plan.removed])
    if len(plan.upserts) == 1:
        run("INSERT OR REPLACE INTO stube_inst VALUES (?, ?, ?, ?)", (cid, *plan.upserts[0]))
    elif plan.upserts:
        many("INSERT OR REPLACE INTO stube_inst VALUES (?, ?, ?, ?)", [(cid, i, p, b) for i, p, b in plan.upserts])
    if plan.keep is None:
        run("DELETE FROM stube_hist WHERE cid = ?", (cid,))
    else:
        run("DELETE FROM stube_hist WHERE cid = ? AND (seq < ? OR seq > ?)", (cid, *plan.keep))
    if len(plan.entries) == 1:
        run("INSERT OR REPLACE INTO stube_hist VALUES (?, ?, ?)", (cid, *plan.entries[0]))
    elif plan.entries:
        many("INSERT OR REPLACE INTO stube_hist VALUES (?, ?, ?)", [(cid, s, b) for s, b in plan.entries])
    return -1


def _delete(conn: sqlite3.Connection, cid: str) -> None:
    with transaction(conn):
        for table in ("stube_conv", "stube_inst", "stube_hist"):
            conn.execute(f"DELETE FROM {table} WHERE cid = ?", (cid,))


def _probe(conn: sqlite3.Connection, writer: str) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO stube_meta VALUES ('check', ?)", (writer,))
