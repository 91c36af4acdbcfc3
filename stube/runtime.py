"""The runtime: the mutable things around the pure kernel.

It owns the live conversations of one application, a lock per conversation
(events on one conversation are strictly ordered, different conversations run
concurrently) and the calls to the conversation store and the session stash;
its :class:`~stube.scheduler.Scheduler` runs timers, ``io`` and subscriptions,
its :class:`~stube.streams.Streams` hold the open pages, its
:class:`~stube.holdings.Holdings` decide which copies this process holds (loading,
committing, evicting, reaping) and its :class:`~stube.relay.Relay` carries commits
and ``publish()`` to the other processes. Every kernel fold runs on the event-loop
thread (greenlets cannot switch threads).

Page views are cheap on purpose: a conversation nobody has used yet (no event,
no stream) is never saved (unless the store is shared by several processes:
its first event or stream may reach another one), its commands are held, it
expires after ``unused_ttl`` and it is the first to go beyond ``max_conversations``.

Several processes (a :class:`~stube.bus.RedisBus`, a shared store) serve any
event of any conversation: a fold whose save finds that another process moved
the conversation on (:class:`~stube.store.StaleWrite`) reloads it from the
store and folds again; a timer or a published message that reaches the same
subscriber in two processes is delivered by the one that claims it on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from . import conversation as cv
from . import kernel
from .bus import Bus, LocalBus
from .component import Component
from .context import SCHEDULER
from .errors import NotSaved, UnknownEvent
from .fragments import Fragment
from .holdings import STALE_RETRIES, Holdings, release_flows
from .kernel import Env, Event, Handler, Outcome
from .livemap import LiveMap, Locks, Reaper
from .persist import PINNED, Persistence, SessionViews
from .relay import Relay, moved
from .scheduler import Scheduler, live_commands, publish
from .store import StaleWrite
from .streams import Stream, Streams, offer, snapshot

__all__ = ["STALE_RETRIES", "Runtime", "Settings", "Stream", "live_commands", "publish"]

log = logging.getLogger("stube")

Fold = Callable[[dict[str, Any], Env], Outcome]

#: Seconds of the random pause before a retry, times the attempt (at most 10): the process that just
#: won has a fresh copy and would keep winning against one that must reload first.
STALE_BACKOFF = 0.001


class _Retry(Exception):
    """(Internal.) The save met another process's newer version: reload and fold again."""


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
    #: Tune the garbage collector at the first start (:func:`tune_gc`); ``Stube(tune_gc=)``.
    tune_gc: bool = True


class Runtime:
    """Everything mutable around the kernel for one application (see the module docstring)."""

    def __init__(self, *, env: Env, store: Any, stash: Any = None, settings: Settings | None = None,
                 bus: Bus | None = None) -> None:
        self.env, self.store, self.stash = env, store, stash
        self.settings = s = settings or Settings()
        self.bus: Bus = bus if bus is not None else LocalBus()
        self.live = LiveMap()
        self.saved = Persistence(store, node=self.bus.node_id)
        self.saved.live = env.live
        self.conversations = self.live.conversations  # cid -> the live value
        self.restored = self.live.restored            # loaded from the store, not woken yet
        self.persisted = self.saved.persisted         # saved at least once
        self.locked = Locks()  # ``async with rt.locked(cid):`` orders the events of one conversation
        self.views = SessionViews(stash, env)
        self.streams = Streams(per_conversation=s.max_streams, per_session=s.max_streams_per_session)
        self.holdings = Holdings(self)
        self.relay = Relay(self.bus, self, let_go=self.holdings.let_go)
        #: Other processes may serve this application: commits and publishes travel on the bus.
        self.remote = self.relay.remote
        self.scheduler = Scheduler(env.app, self.deliver, claim=self.bus.claim if self.remote else None,
                                   relay=self.relay.send_publish if self.remote else None)
        self._topics = self.scheduler.topics  # topic -> {(cid, iid): event}; read by tests
        self.running = self.shutting_down = False
        self.reaper = Reaper(self.reap, stash)
        #: Folds done again because another process had moved the conversation on (for benchmarks).
        self.stale_retries = 0

    # -- lifecycle --

    async def start(self) -> None:
        """Load every stored conversation, then start the reaper. Idempotent."""
        if self.running:
            return
        await self.relay.start()
        loaded = await self.saved.load_all()  # raises: serving without them would silently lose them
        for cid, conv in loaded.items():
            self.live.adopt(cid, conv)
        if loaded:
            log.info("stube restored %d conversation(s) from %s", len(self.restored), type(self.store).__name__)
        self.scheduler.start()
        self.running = True
        self.reaper.start((self.settings.ttl, self.settings.unused_ttl), self.settings.reaper_interval)
        tune_gc(self.settings.tune_gc)

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
        release_flows(self.env, None, None)
        self.running = False
        await self.relay.close()
        await self.saved.aclose(self.stash)

    def release_streams(self) -> None:
        """The server was told to stop: end every open stream now, so it can finish its responses.

        Servers wait for open responses before the lifespan shutdown, and a stream never ends by
        itself. Events are still served until then; the pages reconnect (to another process, or
        this one restarted) and catch up from the version they show (a snapshot when they missed a fold).
        """
        self.streams.stop()

    # -- reading, applying folds --

    async def conversation(self, cid: str) -> dict[str, Any] | None:
        """The live conversation, loaded from the store when this process does not hold it yet."""
        conv = self.conversations.get(cid)
        if conv is None and self.saved.can_load:
            async with self.locked(cid):
                conv = await self.holdings.fetch(cid)
        return None if conv is None or conv.get("ended") else conv

    lookup = conversation  # the 0.1 name, kept while the HTTP layer moves over

    async def fresh(self, cid: str) -> dict[str, Any] | None:
        """:meth:`conversation`, re-read from a shared store when another process saved a newer version."""
        if not self.saved.shared:
            return await self.conversation(cid)
        async with self.locked(cid):
            conv = await self.holdings.refresh(cid)
        return None if conv is None or conv.get("ended") else conv

    async def apply(self, cid: str, fold: Event | Fold, *, page: str | None = None, browser: bool = True,
                    handler: Handler | None = None, admitted: dict[str, Any] | None = None) -> Outcome | None:
        """Fold an event (or ``fold(conv, env)``) under the conversation's lock, commit, push to pages but ``page``.

        ``handler`` is what ``kernel.admit`` returned for a browser event on the
        conversation value ``admitted``: when that is still the live value, nothing
        is resolved or checked again. ``None``: the conversation is gone (ended, or unknown);
        :class:`~stube.errors.NotSaved`: the store failed, nothing changed.
        ``browser`` is false for timers, io, messages and ``dispatch_to``: no use, no first save.
        When another process moved the conversation on meanwhile, it is reloaded
        from the store and the event folds again on the newer value (at most
        :data:`STALE_RETRIES` times, then ``None``).
        """
        for attempt in range(STALE_RETRIES):
            try:
                return await self._apply(cid, fold, page=page, browser=browser, handler=handler, admitted=admitted)
            except _Retry:
                self.stale_retries += 1
                if attempt:
                    await asyncio.sleep(random.uniform(0, STALE_BACKOFF * min(attempt, 10)))
        log.error("conversation %s: gave up after %d folds, each overtaken by another process",
                  cid, STALE_RETRIES)
        return None

    async def _apply(self, cid: str, fold: Event | Fold, *, page: str | None, browser: bool,
                     handler: Handler | None, admitted: dict[str, Any] | None) -> Outcome | None:
        h = self.holdings
        async with self.locked(cid):
            before = self.conversations.get(cid)
            if before is None or before is not admitted:
                before = await h.fetch(cid)
                if before is None:
                    return None
            if PINNED in before and self.relay.pinned_elsewhere(before):  # rare: skip the call otherwise
                return moved(before)
            if browser and self.live.use(cid):  # Holdings.use(), inlined
                self.scheduler.release(cid, before)
            env = await self.views.env_for(before.get("owner"))
            woke = h.wake(cid, before, env) if cid in self.restored else None
            conv = woke.conversation if woke is not None else before
            token = SCHEDULER.set(self.scheduler)  # Scheduler.active(), inlined: once per event
            try:
                if handler is not None and conv is admitted and isinstance(fold, Event) and not fold.internal:
                    out = kernel.run(conv, fold, env, handler)  # admitted on this very value: no re-check
                else:
                    out = _fold(conv, fold, env)
            finally:
                SCHEDULER.reset(token)
            if woke is not None:
                out = _after(woke, out)
            out.since = before.get("version", 0)
            try:
                await h.commit(cid, before, out, save=browser or cid in self.persisted, touch=browser)
            except StaleWrite as exc:
                if exc.stored == -2:  # ended elsewhere: our copy must not answer for it
                    h.drop(cid)
                    return None
                h.let_go(cid)  # another process moved it on: fold again on the stored value
                raise _Retry from None
            except NotSaved:
                if woke is not None:
                    self.restored.add(cid)
                raise
            # Other processes may hold its pages; here, a dict look-up (no call) on the hot path.
            if out.error is None and (self.remote or cid in self.streams.by_cid):
                self.push(cid, out.fragments, since=out.since, to=out.conversation.get("version", 0), exclude=page)
            if out.conversation.get("ended"):
                await h.ended(cid)
            return out

    async def deliver(self, cid: str, event: Event) -> Outcome | None:
        """Fold an internal event (timer, io result, message, dispatch_to) and push the result."""
        try:
            out = await self.apply(cid, event, browser=False)
            if out is None and cid not in self.conversations:
                self.scheduler.forget(cid)  # it ended (here or elsewhere): nothing more to deliver
            return out
        except NotSaved:
            return None  # logged by _save; the conversation stays as it was
        except Exception:
            log.exception("delivering %s to %s/%s failed", event.name, cid, event.iid)
            return None

    # -- minting, pages and streams --

    async def mint(self, root: Component | type[Component], *, owner: str | None, principal: Any,
                   mount: str, base: str) -> Outcome:
        """Create a conversation for a page view: unused, unsaved, its commands held until it is used."""
        h = self.holdings
        h.make_room()
        env = await self.views.env_for(owner)
        with self.scheduler.active():
            out = kernel.boot(root, env, owner=owner, principal=principal, mount=mount, base=base)
        cid = out.conversation["id"]
        if out.conversation.get("ended"):
            release_flows(self.env, cid, None)
            return out
        out.conversation = self.live.add_unused(cid, out.conversation)  # the compact value it holds
        # A shared store: its first event or stream may reach another process, which must find it.
        try:
            await h.commit(cid, None, out, save=self.saved.shared, touch=False, stash_required=False)
        except NotSaved:  # logged; the page still works on this process
            await h.commit(cid, None, out, save=False, touch=False, stash_required=False)
        return out

    async def page(self, cid: str) -> tuple[dict[str, Any], str] | None:
        """The conversation and its current top-frame HTML (a reload, or the no-JS path)."""
        async with self.locked(cid):
            return await self.page_locked(cid)

    async def page_locked(self, cid: str) -> tuple[dict[str, Any], str] | None:
        """:meth:`page` for a caller that already holds the conversation's lock.

        From a shared store it shows the newest saved version, whichever process saved it.
        """
        if (found := await self.holdings.woken(cid)) is None:
            return None
        conv, env = found
        if conv.get("painted") != cv.top(conv):
            conv = self.conversations[cid] = dict(conv, painted=cv.top(conv))
        conv["touched"] = time.time()
        self.live.seen(cid)
        return conv, str(kernel.render_page(conv, env))

    async def open_stream(self, cid: str, page: str, seen: int) -> Stream | None:
        """Attach a stream (a use) for ``page``, which shows version ``seen``; ``None``: gone.

        A page that missed folds (or a restored conversation) gets a snapshot first; the body is :meth:`events`.
        """
        h = self.holdings
        async with self.locked(cid):
            conv = await h.fetch(cid)
            if conv is None:
                return None
            pinned = self.relay.pinned_elsewhere(conv)
            if not pinned:
                h.use(cid, conv)
            stream = self.streams.attach(cid, page, conv.get("owner"))
            conv["touched"] = time.time()
            if self.remote:  # folds committed by other processes reach this stream over the bus
                try:
                    await self.relay.follow(cid).ready()
                except Exception:
                    log.warning("bus: the stream of %s may miss updates from other processes", cid)
                if not pinned:
                    conv = await h.refresh(cid) or conv  # what was committed before we listened
            if not pinned and (cid in self.restored or seen < conv.get("version", 0)):
                found = await self.page_locked(cid)
                if found is not None:
                    offer(stream, snapshot(cid, *found))
            return stream

    def events(self, stream: Stream) -> AsyncIterator[bytes]:
        """The SSE body of ``stream`` (keepalives included); detaches it when the page goes away."""
        def done() -> None:
            self.streams.detach(stream.cid, stream)
            self.relay.unfollow_idle(stream.cid)

        return stream.events(self.settings.keepalive, done)

    def push(self, cid: str, fragments: list[Fragment], *, since: int, to: int, exclude: str | None = None) -> None:
        """Send one fold's fragments to every open page but ``exclude`` (here and, over the bus, elsewhere)."""
        self.relay.push(cid, fragments, since=since, to=to, exclude=exclude)

    # 0.1 stream API, used by the HTTP layer until it calls open_stream/events.
    def attach(self, cid: str, page: str) -> Stream:
        conv = self.conversations.get(cid)
        if conv is not None:
            self.holdings.use(cid, conv)
        return self.streams.attach(cid, page, conv.get("owner") if conv else None)

    def detach(self, cid: str, stream: Stream) -> None:
        self.streams.detach(cid, stream)

    snapshot = staticmethod(snapshot)

    # -- ending, reaping, sessions: the holdings do it --

    async def end(self, cid: str, value: Any = None) -> bool:
        """End a conversation from outside (host code, the reaper): ``stop`` hooks run."""
        return await self.holdings.end(cid, value)

    async def reap(self, now: float | None = None) -> list[str]:
        """End conversations idle longer than their TTL (``unused_ttl`` for unused ones); their ids."""
        return await self.holdings.reap(now)

    async def rekey(self, old: str, new: str) -> list[str]:
        """Give every conversation owned by ``old`` to ``new`` (a session rotated at sign-in); their ids."""
        return await self.holdings.rekey(old, new)

    # -- introspection (tests, benchmarks, hosts) --

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to this application's subscribers of ``topic``."""
        return self.scheduler.publish(topic, message)

    def subscribers(self, topic: str) -> int:
        return self.scheduler.subscribers(topic)

    def pending_timers(self, cid: str) -> int:
        return self.scheduler.pending_timers(cid)


#: The collector's young-generation threshold from the first start on, at least (CPython's default is 700).
GC_YOUNG_THRESHOLD = 2000

_tuned = False


def tune_gc(enabled: bool = True) -> bool:
    """Once per process, at the first start (unless not ``enabled``): freeze what it holds, and let
    the collector's young generation grow to :data:`GC_YOUNG_THRESHOLD`; true the time it does.

    Full passes of the collector walk every object that reached its oldest
    generation, and they came in the middle of a ``publish`` to 1,000 pages (40
    to 70 ms each). Two things feed them. What the server holds from its start
    (modules, templates, the application, restored conversations) stays until it
    stops: :func:`gc.freeze` (after a collection, so no garbage cycle stays)
    takes it out of every pass; frozen objects are still freed when their last
    reference goes. And each fold's new values reached that generation before the
    next fold replaced them, because the young one was collected every 700 new
    objects: at 2,000 they mostly die young, and no full pass came in 120 rounds
    of ``bench/fanout.py`` (two did at 700). Only the first threshold changes, and only upwards.
    """
    global _tuned
    if _tuned or not enabled:
        return False
    _tuned = True
    gc.collect()
    gc.freeze()
    young, *older = gc.get_threshold()
    if young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, *older)
    return True


def _fold(conv: dict[str, Any], fold: Event | Fold, env: Env) -> Outcome:
    """Run one fold on ``conv``; a browser event is checked again (the value moved on since admit)."""
    if not isinstance(fold, Event):
        return fold(conv, env)
    if fold.internal:
        return kernel.run(conv, fold, env)
    try:  # a dialog may cover it now
        handler = kernel.admit(conv, fold.iid, fold.name)
    except UnknownEvent:  # e.g. a banner's button once its frame is no longer on top
        handler = None
    return kernel.run(conv, fold, env, handler) if handler is not None else Outcome(conv)


def _after(woke: Outcome, out: Outcome) -> Outcome:
    """A restored conversation's wakeup and the first fold on it commit as one; the wakeup's repaint first."""
    return Outcome(out.conversation, fragments=woke.fragments + out.fragments, error=out.error,
                   commands=woke.commands + out.commands, removed=woke.removed + out.removed)
