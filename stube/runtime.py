"""The runtime: the mutable things around the pure kernel.

It owns the live conversations of one application, a lock per conversation
(events on one conversation are strictly ordered, different conversations run
concurrently) and the calls to the conversation store and the session stash;
its :class:`~stube.scheduler.Scheduler` runs timers, ``io`` and subscriptions,
its :class:`~stube.streams.Streams` hold the open pages. Every kernel fold runs
on the event-loop thread (greenlets cannot switch threads).

Page views are cheap on purpose: a conversation nobody has used yet (no event,
no stream) is never saved, its commands are held, it expires after
``unused_ttl`` and it is the first to go beyond ``max_conversations``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from . import conversation as cv
from . import flows, kernel
from .component import Component
from .context import SCHEDULER
from .errors import NotSaved, UnknownEvent
from .fragments import Fragment
from .kernel import Env, Event, Handler, Outcome
from .livemap import LiveMap, Locks, Reaper
from .persist import Persistence, SessionViews
from .scheduler import Scheduler, live_commands, publish
from .store import StaleWrite
from .streams import Stream, Streams, offer, snapshot

__all__ = ["Runtime", "Settings", "Stream", "live_commands", "publish"]

log = logging.getLogger("stube")

Fold = Callable[[dict[str, Any], Env], Outcome]


@dataclass(slots=True)
class Settings:
    """The runtime's limits, from ``Stube(...)``: ``conversation_ttl`` is ``ttl``, ``sse_keepalive`` is
    ``keepalive``, the rest have the same names (streams read theirs when the Runtime is built)."""

    ttl: float | None = 12 * 3600.0
    reaper_interval: float | None = None
    keepalive: float = 15.0
    #: Seconds a conversation with neither an event nor a stream lives (``None``: only ``ttl``).
    unused_ttl: float | None = 600.0
    max_conversations: int = 100_000
    max_streams: int = 4
    max_streams_per_session: int = 16


class Runtime:
    """Everything mutable around the kernel for one application (see the module docstring)."""

    def __init__(self, *, env: Env, store: Any, stash: Any = None, settings: Settings | None = None) -> None:
        self.env, self.store, self.stash = env, store, stash
        self.settings = s = settings or Settings()
        self.live = LiveMap()
        self.saved = Persistence(store)
        self.saved.live = env.live
        self.conversations = self.live.conversations  # cid -> the live value
        self.restored = self.live.restored            # loaded from the store, not woken yet
        self.persisted = self.saved.persisted         # saved at least once
        self.locked = Locks()  # ``async with rt.locked(cid):`` orders the events of one conversation
        self.views = SessionViews(stash, env)
        self.scheduler = Scheduler(env.app, self.deliver)
        self._topics = self.scheduler.topics  # topic -> {(cid, iid): event}; read by tests
        self.streams = Streams(per_conversation=s.max_streams, per_session=s.max_streams_per_session)
        self.reaper = Reaper(self.reap, stash)
        self.running = False
        self.shutting_down = False

    # -- lifecycle --

    async def start(self) -> None:
        """Load every stored conversation, then start the reaper. Idempotent."""
        if self.running:
            return
        s = self.settings
        loaded = await self.saved.load_all()  # raises: serving without them would silently lose them
        for cid, conv in loaded.items():
            self.live.adopt(cid, conv)
        if loaded:
            log.info("stube restored %d conversation(s) from %s", len(self.restored), type(self.store).__name__)
        self.scheduler.start()
        self.running = True
        self.reaper.start((s.ttl, s.unused_ttl), s.reaper_interval)

    async def shutdown(self) -> None:
        """Drain: stop timers, run ``stop`` hooks, close streams, save every conversation once more."""
        if self.shutting_down or not self.running:
            self.shutting_down = True
            return
        self.shutting_down = True
        self.reaper.stop()
        self.scheduler.stop_timers()
        for cid in list(self.conversations):
            async with self.locked(cid):
                conv = self.conversations.get(cid)
                if conv is not None:
                    out = kernel.stop_all(conv, self.env)
                    self.push(cid, out.fragments, since=conv.get("version", 0), to=conv.get("version", 0))
        self.streams.close_all()
        for cid in [c for c in self.conversations if c in self.persisted]:
            with contextlib.suppress(StaleWrite, NotSaved):  # another process's copy stays; failures are logged
                await self.saved.save(self.conversations[cid])
        self.scheduler.stop()
        _release_flows(self.env, None, None)
        self.running = False
        await self.saved.aclose(self.stash)

    def release_streams(self) -> None:
        """The server was told to stop: end every open stream now, so it can finish its responses.

        Servers wait for open responses before the lifespan shutdown, and a
        stream never ends by itself. Events are still served until then; the
        pages reconnect (to another process, or this one restarted) and catch
        up from the version they show (a snapshot when they missed a fold).
        """
        self.streams.stop()

    # -- locking, reading, applying folds --

    async def conversation(self, cid: str) -> dict[str, Any] | None:
        """The live conversation, loaded from the store when this process does not hold it yet."""
        conv = self.conversations.get(cid)
        if conv is None and self.saved.can_load:
            async with self.locked(cid):
                conv = await self._fetch(cid)
        return None if conv is None or conv.get("ended") else conv

    lookup = conversation  # the 0.1 name, kept while the HTTP layer moves over

    async def apply(self, cid: str, fold: Event | Fold, *, page: str | None = None, browser: bool = True,
                    handler: Handler | None = None, admitted: dict[str, Any] | None = None) -> Outcome | None:
        """Fold an event (or ``fold(conv, env)``) under the conversation's lock, commit, push to pages but ``page``.

        ``handler`` is what ``kernel.admit`` returned for a browser event on the
        conversation value ``admitted``: when that is still the live value, nothing
        is resolved or checked again. ``None``: the conversation is gone (ended,
        unknown, or moved on by another process); :class:`~stube.errors.NotSaved`:
        the store failed, nothing changed. ``browser`` is false for timers, io,
        messages and ``dispatch_to``: no use, no first save.
        """
        async with self.locked(cid):
            before = self.conversations.get(cid)
            if before is None or before is not admitted:
                before = await self._fetch(cid)
                if before is None:
                    return None
            if browser and self.live.use(cid):  # _use(), inlined
                self.scheduler.release(cid, before)
            env = await self.views.env_for(before.get("owner"))
            woke = self._wake(cid, before, env) if cid in self.restored else None
            conv = woke.conversation if woke is not None else before
            token = SCHEDULER.set(self.scheduler)  # Scheduler.active(), inlined: once per event
            try:
                if not isinstance(fold, Event):
                    out = fold(conv, env)
                elif fold.internal:
                    out = kernel.run(conv, fold, env)
                else:
                    # Checked again under the lock only when the value moved on since admit (a dialog may cover it).
                    if handler is None or conv is not admitted:
                        try:
                            handler = kernel.admit(conv, fold.iid, fold.name)
                        except UnknownEvent:  # e.g. a banner's button once its frame is no longer on top
                            handler = None
                    out = kernel.run(conv, fold, env, handler) if handler is not None else Outcome(conv)
            finally:
                SCHEDULER.reset(token)
            if woke is not None:
                out = _after(woke, out)
            out.since = before.get("version", 0)
            try:
                await self._commit(cid, before, out, save=browser or cid in self.persisted, touch=browser)
            except StaleWrite:
                self._drop(cid)  # another process moved it on: our copy must not answer for it
                return None
            except NotSaved:
                if woke is not None:
                    self.restored.add(cid)
                raise
            if out.error is None and cid in self.streams:
                self.push(cid, out.fragments, since=out.since, to=out.conversation.get("version", 0), exclude=page)
            if out.conversation.get("ended"):
                await self._end(cid)
            return out

    async def deliver(self, cid: str, event: Event) -> Outcome | None:
        """Fold an internal event (timer, io result, message, dispatch_to) and push the result."""
        try:
            return await self.apply(cid, event, browser=False)
        except NotSaved:
            return None  # logged by _save; the conversation stays as it was
        except Exception:
            log.exception("delivering %s to %s/%s failed", event.name, cid, event.iid)
            return None

    async def _fetch(self, cid: str) -> dict[str, Any] | None:
        """(Lock held.) A live conversation, or one the store has (another process saved it)."""
        conv = self.conversations.get(cid)
        if conv is not None:
            return None if conv.get("ended") else conv
        if self.shutting_down:
            return None
        conv = await self.saved.load(cid)
        if conv is not None:
            self._make_room()
            self.live.adopt(cid, conv)
        return conv

    def _wake(self, cid: str, conv: dict[str, Any], env: Env) -> Outcome | None:
        """(Lock held.) A conversation loaded from the store runs its ``wakeup`` hooks once, first."""
        if cid not in self.restored:
            return None
        self.restored.discard(cid)
        return kernel.wake(conv, env)

    def _use(self, cid: str, conv: dict[str, Any]) -> None:
        """An event or a stream: the conversation is in use, what its page view armed starts now."""
        if self.live.use(cid):
            self.scheduler.release(cid, conv)

    async def _commit(self, cid: str, before: dict[str, Any] | None, out: Outcome, *, save: bool = True,
                      touch: bool = True, stash_required: bool = True) -> None:
        """Save (or :class:`NotSaved`, nothing changed), then make it live and run its commands.

        The stash writes go first: when they fail, neither the stash nor the
        conversation changed. (They merge the same keys again on a retry.)
        """
        conv = out.conversation
        if touch:
            conv["touched"] = time.time()
        if conv is not before:
            try:
                if out.commands:
                    await self.views.write(conv.get("owner"), out.commands, cid=cid, required=stash_required)
                if save and not conv.get("ended"):
                    await self.saved.save(conv)
            except NotSaved:
                # A durable flow's continuation moved on with the fold: it rebuilds from its log.
                _release_flows(self.env, cid, None)
                raise
            self.conversations[cid] = conv
        if out.removed:
            self.scheduler.forget(cid, out.removed)
            _release_flows(self.env, cid, [iid for iid in out.removed if iid not in conv["instances"]])
        if out.commands:
            self.scheduler.execute(cid, conv, live_commands(out, conv), hold=self.live.is_unused(cid))

    # -- minting, pages and streams --

    async def mint(self, root: Component | type[Component], *, owner: str | None, principal: Any,
                   mount: str, base: str) -> Outcome:
        """Create a conversation for a page view: unused, unsaved, its commands held until it is used."""
        self._make_room()
        env = await self.views.env_for(owner)
        with self.scheduler.active():
            out = kernel.boot(root, env, owner=owner, principal=principal, mount=mount, base=base)
        cid = out.conversation["id"]
        if out.conversation.get("ended"):
            _release_flows(self.env, cid, None)
            return out
        self.live.add_unused(cid, out.conversation)
        await self._commit(cid, None, out, save=False, touch=False, stash_required=False)
        return out

    async def page(self, cid: str) -> tuple[dict[str, Any], str] | None:
        """The conversation and its current top-frame HTML (a reload, or the no-JS path)."""
        async with self.locked(cid):
            return await self.page_locked(cid)

    async def page_locked(self, cid: str) -> tuple[dict[str, Any], str] | None:
        """:meth:`page` for a caller that already holds the conversation's lock."""
        conv = await self._fetch(cid)
        if conv is None:
            return None
        env = await self.views.env_for(conv.get("owner"))
        woke = self._wake(cid, conv, env)
        if woke is not None:
            await self._commit(cid, conv, woke, save=False, stash_required=False)
            conv = woke.conversation
        if conv.get("painted") != cv.top(conv):
            conv = self.conversations[cid] = dict(conv, painted=cv.top(conv))
        conv["touched"] = time.time()
        self.live.seen(cid)
        return conv, str(kernel.render_page(conv, env))

    async def open_stream(self, cid: str, page: str, seen: int) -> Stream | None:
        """Attach a stream (a use) for ``page``, which shows version ``seen``; ``None``: gone.

        A page that missed folds (or a restored conversation) gets a snapshot first; the body is :meth:`events`.
        """
        async with self.locked(cid):
            conv = await self._fetch(cid)
            if conv is None:
                return None
            self._use(cid, conv)
            stream = self.streams.attach(cid, page, conv.get("owner"))
            conv["touched"] = time.time()
            if cid in self.restored or seen < conv.get("version", 0):
                found = await self.page_locked(cid)
                if found is not None:
                    offer(stream, snapshot(cid, *found))
            return stream

    def events(self, stream: Stream) -> AsyncIterator[bytes]:
        """The SSE body of ``stream`` (keepalives included); detaches it when the page goes away."""
        return stream.events(self.settings.keepalive, lambda: self.streams.detach(stream.cid, stream))

    def push(self, cid: str, fragments: list[Fragment], *, since: int, to: int, exclude: str | None = None) -> None:
        """Send one fold's fragments to every open page but ``exclude``; a page receiving them is activity."""
        conv = self.conversations.get(cid)
        if self.streams.push(cid, fragments, since=since, to=to, exclude=exclude) and conv is not None:
            conv["touched"] = time.time()

    # 0.1 stream API, used by the HTTP layer until it calls open_stream/events.
    def attach(self, cid: str, page: str) -> Stream:
        conv = self.conversations.get(cid)
        if conv is not None:
            self._use(cid, conv)
        return self.streams.attach(cid, page, conv.get("owner") if conv else None)

    def detach(self, cid: str, stream: Stream) -> None:
        self.streams.detach(cid, stream)

    snapshot = staticmethod(snapshot)

    # -- ending, evicting, reaping --

    async def end(self, cid: str, value: Any = None) -> bool:
        """End a conversation from outside (host code, the reaper): ``stop`` hooks run."""
        async with self.locked(cid):
            conv = self.conversations.get(cid)
            if conv is not None:
                self._finish(cid, conv, value)
                await self._end(cid)
            return conv is not None

    def _finish(self, cid: str, conv: dict[str, Any], value: Any = None) -> None:
        out = kernel.finish(conv, self.env, value)
        self.push(cid, out.fragments, since=conv.get("version", 0), to=out.conversation.get("version", 0))

    async def _end(self, cid: str) -> None:
        self._drop(cid)
        await self.saved.delete(cid)  # it ended: the store forgets it too

    def _drop(self, cid: str) -> None:
        """Let go of everything this process holds for a conversation (the store keeps its copy)."""
        self.live.drop(cid)
        self.saved.forget(cid)
        self.scheduler.forget(cid)
        self.streams.close(cid)
        _release_flows(self.env, cid, None)

    def _make_room(self) -> None:
        """Below ``max_conversations`` again; one the store cannot give back ends (stop hooks run)."""
        for cid in self.live.victims(self.settings.max_conversations, busy=self.locked):
            conv = self.conversations[cid]
            if not self.saved.reloadable(cid):
                self._finish(cid, conv)
                if cid in self.persisted:
                    self.scheduler.spawn(self._end(cid))
            self._drop(cid)

    async def reap(self, now: float | None = None) -> list[str]:
        """End conversations idle longer than their TTL (``unused_ttl`` for unused ones); their ids."""
        now = time.time() if now is None else now
        idle = self.live.idle(now, self.settings.ttl, self.settings.unused_ttl)
        for cid in idle:
            await self.end(cid)
        return idle

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
                if cid in self.persisted and await self._save_rekeyed(changed) is None:
                    continue
                self.conversations[cid] = changed
                moved.append(cid)
        load_all = getattr(self.store, "load_all", None)
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
            self._drop(cid)  # another process moved it on: it answers for it
            return None
        except NotSaved:
            log.error("rotating a session: conversation %s keeps its old owner (the store failed)", cid)
            return None
        return cid

    # -- introspection (tests, benchmarks, hosts) --

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to this application's subscribers of ``topic``."""
        return self.scheduler.publish(topic, message)

    def subscribers(self, topic: str) -> int:
        return self.scheduler.subscribers(topic)

    def pending_timers(self, cid: str) -> int:
        return self.scheduler.pending_timers(cid)


def _release_flows(env: Env, cid: str | None, iids: list[str] | None) -> None:
    """Free flow continuations of instances (or conversations) that left; a failure is logged."""
    try:
        flows.release(env, cid, iids)
    except Exception:
        log.exception("releasing flows failed")


def _after(woke: Outcome, out: Outcome) -> Outcome:
    """A restored conversation's wakeup and the first fold on it commit as one; the wakeup's repaint first."""
    return Outcome(out.conversation, fragments=woke.fragments + out.fragments, error=out.error,
                   commands=woke.commands + out.commands, removed=woke.removed + out.removed)
