"""Conversation stores: where conversations live between processes.

The runtime keeps every live conversation in memory. A store is the copy that
survives a restart (``FileStore``, ``SQLiteStore``) or is shared by several
processes (``SQLiteStore`` on one machine, ``RedisStore`` across machines).
The runtime calls:

* ``await store.load_all()`` once at start-up, before serving;
* ``await store.save(conv)`` after every successful swap (never twice for one
  write);
* ``await store.delete(cid)`` when a conversation ends or is reaped;
* ``await store.check()`` for a health check: raises unless writable now;
* ``await store.aclose()``, if the store has one, at shutdown.

A store that fails raises, and a ``save`` that returned is durable: a write
that did not become durable (read-only folder, full disk, backend down or
timing out) always raises, also for every caller whose save was coalesced
into it. :class:`StaleWrite` means another process holds a newer value.

Saves of one conversation land in the order they were called, even when the
caller does not wait for them (write-behind): a queued save is replaced by a
newer one, and ``aclose()`` waits for every save already started. Whether a
conversation may be saved at all (a live greenlet flow cannot) is the
runtime's decision, not the store's.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

from .._atomic import DirSync as _DirSync
from ..errors import StubeError
from .codec import Encoder, _gc_paused, check_conversation, decode, encode, require_cid, valid_cid
from .file import TMP_SUFFIX, FileStore, FolderInUse
from .lanes import Lanes

__all__ = [
    "TMP_SUFFIX",
    "ConversationStore",
    "Encoder",
    "FileStore",
    "FolderInUse",
    "InMemoryStore",
    "Lanes",
    "StaleWrite",
    "_DirSync",
    "_gc_paused",
    "check_conversation",
    "decode",
    "encode",
    "require_cid",
    "valid_cid",
]


class StaleWrite(StubeError):
    """A save refused because another process already stored a newer version, or this one differently.

    That process committed the conversation further than (or as far as, from
    the same starting point) the value being saved, so writing it would lose
    that work. ``version`` is what was offered, ``stored`` what is kept
    (``-2``: the conversation was deleted elsewhere). A store's own earlier
    write, even one whose acknowledgement was lost (a timeout), is never a
    reason for it.
    """

    def __init__(self, cid: str, version: int, stored: int) -> None:
        super().__init__(
            f"conversation {cid}: version {version} not saved, the store already holds version {stored}"
        )
        self.cid = cid
        self.version = version
        self.stored = stored

    @classmethod
    def refused(cls, cid: str, version: int, stored: int, seen: int | None) -> StaleWrite:
        """The refusal a shared store raises, logged once at INFO on ``stube.store``.

        Not an error: with several processes it is how a conflict is noticed, and
        the runtime then reloads the stored value and folds the event again.
        """
        logging.getLogger("stube.store").info(
            "conversation %s not saved: another process changed it (stored version %s; this copy "
            "builds on %s); the stored one is kept",
            cid, "none, it was deleted" if stored == -2 else stored, seen,
        )
        return cls(cid, version, stored)


@runtime_checkable
class ConversationStore(Protocol):
    """Where conversations are persisted. Every method may raise on backend failure.

    ``load_all`` raises only when the backend itself cannot be read; single
    unreadable entries are skipped with a warning. A store may also offer
    ``async aclose()``, called at shutdown, and ``async load(cid)`` for a
    conversation another process saved.
    """

    async def load_all(self) -> dict[str, dict[str, Any]]:
        """Every stored conversation, ``{cid: conversation}``. Called once, before serving."""
        ...

    async def save(self, conv: dict[str, Any]) -> None:
        """Replace the stored value of ``conv["id"]``; durable when it returns, else it raises.

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

    async def load_all(self) -> dict[str, dict[str, Any]]:
        return {}

    async def save(self, conv: dict[str, Any]) -> None:
        return None

    async def delete(self, cid: str) -> None:
        return None

    async def check(self) -> None:
        """Always writable: there is nothing to write to."""
        return None

    def __repr__(self) -> str:
        return "InMemoryStore()"

