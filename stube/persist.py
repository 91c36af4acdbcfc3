"""The runtime's side of the stores: what gets saved, and what a failure means.

:class:`Persistence` wraps the conversation store, :class:`SessionViews` the
session stash. Two policies live here rather than in each store, so every store
(a user's own too) gets them:

- a conversation holding a live non-durable flow (a greenlet or generator) is
  not saved at all, and the first skip logs one WARNING on ``stube.store``;
- a save that fails is never acknowledged: :meth:`Persistence.save` raises
  :class:`~stube.errors.NotSaved` and the runtime keeps the last durable value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from . import conversation as cv
from . import flows
from .component import REGISTRY, registered
from .errors import NotSaved
from .kernel import Command, Env
from .store import InMemoryStore, StaleWrite

log = logging.getLogger("stube")
store_log = logging.getLogger("stube.store")

#: The key a shared store's copy of a conversation with a live flow carries: the node running it.
PINNED = "pinned"

#: Sessions whose stash-preloaded Env is kept between events (the oldest is dropped beyond this).
ENV_CACHE = 1024


class Persistence:
    """One application's store, with what this process knows about the copies it holds."""

    def __init__(self, store: Any, *, node: str = "") -> None:
        self.store = store
        #: This process's bus node id: a live flow's conversation is saved pinned to it (shared stores).
        self.node = node
        #: Saved at least once (the store may hold a copy).
        self.persisted: set[str] = set()
        #: Their last save was skipped (a live flow): the store's copy, if any, is older.
        self._unsaved: set[str] = set()
        #: Skips already logged (one WARNING per conversation).
        self._warned: set[str] = set()
        # The default store keeps nothing: skipping a save there is no news worth a warning.
        self._keeps_nothing = getattr(type(store), "save", None) is InMemoryStore.save
        self.can_load = getattr(store, "load", None) is not None
        #: Several processes read and write this store (``shared = True`` on the store's class):
        #: page views are saved, reloads re-read it, a live flow's conversation is saved pinned.
        self.shared = self.can_load and getattr(store, "shared", False) is True
        #: Where flows keep their continuations (the runtime's ``Env.live``); empty: no flow is live,
        #: so a save need not look for one among the instances (a walk of the whole page per save).
        self.live: Mapping[Any, Any] | None = None

    async def load_all(self) -> dict[str, dict[str, Any]]:
        """Every stored conversation that has not ended (a failure propagates: do not start without them)."""
        try:
            loaded = await self.store.load_all()
        except Exception:
            store_log.exception("store load_all failed; stube will not start without its conversations")
            raise
        # Held in the compact form (:func:`stube.conversation.compact`), whichever shape was stored.
        found = {cid: cv.compact(conv) for cid, conv in loaded.items() if not conv.get("ended")}
        self.persisted.update(found)
        return found

    async def load(self, cid: str) -> dict[str, Any] | None:
        """The stored value of ``cid`` if it has one and has not ended (failures are logged)."""
        if not self.can_load or not cv.valid_cid(cid):
            return None
        try:
            conv: dict[str, Any] | None = await self.store.load(cid)
        except Exception:
            store_log.exception("store load failed for %s", cid)
            return None
        if conv is None or conv.get("ended"):
            return None
        self.persisted.add(cid)
        return cv.compact(conv)

    async def save(self, conv: dict[str, Any]) -> None:
        """Save, or raise :class:`StaleWrite` (another process moved on) or :class:`NotSaved`."""
        cid = conv["id"]
        if self._keeps_nothing:  # InMemoryStore: the live map is the only copy, there is nothing to write
            return  # nor a copy to remember (``persisted`` costs ~100 bytes a conversation at 5,000)
        if self._holds_live_flow(conv):
            self._unsaved.add(cid)
            if self.shared:  # other processes must see that it exists, and where its flow runs
                await self._save({**conv, PINNED: self.node})
        else:
            await self._save(conv)
            self._unsaved.discard(cid)
        self.persisted.add(cid)

    async def _save(self, conv: dict[str, Any]) -> None:
        try:
            await self.store.save(cv.stored(conv))  # the shape every store's check accepts
        except StaleWrite:
            raise
        except Exception as exc:
            store_log.exception("store save failed for %s; the change is not applied", conv["id"])
            raise NotSaved(conv["id"]) from exc

    async def delete(self, cid: str) -> None:
        """Forget ``cid`` here and in the store (a failure is logged)."""
        self.forget(cid)
        try:
            await self.store.delete(cid)
        except Exception:
            store_log.exception("store delete failed for %s", cid)

    def forget(self, cid: str) -> None:
        """This process lets ``cid`` go (the store keeps its copy)."""
        self.persisted.discard(cid)
        self._unsaved.discard(cid)
        self._warned.discard(cid)

    def reloadable(self, cid: str) -> bool:
        """The store holds ``cid``'s current value: dropping it from memory loses nothing."""
        return self.can_load and cid in self.persisted and cid not in self._unsaved

    def _holds_live_flow(self, conv: dict[str, Any]) -> bool:
        if self._keeps_nothing or (self.live is not None and not self.live):
            return False
        live = flows.live_continuations(conv)  # looked up at call time: the flows module owns it
        if not live:
            return False
        cid = conv["id"]
        if cid not in self._warned:
            self._warned.add(cid)
            store_log.warning(
                "conversation %s not saved: it holds a live flow (%s) that cannot be serialised; "
                "it keeps working in memory but will not survive a restart or move to another process. "
                "Use @stube.flow(durable=True) or a task component to persist it.",
                cid, ", ".join(sorted({name for _, name in live})),
            )
        return True

    async def aclose(self, *also: Any) -> None:
        """Close the store (and ``also``: the stash) if they offer ``aclose()``; failures are logged."""
        for closer in [getattr(x, "aclose", None) for x in (self.store, *also)]:
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    log.exception("closing %r failed", closer)


class SessionViews:
    """The session stash as the kernel sees it: views preloaded into the Env, one write per dispatch."""

    def __init__(self, stash: Any, env: Env) -> None:
        self.stash = stash
        self.env = env
        self._envs: dict[str, tuple[Mapping[str, Any], Env]] = {}
        self._classes: tuple[int, bool] = (-1, False)

    def _used(self) -> bool:
        """Does any registered component class declare stash views? (Cached per registry generation.)"""
        now = REGISTRY.generation  # an attribute, not generation(): every event asks
        if self._classes[0] != now:
            self._classes = (now, any(c.stash for c in registered().values()))
        return self._classes[1]

    async def env_for(self, owner: str | None) -> Env:
        """The kernel environment, with the session's views preloaded when components use a stash.

        The Env is rebuilt only when the session's views changed since its last event.
        """
        if owner is None or self.stash is None or not self._used():
            return self.env
        try:
            views = await self.stash.session(owner).views()
        except Exception:
            log.exception("stash read failed; rendering with defaults")
            views = {}
        cached = self._envs.pop(owner, None)
        env = cached[1] if cached is not None and cached[0] == views else self.env.with_stash(views)
        self._envs[owner] = (views, env)
        if len(self._envs) > ENV_CACHE:
            del self._envs[next(iter(self._envs))]
        return env

    async def write(self, owner: str | None, commands: list[Command], *, cid: str = "",
                    required: bool = True) -> None:
        """Apply a dispatch's stash writes (one durable save).

        A failure raises :class:`~stube.errors.NotSaved` for ``cid`` when the
        writes are ``required`` (an event's: it must not be acknowledged), and
        is only logged otherwise (a page view's defaults: nothing the user did).
        """
        writes = [c.effect for c in commands if c.kind == "stash"]
        if not writes or owner is None or self.stash is None:
            return
        try:
            await self.stash.session(owner).apply(writes)
        except Exception as exc:
            log.exception("stash write failed for views %s%s", sorted({w.view for w in writes}),
                          "; the change is not applied" if required else "")
            if required:
                raise NotSaved(cid) from exc
