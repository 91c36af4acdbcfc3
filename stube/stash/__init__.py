"""The session stash: per-view UI state of one browser session, durable before acknowledged.

A port of Elixir's ``DurableStash.Session``. One actor per browser session
(:meth:`Stash.session`) serialises every read and write of that session, so
writes have a total order and per-key last-write-wins needs no timestamps.
State is partitioned per view and round-trips through JSON::

    {"views": {"app.views.Table": {"vsn": 1, "data": {"sort": "name"}}},
     "last_seen_at": 1735689600000}

::

    stash = Stash(FileStashStore("var/stash"), secret=os.environ["STUBE_SECRET"])
    s = stash.session(session_id)
    await s.merge("app.views.Table", {"sort": "name"}, vsn=1)   # durable when it returns
    await s.get_view("app.views.Table")                          # {"sort": "name"}

Why the pieces look the way they do:

* Every accepted write is saved (awaited) before the call returns; a write
  that changes nothing, and every read, leaves the store alone, so a crawler
  cannot fill it.
* Stores offer compare-and-set on an opaque version (a random etag, so a key
  that expired and came back can never be mistaken for the old one). The
  actor saves against the version it last saw; on a conflict it reloads,
  re-applies the write and retries. Two processes sharing a store therefore
  never overwrite each other's keys: the store's CAS extends the actor's
  total order across processes.
* Storage keys are an HMAC of the session id: the id is a bearer secret and
  never becomes a file name, a Redis key or part of a stored value.
* Sessions expire ``ttl`` seconds after ``last_seen_at``. An expired state
  reads as absent and is deleted lazily; :meth:`Stash.sweep` removes expired
  files; Redis keys carry an expiry. Reads refresh ``last_seen_at`` at most
  once per ``ttl / 10``, so a session that is only ever read stays alive.
* Idle actors are released after ``idle`` seconds; the next call loads the
  session from the store again.
"""

from .actor import SessionStash, Stash
from .base import CORRUPT, DEFAULT_IDLE, DEFAULT_TTL, MAX_ATTEMPTS, StashConflict, StashStore
from .file import FileStashStore
from .memory import InMemoryStashStore
from .sqlite import SQLiteStashStore

__all__ = [
    "CORRUPT",
    "DEFAULT_IDLE",
    "DEFAULT_TTL",
    "MAX_ATTEMPTS",
    "FileStashStore",
    "InMemoryStashStore",
    "SQLiteStashStore",
    "SessionStash",
    "Stash",
    "StashConflict",
    "StashStore",
]
