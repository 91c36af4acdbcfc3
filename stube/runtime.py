"""The runtime: the mutable things around the pure kernel.

It owns the live conversations of one application, a lock per conversation
(events on one conversation are strictly ordered, different conversations run
concurrently) and the calls to the conversation store and the session stash;
its :class:`~stube.scheduler.Scheduler` runs timers, ``io`` and subscriptions,
its :class:`~stube.streams.Streams` hold the open pages. Every kernel fold runs
on the event-loop thread (greenlets cannot switch threads).

Page views are cheap on purpose: a conversation nobody has used yet (no event,
no stream) is never saved (unless the store is shared by several processes:
its first event or stream may reach another one), its commands are held, it
expires after ``unused_ttl`` and it is the first to go beyond ``max_conversations``.

Several processes (a :class:`~stube.bus.RedisBus`, a shared store) serve any
event of any conversation: a fold whose save finds that another process moved
the conversation on (:class:`~stube.store.StaleWrite`) reloads it from the
store and folds again. Each commit is published on the bus channel
``conv:<cid>`` (``{"since", "to", "html", "exclude"}``: the rendered SSE
partials), which every process holding streams or a copy of that conversation
follows: it pushes the fragments to its own pages and lets its older copy go.
``publish()`` travels on the channel ``publish``; a timer or a published
message that reaches the same subscriber in two processes is delivered by the
one that claims it on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from . import conversation as cv
from . import flows, kernel, wire
from . import fragments as fr
from .bus import Bus, LocalBus, Message, Subscription
from .component import Component
from .context import SCHEDULER
from .errors import NotSaved, UnknownEvent
from .fragments import Fragment
from .kernel import Env, Event, Handler, Outcome
from .livemap import LiveMap, Locks, Reaper
from .persist import PINNED, Persistence, SessionViews
from .render import Urls
from .scheduler import Scheduler, live_commands, publish
from .store import StaleWrite
from .streams import Stream, Streams, offer, snapshot

__all__ = ["Runtime", "Settings", "Stream", "live_commands", "publish"]

log = logging.getLogger("stube")

Fold = Callable[[dict[str, Any], Env], Outcome]

#: Folds of one event retried after another process moved its conversation on (then it answers 410).
STALE_RETRIES = 50
#: Seconds of the random pause before a retry, times the attempt (at most 10): the process that just
#: won has a fresh copy and would keep winning against one that must reload first.
STALE_BACKOFF = 0.001
#: The bus channel carrying ``publish()`` between processes; ``conv:<cid>`` carries each commit.
PUBLISH_CHANNEL = "publish"
#: What an event for a live (greenlet/generator) flow running in another process answers.
MOVED_TEXT = "This step was started on another server; start again."


class _Retry(Exception):
    """(Internal.) The save met another process's newer version: reload and fold again."""


class _Outbox:
    """Bus messages of this process, sent one at a time in order (a failure is logged, not raised)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._task: asyncio.Task[None] | None = None

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self._queue.append((channel, message))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                channel, message = self._queue.popleft()
                try:
                    await self.bus.publish(channel, message)
                except Exception:
                    log.warning("bus: publishing on %s failed; other processes miss this message",
                                channel, exc_info=True)
        finally:
            self._task = None

    async def flush(self) -> None:
        while self._task is not None:
            await asyncio.shield(self._task)


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

    def __init__(self, *, env: Env, store: Any, stash: Any = None, settings: Settings | None = None,
                 bus: Bus | None = None) -> None:
        self.env, self.store, self.stash = env, store, stash
        self.settings = s = settings or Settings()
        self.bus: Bus = bus if bus is not None else LocalBus()
        #: Other processes may serve this application: commits and publishes travel on the bus.
        self.remote = not isinstance(self.bus, LocalBus)
        self._outbox = _Outbox(self.bus)
        self._follows: dict[str, Subscription] = {}  # cid -> its conv:<cid> subscription
        self._publish_sub: Subscription | None = None
        self.live = LiveMap()
        self.saved = Persistence(store, node=self.bus.node_id)
        self.saved.live = env.live
        self.conversations = self.live.conversations  # cid -> the live value
        self.restored = self.live.restored            # loaded from the store, not woken yet
        self.persisted = self.saved.persisted         # saved at least once
        self.locked = Locks()  # ``async with rt.locked(cid):`` orders the events of one conversation
        self.views = SessionViews(stash, env)
        self.scheduler = Scheduler(env.app, self.deliver, claim=self.bus.claim if self.remote else None,
                                   relay=self._relay_publish if self.remote else None)
        self._topics = self.scheduler.topics  # topic -> {(cid, iid): event}; read by tests
        self.streams = Streams(per_conversation=s.max_streams, per_session=s.max_streams_per_session)
        self.reaper = Reaper(self.reap, stash)
        self.running = False
        self.shutting_down = False
        #: Folds done again because another process had moved the conversation on (for benchmarks).
        self.stale_retries = 0

    # -- lifecycle --

    async def start(self) -> None:
        """Load every stored conversation, then start the reaper. Idempotent."""
        if self.running:
            return
        s = self.settings
        await self.bus.start()
        if self.remote:
            self._publish_sub = self.bus.subscribe(PUBLISH_CHANNEL, self._on_publish)
            await self._publish_sub.ready()
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
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._outbox.flush(), 5)
        self._follows.clear()  # the bus drops every subscription as it closes
        try:
            await self.bus.close()
        except Exception:
            log.exception("closing the bus failed")
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

    async def fresh(self, cid: str) -> dict[str, Any] | None:
        """:meth:`conversation`, re-read from a shared store when another process saved a newer version."""
        if not self.saved.shared:
            return await self.conversation(cid)
        async with self.locked(cid):
            conv = await self._refresh(cid)
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
        async with self.locked(cid):
            before = self.conversations.get(cid)
            if before is None or before is not admitted:
                before = await self._fetch(cid)
                if before is None:
                    return None
            if self._pinned_elsewhere(before):
                return self._moved(before)
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
            except StaleWrite as exc:
                if exc.stored == -2:  # ended elsewhere: our copy must not answer for it
                    self._drop(cid)
                    return None
                self._stale(cid)  # another process moved it on: fold again on the stored value
                raise _Retry from None
            except NotSaved:
                if woke is not None:
                    self.restored.add(cid)
                raise
            if out.error is None and (self.remote or cid in self.streams):  # other processes may hold its pages
                self.push(cid, out.fragments, since=out.since, to=out.conversation.get("version", 0), exclude=page)
            if out.conversation.get("ended"):
                await self._end(cid)
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

    async def _fetch(self, cid: str) -> dict[str, Any] | None:
        """(Lock held.) A live conversation, or one the store has (another process saved it)."""
        conv = self.conversations.get(cid)
        if conv is not None:
            return None if conv.get("ended") else conv
        if self.shutting_down:
            return None
        conv = await self.saved.load(cid)
        if conv is not None and not self._pinned_elsewhere(conv):
            self._make_room()
            self.live.adopt(cid, conv)
        return conv

    def _pinned_elsewhere(self, conv: dict[str, Any]) -> bool:
        """Saved by another process while it ran a live (non-durable) flow: the flow cannot move here."""
        pinned = conv.get(PINNED)
        return pinned is not None and pinned != self.bus.node_id

    def _moved(self, conv: dict[str, Any]) -> Outcome:
        """What an event on a conversation :meth:`_pinned_elsewhere` answers: a clear page, no change."""
        urls = Urls(conv.get("base") or "")
        html = (f'<div class="stube-moved" role="alert"><p>{escape(MOVED_TEXT)}</p>'
                f'<p><a href="{escape(urls.page(conv.get("mount") or "/"))}">Start again</a></p></div>')
        v = conv.get("version", 0)
        return Outcome(conv, fragments=[Fragment(fr.CLOSE, target=conv["id"], html=html)], since=v)

    def _stale(self, cid: str) -> None:
        """(Lock held, or between folds.) Another process committed ``cid`` further: let our copy go.

        Its streams stay (fed over the bus) and so do its timers and subscriptions: when
        one fires, the fold reloads the conversation from the store (a duplicate armed in
        another process is claimed away). Commands held for a page view that was never
        used here go: the process that used it armed its own.
        """
        if self.live.is_unused(cid):
            self.scheduler.forget(cid)
        self.live.drop(cid)
        self.saved.forget(cid)
        _release_flows(self.env, cid, None)

    async def _refresh(self, cid: str) -> dict[str, Any] | None:
        """(Lock held.) :meth:`_fetch`, but from a shared store a newer saved version replaces ours."""
        conv = self.conversations.get(cid)
        if conv is None or not self.saved.shared or conv.get("ended") or self.shutting_down:
            return await self._fetch(cid)
        stored = await self.saved.load(cid)
        if stored is not None and stored.get("version", 0) > conv.get("version", 0):
            self._stale(cid)
            self.persisted.add(cid)  # the store holds it (forgotten with the old copy)
            if self._pinned_elsewhere(stored):
                return stored
            self.live.adopt(cid, stored)
            return stored
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
        if self.remote and not self.live.is_unused(cid):
            self._follow(cid)

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
        # A shared store: its first event or stream may reach another process, which must find it.
        try:
            await self._commit(cid, None, out, save=self.saved.shared, touch=False, stash_required=False)
        except NotSaved:  # logged; the page still works on this process
            await self._commit(cid, None, out, save=False, touch=False, stash_required=False)
        return out

    async def page(self, cid: str) -> tuple[dict[str, Any], str] | None:
        """The conversation and its current top-frame HTML (a reload, or the no-JS path)."""
        async with self.locked(cid):
            return await self.page_locked(cid)

    async def page_locked(self, cid: str) -> tuple[dict[str, Any], str] | None:
        """:meth:`page` for a caller that already holds the conversation's lock.

        From a shared store it shows the newest saved version, whichever process saved it.
        """
        for _ in range(STALE_RETRIES):
            conv = await self._refresh(cid)
            if conv is None or self._pinned_elsewhere(conv):
                return None
            env = await self.views.env_for(conv.get("owner"))
            woke = self._wake(cid, conv, env)
            if woke is None:
                break
            # Shared: the woken value is saved, so that no two processes show different values
            # under one version number (the pages' version chain would skip a fold).
            try:
                await self._commit(cid, conv, woke, save=self.saved.shared and cid in self.persisted,
                                   stash_required=False)
            except StaleWrite as exc:
                if exc.stored == -2:
                    self._drop(cid)
                    return None
                self._stale(cid)
                continue
            except NotSaved:  # the store is down: the page still renders, from memory
                await self._commit(cid, conv, woke, save=False, stash_required=False)
            conv = woke.conversation
            break
        else:
            return None
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
            pinned = self._pinned_elsewhere(conv)
            if not pinned:
                self._use(cid, conv)
            stream = self.streams.attach(cid, page, conv.get("owner"))
            conv["touched"] = time.time()
            if self.remote:  # folds committed by other processes reach this stream over the bus
                try:
                    await self._follow(cid).ready()
                except Exception:
                    log.warning("bus: the stream of %s may miss updates from other processes", cid)
                if not pinned:
                    conv = await self._refresh(cid) or conv  # what was committed before we listened
            if not pinned and (cid in self.restored or seen < conv.get("version", 0)):
                found = await self.page_locked(cid)
                if found is not None:
                    offer(stream, snapshot(cid, *found))
            return stream

    def events(self, stream: Stream) -> AsyncIterator[bytes]:
        """The SSE body of ``stream`` (keepalives included); detaches it when the page goes away."""
        def done() -> None:
            self.streams.detach(stream.cid, stream)
            self._unfollow_idle(stream.cid)

        return stream.events(self.settings.keepalive, done)

    def push(self, cid: str, fragments: list[Fragment], *, since: int, to: int, exclude: str | None = None) -> None:
        """Send one fold's fragments to every open page but ``exclude``; a page receiving them is activity.

        With other processes, the rendered fragments also go out on ``conv:<cid>`` for their pages.
        """
        conv = self.conversations.get(cid)
        if not self.remote:
            if self.streams.push(cid, fragments, since=since, to=to, exclude=exclude) and conv is not None:
                conv["touched"] = time.time()
            return
        if not fragments and since == to:
            return
        html = wire.partials(fragments, cid=cid, history_in_headers=False)
        if self.streams.push_html(cid, html, since=since, to=to, exclude=exclude) and conv is not None:
            conv["touched"] = time.time()
        self._outbox.send(f"conv:{cid}", {"since": since, "to": to, "html": html, "exclude": exclude})

    # -- the bus: following conversations, publish between processes --

    def _follow(self, cid: str) -> Subscription:
        """Subscribe to ``conv:<cid>`` (once): other processes' commits of it."""
        sub = self._follows.get(cid)
        if sub is None or sub.closed:
            sub = self._follows[cid] = self.bus.subscribe(
                f"conv:{cid}", lambda m: self._on_fold(cid, m), on_gap=lambda: self._on_gap(cid))
        return sub

    def _unfollow(self, cid: str) -> None:
        sub = self._follows.pop(cid, None)
        if sub is not None:
            sub.close()

    def _unfollow_idle(self, cid: str) -> None:
        """Stop following ``cid`` once this process holds neither a copy nor a stream of it."""
        if cid not in self.conversations and cid not in self.streams:
            self._unfollow(cid)

    def _on_fold(self, cid: str, message: Message) -> None:
        """Another process committed ``cid``: feed our pages, and let an older copy of ours go."""
        if message.own:
            return  # pushed to our own streams when we committed it
        d = message.data
        since, to, html, exclude = d.get("since"), d.get("to"), d.get("html"), d.get("exclude")
        if type(since) is not int or type(to) is not int or type(html) is not str:
            log.warning("bus: dropped a malformed message on conv:%s", cid)
            return
        conv = self.conversations.get(cid)
        if self.streams.push_html(cid, html, since=since, to=to,
                                  exclude=exclude if isinstance(exclude, str) else None) and conv is not None:
            conv["touched"] = time.time()
        if conv is not None and conv.get("version", 0) < to:
            self.scheduler.spawn(self._outdated(cid, to))
        elif conv is None:
            self._unfollow_idle(cid)

    async def _outdated(self, cid: str, to: int) -> None:
        async with self.locked(cid):
            conv = self.conversations.get(cid)
            if conv is not None and conv.get("version", 0) < to and not self._pinned_elsewhere(conv):
                self._stale(cid)
                if cid in self.streams:
                    return
                self._unfollow(cid)

    async def _on_gap(self, cid: str) -> None:
        """The bus lost ``conv:<cid>`` for a while: our pages may have missed folds, send each a snapshot."""
        if cid not in self.streams:
            return
        async with self.locked(cid):
            found = await self.page_locked(cid)
            if found is None:
                return
            for stream in list(self.streams.get(cid) or ()):
                offer(stream, snapshot(cid, *found))

    def _relay_publish(self, topic: str, message: Any, msg_id: str) -> None:
        self._outbox.send(PUBLISH_CHANNEL, {"topic": topic, "message": message, "id": msg_id})

    def _on_publish(self, message: Message) -> None:
        d = message.data
        if message.own or type(d.get("topic")) is not str or type(d.get("id")) is not str:
            return
        self.scheduler.fan_out(d["topic"], d.get("message"), d["id"])

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
        self._unfollow(cid)

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
        ended = []
        for cid in idle:
            if not await self._used_elsewhere(cid):
                await self.end(cid)
                ended.append(cid)
        return ended

    async def _used_elsewhere(self, cid: str) -> bool:
        """A shared store holds a newer or more recently touched copy: let ours go instead of ending it."""
        if not self.saved.shared or cid not in self.persisted:
            return False
        async with self.locked(cid):
            conv = self.conversations.get(cid)
            if conv is None:
                return True
            stored = await self.saved.load(cid)
            if stored is None or (stored.get("version", 0) <= conv.get("version", 0)
                                  and stored.get("touched", 0) <= conv.get("touched", 0)):
                return False
            self._drop(cid)
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
