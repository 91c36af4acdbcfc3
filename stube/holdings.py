"""The copies of conversations one process holds: loading, committing, letting go, ending, reaping.

The store is the record; a process holds a live copy of the conversations it
serves. This module decides when a copy comes in (loaded on a first event, or
newer in a shared store), when a fold becomes the live value (:meth:`Holdings.commit`,
after the save), and when a copy goes: another process moved it on
(:meth:`~Holdings.let_go`), there is no room (:meth:`~Holdings.make_room`), it idled
past its TTL (:meth:`~Holdings.reap`), it ended (:meth:`~Holdings.end`). Session
rotation hands them to a new owner (:meth:`~Holdings.rekey`).

Kept apart from :mod:`stube.runtime`, which orders events and serves pages:
every method here runs with the conversation's lock held, or takes it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from . import flows, kernel
from .errors import NotSaved
from .kernel import Env, Outcome
from .livemap import LiveMap, Locks
from .persist import Persistence, SessionViews
from .relay import Relay
from .scheduler import Scheduler, live_commands
from .store import StaleWrite
from .streams import Streams

__all__ = ["STALE_RETRIES", "Holdings", "release_flows"]

log = logging.getLogger("stube")

#: Folds of one event retried after another process moved its conversation on (then it answers 410).
STALE_RETRIES = 50


class Limits(Protocol):
    """The settings reaping and eviction read (:class:`stube.runtime.Settings`)."""

    @property
    def ttl(self) -> float | None: ...

    @property
    def unused_ttl(self) -> float | None: ...

    @property
    def max_conversations(self) -> int: ...


class Host(Protocol):
    """What the holdings need of their runtime (a protocol, so that this module does not import it)."""

    env: Env
    store: Any
    live: LiveMap
    saved: Persistence
    locked: Locks
    views: SessionViews
    scheduler: Scheduler
    streams: Streams
    relay: Relay
    shutting_down: bool

    @property
    def settings(self) -> Limits: ...


def release_flows(env: Env, cid: str | None, iids: list[str] | None) -> None:
    """Free flow continuations of instances (or conversations) that left; a failure is logged."""
    try:
        flows.release(env, cid, iids)
    except Exception:
        log.exception("releasing flows failed")


class Holdings:
    """The live copies of one runtime (see the module docstring)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.live, self.saved, self.locked = host.live, host.saved, host.locked
        self.conversations = host.live.conversations

    # -- coming in --

    async def fetch(self, cid: str) -> dict[str, Any] | None:
        """(Lock held.) A live conversation, or one the store has (another process saved it)."""
        conv = self.conversations.get(cid)
        if conv is not None:
            return None if conv.get("ended") else conv
        if self.host.shutting_down:
            return None
        conv = await self.saved.load(cid)
        if conv is not None and not self.host.relay.pinned_elsewhere(conv):
            self.make_room()
            self.live.adopt(cid, conv)
        return conv

    async def refresh(self, cid: str) -> dict[str, Any] | None:
        """(Lock held.) :meth:`fetch`, but from a shared store a newer saved version replaces ours."""
        conv = self.conversations.get(cid)
        if conv is None or not self.saved.shared or conv.get("ended") or self.host.shutting_down:
            return await self.fetch(cid)
        stored = await self.saved.load(cid)
        if stored is not None and stored.get("version", 0) > conv.get("version", 0):
            self.let_go(cid)
            self.saved.persisted.add(cid)  # the store holds it (forgotten with the old copy)
            if self.host.relay.pinned_elsewhere(stored):
                return stored
            self.live.adopt(cid, stored)
            return stored
        return conv

    async def woken(self, cid: str) -> tuple[dict[str, Any], Env] | None:
        """(Lock held.) :meth:`refresh`, its ``wakeup`` hooks run and committed; with its env. ``None``: gone.

        Shared: the woken value is saved, so that no two processes show different values
        under one version number (the pages' version chain would skip a fold).
        """
        for _ in range(STALE_RETRIES):
            conv = await self.refresh(cid)
            if conv is None or self.host.relay.pinned_elsewhere(conv):
                return None
            env = await self.host.views.env_for(conv.get("owner"))
            woke = self.wake(cid, conv, env)
            if woke is None:
                return conv, env
            try:
                await self.commit(cid, conv, woke, save=self.saved.shared and cid in self.saved.persisted,
                                  stash_required=False)
            except StaleWrite as exc:
                if exc.stored == -2:
                    self.drop(cid)
                    return None
                self.let_go(cid)
                continue
            except NotSaved:  # the store is down: the page still renders, from memory
                await self.commit(cid, conv, woke, save=False, stash_required=False)
            return woke.conversation, env
        return None

    def wake(self, cid: str, conv: dict[str, Any], env: Env) -> Outcome | None:
        """(Lock held.) A conversation loaded from the store runs its ``wakeup`` hooks once, first."""
        if cid not in self.live.restored:
            return None
        self.live.restored.discard(cid)
        return kernel.wake(conv, env)

    def use(self, cid: str, conv: dict[str, Any]) -> None:
        """An event or a stream: the conversation is in use, what its page view armed starts now."""
        if self.live.use(cid):
            self.host.scheduler.release(cid, conv)

    async def commit(self, cid: str, before: dict[str, Any] | None, out: Outcome, *, save: bool = True,
                     touch: bool = True, stash_required: bool = True) -> None:
        """Save (or :class:`NotSaved`, nothing changed), then make it live and run its commands.

        The stash writes go first: when they fail, neither the stash nor the
        conversation changed. (They merge the same keys again on a retry.)
        """
        h = self.host
        conv = out.conversation
        if touch:
            conv["touched"] = time.time()
        if conv is not before:
            try:
                if out.commands:
                    await h.views.write(conv.get("owner"), out.commands, cid=cid, required=stash_required)
                if save and not conv.get("ended"):
                    await self.saved.save(conv)
            except NotSaved:
                # A durable flow's continuation moved on with the fold: it rebuilds from its log.
                release_flows(h.env, cid, None)
                raise
            self.conversations[cid] = conv
        if out.removed:
            h.scheduler.forget(cid, out.removed)
            release_flows(h.env, cid, [iid for iid in out.removed if iid not in conv["instances"]])
        if out.commands:
            h.scheduler.execute(cid, conv, live_commands(out, conv), hold=self.live.is_unused(cid))
        if h.relay.remote and not self.live.is_unused(cid):
            h.relay.follow(cid)

    # -- letting go --

    def let_go(self, cid: str) -> None:
        """(Lock held, or between folds.) Another process committed ``cid`` further: let our copy go.

        Its streams stay (fed over the bus) and so do its timers and subscriptions: when
        one fires, the fold reloads the conversation from the store (a duplicate armed in
        another process is claimed away). Commands held for a page view that was never
        used here go: the process that used it armed its own.
        """
        if self.live.is_unused(cid):
            self.host.scheduler.forget(cid)
        self.live.drop(cid)
        self.saved.forget(cid)
        release_flows(self.host.env, cid, None)

    def drop(self, cid: str) -> None:
        """Let go of everything this process holds for a conversation (the store keeps its copy)."""
        h = self.host
        self.live.drop(cid)
        self.saved.forget(cid)
        h.scheduler.forget(cid)
        h.streams.close(cid)
        release_flows(h.env, cid, None)
        h.relay.unfollow(cid)

    def make_room(self) -> None:
        """Below ``max_conversations`` again; one the store cannot give back ends (stop hooks run)."""
        for cid in self.live.victims(self.host.settings.max_conversations, busy=self.locked):
            conv = self.conversations[cid]
            if not self.saved.reloadable(cid):
                self.finish(cid, conv)
                if cid in self.saved.persisted:
                    self.host.scheduler.spawn(self.ended(cid))
            self.drop(cid)

    # -- ending, reaping --

    async def end(self, cid: str, value: Any = None) -> bool:
        """End a conversation from outside (host code, the reaper): ``stop`` hooks run."""
        async with self.locked(cid):
            conv = self.conversations.get(cid)
            if conv is not None:
                self.finish(cid, conv, value)
                await self.ended(cid)
            return conv is not None

    def finish(self, cid: str, conv: dict[str, Any], value: Any = None) -> None:
        """Run the ``stop`` hooks and show the ended page on the open pages."""
        out = kernel.finish(conv, self.host.env, value)
        self.host.relay.push(cid, out.fragments, since=conv.get("version", 0),
                             to=out.conversation.get("version", 0))

    async def ended(self, cid: str) -> None:
        """(Lock held.) It ended: this process and the store forget it."""
        self.drop(cid)
        await self.saved.delete(cid)

    async def reap(self, now: float | None = None) -> list[str]:
        """End conversations idle longer than their TTL (``unused_ttl`` for unused ones); their ids."""
        now = time.time() if now is None else now
        s = self.host.settings
        ended = []
        for cid in self.live.idle(now, s.ttl, s.unused_ttl):
            if not await self._used_elsewhere(cid):
                await self.end(cid)
                ended.append(cid)
        return ended

    async def _used_elsewhere(self, cid: str) -> bool:
        """A shared store holds a newer or more recently touched copy: let ours go instead of ending it."""
        if not self.saved.shared or cid not in self.saved.persisted:
            return False
        async with self.locked(cid):
            conv = self.conversations.get(cid)
            if conv is None:
                return True
            stored = await self.saved.load(cid)
            if stored is None or (stored.get("version", 0) <= conv.get("version", 0)
                                  and stored.get("touched", 0) <= conv.get("touched", 0)):
                return False
            self.drop(cid)
            return True

    # -- sessions --

    async def rekey(self, old: str, new: str) -> list[str]:
        """Give every conversation owned by ``old`` to ``new`` (a session rotated at sign-in); their ids.

        Live ones change under their lock and are saved when the store holds a copy;
        ones only the store holds (evicted here, or saved by another process) are
        loaded, changed and saved. A conversation whose save fails keeps its old
        owner (logged): sign-in goes on, that page is not carried over.
        """
        moved: list[str] = []
        for cid in [c for c, conv in self.conversations.items() if conv.get("owner") == old]:
            async with self.locked(cid):
                conv = self.conversations.get(cid)
                if conv is None or conv.get("owner") != old:
                    continue
                changed = dict(conv, owner=new)
                if cid in self.saved.persisted and await self._save_rekeyed(changed) is None:
                    continue
                self.conversations[cid] = changed
                moved.append(cid)
        load_all = getattr(self.host.store, "load_all", None)
        if not self.saved.can_load or load_all is None:
            return moved
        try:
            stored: dict[str, dict[str, Any]] = await load_all()
        except Exception:
            log.exception("rotating a session: the store could not list its conversations")
            return moved
        for cid, conv in stored.items():
            if conv.get("owner") != old or conv.get("ended") or cid in self.conversations:
                continue
            async with self.locked(cid):
                if cid in self.conversations:  # loaded meanwhile: it was re-keyed above or will be asked again
                    continue
                if await self._save_rekeyed(dict(conv, owner=new)) is not None:
                    moved.append(cid)
                self.saved.forget(cid)  # this process does not hold it
        return moved

    async def _save_rekeyed(self, conv: dict[str, Any]) -> str | None:
        """(Lock held.) Save a conversation with its new owner; ``None`` when that failed (logged)."""
        cid: str = conv["id"]
        try:
            await self.saved.save(conv)
        except StaleWrite:
            self.drop(cid)  # another process moved it on: it answers for it
            return None
        except NotSaved:
            log.error("rotating a session: conversation %s keeps its old owner (the store failed)", cid)
            return None
        return cid
