"""The runtime: the mutable things around the pure kernel.

It owns the live conversations of one application, a lock per conversation
(events on one conversation are strictly ordered, different conversations run
concurrently), the SSE streams of open pages, timers, pub/sub subscriptions,
``io`` jobs, and the calls to the conversation store and the session stash.
Every kernel fold runs on the event-loop thread (greenlets cannot switch
threads); only ``io`` functions run elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from . import conversation as cv
from . import kernel, wire
from .component import Component, generation, registered
from .context import ambient
from .fragments import Fragment
from .kernel import Command, Env, Event, Outcome
from .store import StaleWrite

log = logging.getLogger("stube")
store_log = logging.getLogger("stube.store")

_current: ContextVar[Runtime | None] = ContextVar("stube_runtime", default=None)
_runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()


def publish(topic: str, message: Any) -> int:
    """Deliver ``message`` to every subscriber of ``topic``; returns how many were targeted.

    Safe to call from handlers, from ``io`` functions (other threads) and from
    host code. Inside a dispatch it targets that application; elsewhere every
    running stube application of this process.
    """
    rt = _current.get()
    targets = [rt] if rt is not None else list(_runtimes)
    return sum(r.publish(topic, message) for r in targets if r.running)


def live_commands(out: Outcome, conv: dict[str, Any]) -> list[Command]:
    """The runtime's commands of a fold, without stash writes and without timers or
    subscriptions of instances that already left (``io`` and ``dispatch_to`` still run)."""
    instances = conv["instances"]
    return [c for c in out.commands
            if c.kind != "stash" and (c.kind not in ("after", "subscribe") or c.iid in instances)]


class Stream:
    """One open SSE connection: one page showing one conversation."""

    __slots__ = ("queue", "page")

    def __init__(self, page: str) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
        self.page = page


class _Lock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


@dataclass(slots=True)
class Settings:
    ttl: float | None = 12 * 3600.0
    reaper_interval: float | None = None
    keepalive: float = 15.0


class Runtime:
    def __init__(self, *, env: Env, store: Any, stash: Any = None, settings: Settings | None = None,
                 ended_html: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.env = env
        self.store = store
        self.stash = stash
        self.settings = settings or Settings()
        self.ended_html = ended_html or (lambda conv: "")
        self.conversations: dict[str, dict[str, Any]] = {}
        self.streams: dict[str, list[Stream]] = {}
        self.restored: set[str] = set()
        self.persisted: set[str] = set()
        self._locks: dict[str, _Lock] = {}
        self._timers: dict[str, dict[str, set[asyncio.TimerHandle]]] = {}
        self._topics: dict[str, dict[tuple[str, str], str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self.running = False
        self.shutting_down = False
        self._stash_classes: tuple[int, bool] = (-1, False)
        self._swept = 0.0

    # -- lifecycle --

    async def start(self) -> None:
        """Load every stored conversation, then start the reaper. Idempotent."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        try:
            loaded = await self.store.load_all()
        except Exception:
            # Serving without the stored conversations would silently lose them: refuse to start.
            store_log.exception("store load_all failed; stube will not start without its conversations")
            raise
        for cid, conv in loaded.items():
            if not conv.get("ended"):
                self.conversations[cid] = conv
                self.restored.add(cid)
                self.persisted.add(cid)
        if loaded:
            log.info("stube restored %d conversation(s) from %s", len(self.restored), type(self.store).__name__)
        self.running = True
        _runtimes.add(self)
        ttl = self.settings.ttl
        if ttl:
            interval = self.settings.reaper_interval or max(0.05, min(60.0, ttl / 4))
            self._reaper = asyncio.create_task(self._reap_forever(interval))

    async def shutdown(self) -> None:
        """Drain: stop timers, run ``stop`` hooks, close streams, save every conversation once more."""
        if self.shutting_down or not self.running:
            self.shutting_down = True
            return
        self.shutting_down = True
        if self._reaper is not None:
            self._reaper.cancel()
        for per_cid in self._timers.values():
            for handles in per_cid.values():
                for h in handles:
                    h.cancel()
        self._timers.clear()
        for cid in list(self.conversations):
            async with self.locked(cid):
                conv = self.conversations.get(cid)
                if conv is None:
                    continue
                out = kernel.stop_all(conv, self.env)
                v = conv.get("version", 0)
                self.push(cid, out.fragments, since=v, to=v)
        for cid, streams in list(self.streams.items()):
            for s in streams:
                self._offer(s, None)
        for cid in list(self.conversations):
            if cid in self.persisted:
                try:
                    await self._save(self.conversations[cid])
                except StaleWrite:
                    pass  # another process moved it on; its copy stays (the store logged it)
        for task in list(self._tasks):
            task.cancel()
        self._release_flows(None, None)
        self._topics.clear()
        self.running = False
        _runtimes.discard(self)
        for closer in (getattr(self.store, "aclose", None), getattr(self.stash, "aclose", None)):
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    log.exception("closing %r failed", closer)

    # -- locking and applying folds --

    @contextlib.asynccontextmanager
    async def locked(self, cid: str) -> AsyncIterator[None]:
        entry = self._locks.get(cid)
        if entry is None:
            entry = self._locks[cid] = _Lock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(cid) is entry:
                del self._locks[cid]

    def _uses_stash(self) -> bool:
        if self.stash is None:
            return False
        if self._stash_classes[0] != generation():
            self._stash_classes = (generation(), any(c.stash for c in registered().values()))
        return self._stash_classes[1]

    async def env_for(self, owner: str | None) -> Env:
        """The kernel environment, with the session's stash preloaded when components use one."""
        if owner is None or not self._uses_stash():
            return self.env
        try:
            views = await self.stash.session(owner).views()
        except Exception:
            log.exception("stash read failed; rendering with defaults")
            views = {}
        return self.env.with_stash(views)

    async def apply(self, cid: str, fold: Callable[[dict[str, Any], Env], Outcome], *,
                    page: str | None = None, browser: bool = True) -> Outcome | None:
        """Run ``fold`` on the live conversation under its lock, then commit, persist and push.

        Returns ``None`` when the conversation is gone (ended, never existed, or
        changed by another process sharing the store). Fragments are pushed to
        every open page of the conversation except ``page`` (the one that asked,
        which gets them in its HTTP response). ``browser`` is false for timers,
        io results, messages and ``dispatch_to``: they neither count as activity
        for the reaper nor save a conversation nobody has used yet.
        """
        async with self.locked(cid):
            conv = await self._fetch(cid)
            if conv is None:
                return None
            since = conv.get("version", 0)
            env = await self.env_for(conv.get("owner"))
            try:
                conv, pre = await self._wake_if_restored(cid, conv, env)
                token = _current.set(self)
                try:
                    out = fold(conv, env)
                finally:
                    _current.reset(token)
                await self._commit(cid, conv, out, save=browser or cid in self.persisted, touch=browser)
            except StaleWrite:
                # Another process moved this conversation on: our copy must not answer for it.
                await self._forget_conversation(cid)
                return None
            if pre:
                out.fragments = pre + out.fragments
            out.since = since
            if out.error is None:
                self.push(cid, out.fragments, since=since, to=out.conversation.get("version", 0), exclude=page)
            if out.conversation.get("ended"):
                await self._end(cid)
            return out

    async def lookup(self, cid: str) -> dict[str, Any] | None:
        """The live conversation, loaded from the store when this process does not hold it yet."""
        conv = self.conversations.get(cid)
        if conv is None and getattr(self.store, "load", None) is not None:
            async with self.locked(cid):
                conv = await self._fetch(cid)
        return conv

    async def _fetch(self, cid: str) -> dict[str, Any] | None:
        """(Lock held.) A live conversation, or one the store has (another process saved it)."""
        conv = self.conversations.get(cid)
        if conv is not None:
            return None if conv.get("ended") else conv
        load = getattr(self.store, "load", None)
        if load is None or not cv.valid_cid(cid) or self.shutting_down:
            return None
        try:
            conv = await load(cid)
        except Exception:
            store_log.exception("store load failed for %s", cid)
            return None
        if conv is None or conv.get("ended"):
            return None
        self.conversations[cid] = conv
        self.restored.add(cid)
        self.persisted.add(cid)
        return conv

    async def _wake_if_restored(self, cid: str, conv: dict[str, Any],
                                env: Env) -> tuple[dict[str, Any], list[Fragment]]:
        """(Lock held.) A conversation loaded from the store runs its ``wakeup`` hooks once,
        before anything else touches it; saved with the next change."""
        if cid not in self.restored:
            return conv, []
        self.restored.discard(cid)
        woke = kernel.wake(conv, env)
        await self._commit(cid, conv, woke, save=False)
        return woke.conversation, woke.fragments

    async def _commit(self, cid: str, before: dict[str, Any], out: Outcome, *, save: bool = True,
                      touch: bool = True) -> None:
        conv = out.conversation
        if touch:
            conv["touched"] = time.time()
        if out.error is None and conv is not before:
            self.conversations[cid] = conv
            writes = [c for c in out.commands if c.kind == "stash"]
            if writes:
                await self._stash_writes(conv.get("owner"), writes)
            if save and not conv.get("ended"):
                await self._save(conv)
        self._forget(cid, out.removed, conv)
        self._execute(cid, conv, live_commands(out, conv))

    async def _stash_writes(self, owner: str | None, writes: list[Command]) -> None:
        if owner is None or self.stash is None:
            return
        try:
            # One durable save for the whole dispatch, before the response goes out.
            await self.stash.session(owner).apply([c.effect for c in writes])
        except Exception:
            log.exception("stash write failed for views %s", sorted({c.effect.view for c in writes}))

    async def _save(self, conv: dict[str, Any]) -> None:
        """Save; a failure is logged and the live conversation keeps working (a StaleWrite is raised)."""
        try:
            await self.store.save(conv)
            self.persisted.add(conv["id"])
        except StaleWrite:
            raise
        except Exception:
            store_log.exception("store save failed for %s; the live conversation keeps working", conv["id"])

    # -- minting and pages --

    async def mint(self, root: Component | type[Component], *, owner: str | None, principal: Any,
                   mount: str, base: str) -> Outcome:
        """Create a conversation for a page view (saved only from its first event on)."""
        env = await self.env_for(owner)
        token = _current.set(self)
        try:
            out = kernel.boot(root, env, owner=owner, principal=principal, mount=mount, base=base)
        finally:
            _current.reset(token)
        cid = out.conversation["id"]
        if out.conversation.get("ended"):
            self._forget(cid, out.removed, out.conversation)
            return out
        self.conversations[cid] = out.conversation
        writes = [c for c in out.commands if c.kind == "stash"]
        if writes:
            await self._stash_writes(owner, writes)
        self._execute(cid, out.conversation, live_commands(out, out.conversation))
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
        env = await self.env_for(conv.get("owner"))
        conv, _ = await self._wake_if_restored(cid, conv, env)
        if conv.get("painted") != cv.top(conv):
            conv = dict(conv, painted=cv.top(conv))
            self.conversations[cid] = conv
        conv["touched"] = time.time()
        with ambient(env.app, conv.get("principal"), cid):
            return conv, str(kernel.render_page(conv, env))

    # -- ending and reaping --

    async def _end(self, cid: str) -> None:
        """Forget an ended conversation: timers, subscriptions, streams, store copy."""
        await self._forget_conversation(cid)
        try:
            await self.store.delete(cid)
        except Exception:
            store_log.exception("store delete failed for %s", cid)

    async def _forget_conversation(self, cid: str) -> None:
        """Drop everything this process holds for a conversation (the store keeps its copy)."""
        self.conversations.pop(cid, None)
        self.restored.discard(cid)
        self.persisted.discard(cid)
        for handles in self._timers.pop(cid, {}).values():
            for h in handles:
                h.cancel()
        for topic, subs in list(self._topics.items()):
            for key in [k for k in subs if k[0] == cid]:
                del subs[key]
            if not subs:
                del self._topics[topic]
        for s in self.streams.pop(cid, []):
            self._offer(s, None)
        self._release_flows(cid, None)

    async def end(self, cid: str, value: Any = None) -> bool:
        """End a conversation from outside (host code, the reaper): ``stop`` hooks run."""
        async with self.locked(cid):
            conv = self.conversations.get(cid)
            if conv is None:
                return False
            out = kernel.finish(conv, self.env, value)
            self.push(cid, out.fragments, since=conv.get("version", 0), to=out.conversation.get("version", 0))
            await self._end(cid)
            return True

    async def reap(self, now: float | None = None) -> list[str]:
        """End conversations idle longer than the TTL; returns their ids."""
        ttl = self.settings.ttl
        if not ttl:
            return []
        now = time.time() if now is None else now
        # A page with an open stream is not idle, however long since its last click.
        idle = [cid for cid, conv in self.conversations.items()
                if now - conv.get("touched", now) > ttl and not self.streams.get(cid)]
        for cid in idle:
            await self.end(cid)
        return idle

    async def _reap_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                reaped = await self.reap()
                if reaped:
                    log.info("reaper ended %d idle conversation(s)", len(reaped))
                sweep = getattr(self.stash, "sweep", None)
                if sweep is not None and time.time() - self._swept > 3600:
                    self._swept = time.time()
                    await sweep()  # expired session stashes
            except Exception:
                log.exception("reaper failed")

    # -- streams --

    def attach(self, cid: str, page: str) -> Stream:
        stream = Stream(page)
        self.streams.setdefault(cid, []).append(stream)
        return stream

    def detach(self, cid: str, stream: Stream) -> None:
        streams = self.streams.get(cid)
        if streams and stream in streams:
            streams.remove(stream)
            if not streams:
                del self.streams[cid]

    def push(self, cid: str, fragments: list[Fragment], *, since: int, to: int,
             exclude: str | None = None) -> None:
        """Send one fold's fragments to every open page of a conversation (but ``exclude``).

        The message id ``since-to`` lets each page apply folds in order whichever
        channel (its own POST responses, or this stream) delivers them first; a
        fold that changed nothing visible is still announced so no page waits for it.
        """
        streams = self.streams.get(cid)
        if not streams or (not fragments and since == to):
            return
        targets = [s for s in streams if s.page != exclude]
        if not targets:
            return
        conv = self.conversations.get(cid)
        html = wire.partials(fragments, cid=cid, ended_html=lambda: self.ended_html(conv or {}),
                             history_in_headers=False)
        message = wire.sse_message(html, event_id=f"{since}-{to}")
        for s in targets:
            self._offer(s, message)

    def snapshot(self, cid: str, conv: dict[str, Any], html: str) -> bytes:
        """A whole-page message (``s-<version>``): applies over anything older."""
        data = wire.partials([Fragment("page", target=cid, html=html)], cid=cid)
        return wire.sse_message(data, event_id=f"s-{conv.get('version', 0)}")

    def _offer(self, stream: Stream, message: bytes | None) -> None:
        try:
            stream.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A stalled page: drop what it missed; it repaints when it reconnects.
            while not stream.queue.empty():
                stream.queue.get_nowait()
            stream.queue.put_nowait(None)

    # -- commands: timers, io, pub/sub, dispatch_to --

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stube background task failed", exc_info=task.exception())

    def _execute(self, cid: str, conv: dict[str, Any], commands: Iterable[Command]) -> None:
        for c in commands:
            eff = c.effect
            if c.kind == "after":
                self._schedule(cid, c.iid, eff.seconds, eff.event, dict(eff.payload))
            elif c.kind == "io":
                self._spawn(self._run_io(cid, c.iid, eff, conv.get("principal")))
            elif c.kind == "subscribe":
                self._topics.setdefault(eff.topic, {})[(cid, c.iid)] = eff.event
            elif c.kind == "unsubscribe":
                for topic, subs in list(self._topics.items()):
                    if eff.topic is None or topic == eff.topic:
                        subs.pop((cid, c.iid), None)
                        if not subs:
                            del self._topics[topic]
            elif c.kind == "dispatch_to":
                self._spawn(self.deliver(cid, Event(eff.iid, eff.event, dict(eff.payload), internal=True)))

    def _schedule(self, cid: str, iid: str, seconds: float, event: str, payload: dict[str, Any]) -> None:
        if self.shutting_down:
            return
        loop = asyncio.get_running_loop()
        handles = self._timers.setdefault(cid, {}).setdefault(iid, set())

        def fire() -> None:
            handles.discard(handle)
            if not handles:
                per_cid = self._timers.get(cid)
                if per_cid is not None:
                    per_cid.pop(iid, None)
                    if not per_cid:
                        self._timers.pop(cid, None)
            self._spawn(self.deliver(cid, Event(iid, event, payload, internal=True)))

        handle = loop.call_later(seconds, fire)
        handles.add(handle)

    async def _run_io(self, cid: str, iid: str, eff: Any, principal: Any) -> None:
        token = _current.set(self)
        try:
            with ambient(self.env.app, principal, cid):
                result = await asyncio.to_thread(eff.fn)
        except Exception:
            log.exception("io() function failed in conversation %s", cid)
            return
        finally:
            _current.reset(token)
        if eff.then:
            await self.deliver(cid, Event(iid, eff.then, args=(result,), internal=True))

    async def deliver(self, cid: str, event: Event) -> Outcome | None:
        """Fold an internal event (timer, io result, message, dispatch_to) and push the result."""
        try:
            return await self.apply(cid, lambda conv, env: kernel.run(conv, event, env), browser=False)
        except Exception:
            log.exception("delivering %s to %s/%s failed", event.name, cid, event.iid)
            return None

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to the subscribers of ``topic``; returns how many were targeted."""
        def fan_out() -> None:
            for (cid, iid), ev in list(self._topics.get(topic, {}).items()):
                self._spawn(self.deliver(cid, Event(iid, ev, args=(message,), internal=True)))

        if threading.get_ident() == self._thread:
            count = len(self._topics.get(topic, ()))
            fan_out()
            return count
        # Off the loop (an io() function): only the loop thread touches the subscriptions.
        count = len(self._topics.get(topic, ()))
        if count and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fan_out)
            return count
        return 0

    def _forget(self, cid: str, removed: list[str], conv: dict[str, Any] | None = None) -> None:
        """Timers and subscriptions of instances that left the conversation are void.

        An id can leave and come back in one fold (a keyed child rebuilt under its
        key): its old timers go, but a continuation the new instance started stays.
        """
        if not removed:
            return
        per_cid = self._timers.get(cid)
        for iid in removed:
            if per_cid is not None:
                for h in per_cid.pop(iid, ()):
                    h.cancel()
            for subs in self._topics.values():
                subs.pop((cid, iid), None)
        if per_cid is not None and not per_cid:
            self._timers.pop(cid, None)
        for topic in [t for t, subs in self._topics.items() if not subs]:
            del self._topics[topic]
        live = conv["instances"] if conv is not None else {}
        self._release_flows(cid, [iid for iid in removed if iid not in live])

    def _release_flows(self, cid: str | None, iids: list[str] | None) -> None:
        from . import flows

        release = getattr(flows, "release", None)
        if release is None:
            return
        try:
            release(self.env, cid, iids)
        except Exception:
            log.exception("releasing flows failed")

    # -- introspection (tests, benchmarks, hosts) --

    def subscribers(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))

    def pending_timers(self, cid: str) -> int:
        return sum(len(h) for h in self._timers.get(cid, {}).values())
