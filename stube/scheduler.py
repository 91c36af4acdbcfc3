"""The runtime's commands: timers, ``io`` jobs, subscriptions and ``dispatch_to``.

A fold returns commands instead of doing asynchronous work itself; the
scheduler carries them out and turns each result back into an internal event,
handed to ``deliver`` (the runtime's, which folds it under the conversation's
lock). Commands armed while a page view was rendered are *held* until the
conversation is first used (an event or an SSE stream): a crawler's page view
must not keep timers folding and rendering with nobody watching.

Everything here runs on the event-loop thread except :func:`publish` and
:meth:`Scheduler.publish`, which ``io`` functions may call from other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from .context import SCHEDULER, ambient
from .jsonstate import json_copy
from .kernel import Command, Event, Outcome

log = logging.getLogger("stube")

Deliver = Callable[[str, Event], Awaitable[Any]]
#: ``claim(key, ttl)``: true in exactly one process (the bus's claim); ``None``: one process, always true.
Claim = Callable[[str, float], Awaitable[bool]]
#: ``relay(topic, message, msg_id)``: hand a publish to the other processes (on the loop thread).
Relay = Callable[[str, Any, str], None]
#: Seconds a delivery claim of a published message lives (duplicates arrive within milliseconds).
PUBLISH_CLAIM_TTL = 60.0
#: Seconds a delivery worker runs folds before it lets the loop run the rest (the pages that
#: already got their message, other requests): what one publish holds the loop for at a time.
FAN_OUT_SLICE = 0.002

#: Every running scheduler of this process (``publish`` from host code reaches all of them).
_running: weakref.WeakSet[Scheduler] = weakref.WeakSet()


def publish(topic: str, message: Any) -> int:
    """Deliver ``message`` to every subscriber of ``topic``; returns how many were targeted.

    Safe to call from handlers, from ``io`` functions (other threads) and from
    host code. Inside a dispatch it targets that application; elsewhere every
    running stube application of this process.
    """
    own = SCHEDULER.get()
    targets = [own] if own is not None else list(_running)
    return sum(s.publish(topic, message) for s in targets if s.running)


def live_commands(out: Outcome, conv: dict[str, Any]) -> list[Command]:
    """The runtime's commands of a fold, without stash writes and without timers or
    subscriptions of instances that already left (``io`` and ``dispatch_to`` still run)."""
    instances = conv["instances"]
    return [c for c in out.commands
            if c.kind != "stash" and (c.kind not in ("after", "subscribe") or c.iid in instances)]


class Scheduler:
    """Timers, ``io`` tasks and topic subscriptions of one application's conversations."""

    def __init__(self, app: Any, deliver: Deliver, *, claim: Claim | None = None,
                 relay: Relay | None = None) -> None:
        self.app = app
        self._deliver = deliver
        #: Several processes: a timer or a published message is delivered by the one that claims it.
        self.claim = claim
        self.relay = relay
        self._timers: dict[str, dict[str, set[asyncio.TimerHandle]]] = {}
        self.topics: dict[str, dict[tuple[str, str], str]] = {}
        self._held: dict[str, list[Command]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Published messages waiting for their deliveries (see :meth:`fan_out`).
        self.inbox = Inbox(deliver, self.spawn)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self.running = False
        self.stopping = False

    # -- lifecycle --

    def start(self) -> None:
        """Bind to the running loop (off-loop ``publish`` hops onto it)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self.running = True
        _running.add(self)

    def stop_timers(self) -> None:
        """Shutdown, first step: no timer fires any more, none can be armed."""
        self.stopping = True
        for per_cid in self._timers.values():
            for handles in per_cid.values():
                for h in handles:
                    h.cancel()
        self._timers.clear()
        self._held.clear()

    def stop(self) -> None:
        """Shutdown, last step: cancel background tasks, drop every subscription."""
        self.inbox.clear()
        for task in list(self._tasks):
            task.cancel()
        self.topics.clear()
        self.running = False
        _running.discard(self)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this the scheduler ``stube.publish`` targets while a fold runs."""
        token = SCHEDULER.set(self)
        try:
            yield
        finally:
            SCHEDULER.reset(token)

    # -- commands --

    def execute(self, cid: str, conv: dict[str, Any], commands: Iterable[Command], *, hold: bool = False) -> None:
        """Carry out a committed fold's commands (see :func:`live_commands`), or :meth:`hold` them."""
        if hold:
            self.hold(cid, list(commands))
            return
        for c in commands:
            eff = c.effect
            if c.kind == "after":
                self._schedule(cid, c.iid, eff.seconds, Event(c.iid, eff.event, dict(eff.payload), internal=True))
            elif c.kind == "io":
                self.spawn(self._run_io(cid, c.iid, eff, conv.get("principal")))
            elif c.kind == "subscribe":
                self.topics.setdefault(eff.topic, {})[(cid, c.iid)] = eff.event
            elif c.kind == "unsubscribe":
                for topic in [t for t in self.topics if eff.topic is None or t == eff.topic]:
                    self._unsubscribe(topic, cid, c.iid)
            elif c.kind == "dispatch_to":
                self.spawn(self._deliver(cid, Event(eff.iid, eff.event, dict(eff.payload), internal=True)))

    def hold(self, cid: str, commands: list[Command]) -> None:
        """Keep a page view's commands until :meth:`release` (its first event or stream)."""
        if commands:
            self._held.setdefault(cid, []).extend(commands)

    def release(self, cid: str, conv: dict[str, Any]) -> None:
        """Start what :meth:`hold` kept for ``cid``, minus what targets instances that left."""
        held = self._held.pop(cid, None)
        if held:
            self.execute(cid, conv, live_commands(Outcome(conv, commands=held), conv))

    def forget(self, cid: str, iids: Iterable[str] | None = None) -> None:
        """Void the timers, subscriptions and held commands of ``iids`` (``None``: the whole conversation).

        An id can leave and come back in one fold (a keyed child rebuilt under its
        key): its old timers go, but what the new instance armed in that fold is
        executed after this call and stays.
        """
        gone = None if iids is None else set(iids)
        if gone is not None and not gone:
            return
        per_cid = self._timers.get(cid)
        if per_cid is not None:
            for iid in list(per_cid) if gone is None else gone & per_cid.keys():
                for h in per_cid.pop(iid):
                    h.cancel()
            if not per_cid:
                del self._timers[cid]
        held = self._held.get(cid)
        if held is not None:
            kept = [] if gone is None else [c for c in held if c.iid not in gone]
            if kept:
                self._held[cid] = kept
            else:
                del self._held[cid]
        for topic, subs in list(self.topics.items()):
            for key in [k for k in subs if k[0] == cid and (gone is None or k[1] in gone)]:
                del subs[key]
            if not subs:
                del self.topics[topic]

    def _unsubscribe(self, topic: str, cid: str, iid: str) -> None:
        subs = self.topics.get(topic)
        if subs is not None:
            subs.pop((cid, iid), None)
            if not subs:
                del self.topics[topic]

    def _schedule(self, cid: str, iid: str, seconds: float, event: Event) -> None:
        if self.stopping:
            return
        handles = self._timers.setdefault(cid, {}).setdefault(iid, set())

        def fire() -> None:
            handles.discard(handle)
            per_cid = self._timers.get(cid)
            if not handles and per_cid is not None and per_cid.get(iid) is handles:
                del per_cid[iid]
                if not per_cid:
                    del self._timers[cid]
            if self.claim is None:
                self.spawn(self._deliver(cid, event))
            else:  # the same timer armed in two processes (a wakeup in each) fires in one
                key = f"timer:{cid}:{iid}:{event.name}:{_canonical(event.payload)}"
                self.spawn(self._claimed(key, max(0.001, 0.9 * seconds), cid, event))

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        handles.add(handle)

    async def _run_io(self, cid: str, iid: str, eff: Any, principal: Any) -> None:
        try:
            with self.active(), ambient(self.app, principal, cid):
                result = await asyncio.to_thread(eff.fn)
        except Exception:
            log.exception("io() function failed in conversation %s", cid)
            return
        if eff.then:
            await self._deliver(cid, Event(iid, eff.then, args=(result,), internal=True))

    async def _claimed(self, key: str, ttl: float, cid: str, event: Event) -> None:
        """Deliver ``event`` if this process wins ``key`` (a bus failure: deliver anyway, once here)."""
        assert self.claim is not None
        try:
            won = await self.claim(key, ttl)
        except Exception:
            log.warning("claim of %s failed; delivering in this process", key, exc_info=True)
            won = True
        if won:
            await self._deliver(cid, event)

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` in the background; it is cancelled at shutdown, its failure logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stube background task failed", exc_info=task.exception())

    # -- pub/sub --

    def publish(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to the subscribers of ``topic``; returns how many were targeted here.

        With a :attr:`relay` (several processes) the message also goes to the
        other processes' subscribers, so it must be JSON (:class:`StateError`).
        """
        msg_id = ""
        if self.relay is not None:
            message = json_copy(message, f"message published on {topic!r}")
            msg_id = secrets.token_hex(8)

        def fan_out() -> None:
            self.fan_out(topic, message, msg_id)
            if self.relay is not None:
                self.relay(topic, message, msg_id)

        count = len(self.topics.get(topic, ()))
        if threading.get_ident() == self._thread:
            fan_out()
            return count
        # Off the loop (an io() function): only the loop thread touches the subscriptions.
        if count and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fan_out)
            return count
        return 0

    def fan_out(self, topic: str, message: Any, msg_id: str = "") -> None:
        """(Loop thread.) Deliver to this process's subscribers; each claims its delivery when
        several processes may hold the same subscription (``msg_id`` names the publish).

        With one process they queue in the :class:`Inbox`, in order, and are folded
        one after another (see there); several processes claim each delivery first,
        a bus round trip each, so each of those has a task of its own.
        """
        subs = self.topics.get(topic)
        if not subs:
            return
        if self.claim is not None and msg_id:
            for (cid, iid), name in list(subs.items()):
                event = Event(iid, name, args=(message,), internal=True)
                self.spawn(self._claimed(f"pub:{msg_id}:{cid}:{iid}", PUBLISH_CLAIM_TTL, cid, event))
            return
        self.inbox.add(subs, message)

    # -- introspection (tests, benchmarks, hosts) --

    def subscribers(self, topic: str) -> int:
        return len(self.topics.get(topic, ()))

    def pending_timers(self, cid: str) -> int:
        return sum(len(h) for h in self._timers.get(cid, {}).values())

    def held(self, cid: str) -> int:
        """How many commands wait for ``cid``'s first use."""
        return len(self._held.get(cid, ()))


class Inbox:
    """The deliveries of published messages, in order, and the workers that fold them.

    One worker folds one delivery after another: no task per subscriber (a
    thousand tasks made at once and kept alive until their turn were a fifth of
    the cost of a publish, and they grew the heap the collector's full passes
    walk). Each ``Event`` is made when its delivery starts. Every
    :data:`FAN_OUT_SLICE` the worker lets the loop run, so the pages already
    served read their message (and other requests are answered) while the rest
    folds. A delivery that waits (its store writes, its conversation is busy)
    holds up no other: when every worker waits inside a delivery and deliveries
    remain, each remaining one gets a worker of its own (:meth:`_check`, run
    whenever the workers give the loop back), which is where a task per delivery
    is worth its cost; and the next publish starts that way (:attr:`spread`),
    until a delivery is done without waiting. Deliveries to one conversation keep
    their order: each takes the conversation's lock in the order it left the inbox.
    """

    def __init__(self, deliver: Deliver, spawn: Callable[[Awaitable[Any]], None]) -> None:
        self._deliver, self._spawn = deliver, spawn
        #: Each publish: its topic's subscriptions when it was published (a copy), and the message.
        self._batches: deque[tuple[Iterator[tuple[tuple[str, str], str]], Any]] = deque()
        self.pending = 0       # deliveries not started
        self._workers = 0      # workers alive
        self._delivering = 0   # ... of which inside a delivery (running it, or waiting in it)
        self._check_armed = False
        self._checks = 0       # times _check ran: it changed across a delivery when that one waited
        #: The last deliveries waited (a store that writes, a stash): a publish starts a worker per delivery.
        self.spread = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, subscriptions: dict[tuple[str, str], str], message: Any) -> None:
        """(Loop thread.) Deliver ``message`` to each ``(cid, iid) -> event name`` of ``subscriptions``."""
        self._loop = asyncio.get_running_loop()
        self._batches.append((iter(dict(subscriptions).items()), message))
        self.pending += len(subscriptions)
        if self.spread:
            for _ in range(len(subscriptions)):
                self._add_worker()
        elif self._workers == 0:
            self._add_worker()
        else:
            self._arm_check()

    def clear(self) -> None:
        """Drop what is not delivered yet (shutdown; the workers are cancelled with the scheduler's tasks)."""
        self._batches.clear()
        self.pending = 0

    def _add_worker(self) -> None:
        self._workers += 1
        self._spawn(self._work())

    def _arm_check(self) -> None:
        if not self._check_armed and self._loop is not None:
            self._check_armed = True
            self._loop.call_soon(self._check)

    def _check(self) -> None:
        """The workers gave the loop back: when each of them waits inside a delivery, hand out the rest.

        Deliveries that wait are a store's saves (or stash I/O): they should all wait
        together, as they did with a task each, so that the store writes them at once
        (SQLite batches them into one transaction) and its threads all work.
        """
        self._check_armed = False
        self._checks += 1
        if self.pending and self._delivering == self._workers:
            self.spread = True
            for _ in range(self.pending):
                self._add_worker()

    def _next(self) -> tuple[str, Event] | None:
        """The next delivery (``None``: none left), in publish order, then subscription order."""
        batches = self._batches
        while batches:
            items, message = batches[0]
            for (cid, iid), name in items:
                self.pending -= 1
                return cid, Event(iid, name, args=(message,), internal=True)
            batches.popleft()
        return None

    async def _work(self) -> None:
        deliver = self._deliver
        try:
            while self.pending:
                until = time.perf_counter() + FAN_OUT_SLICE
                while (job := self._next()) is not None:
                    cid, event = job
                    self._arm_check()  # it runs once this worker gives the loop back
                    self._delivering += 1
                    checks = self._checks
                    try:
                        await deliver(cid, event)
                        if self._checks == checks:  # the loop did not run meanwhile: it did not wait
                            self.spread = False
                    except Exception:  # Runtime.deliver logs its own; a subscriber never stops the others
                        log.exception("delivering %s to %s/%s failed", event.name, cid, event.iid)
                    finally:
                        self._delivering -= 1
                    if time.perf_counter() > until:
                        break
                if self.pending:
                    await asyncio.sleep(0)  # the pages served so far read their message meanwhile
        finally:
            self._workers -= 1


def _canonical(payload: Any) -> str:
    """A timer's payload as a stable string (part of its claim key)."""
    try:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):
        return repr(payload)
