"""Message buses: how the processes serving one application tell each other things.

One process can hand a ``publish()``, a ``dispatch_to`` or an SSE push to its
own subscribers directly; several processes (``uvicorn --workers N``, several
machines) need a shared channel so that whichever process holds the browser's
stream sees what another process did. A :class:`Bus` is that channel:

    bus = stube.RedisBus("redis://127.0.0.1:6379/0")
    await bus.start()
    sub = bus.subscribe("conv:abc", handler)   # handler(message) -> None or awaitable
    await sub.ready()                          # from here on nothing published is missed
    await bus.publish("conv:abc", {"kind": "push", "html": "..."})
    sub.close()
    if await bus.claim("timer:abc:3", ttl=30):  # exactly one process fires this timer
        ...

Semantics, the same for :class:`LocalBus` (the in-process default) and
:class:`RedisBus`, so that code tested on one process behaves alike on many:

- Messages are JSON objects (``dict`` with ``str`` keys, JSON values). Anything
  else is refused by ``publish`` with :class:`~stube.errors.StateError`
  naming the culprit, before anything is sent.
- Every subscription receives its own copy (a :class:`Message`); mutating it
  affects nobody else. ``LocalBus`` copies instead of serialising, which gives
  the same values a JSON round trip would.
- ``publish`` returns before handlers run. Handlers run on the event loop, one
  message at a time per subscription, in the order the bus received them:
  messages one process publishes to a channel (each ``publish`` awaited before
  the next) reach every subscriber in that order. A handler that raises is
  logged and the subscription carries on.
- Delivery is at most once. Redis pub/sub drops what is published while a
  subscriber is disconnected; the subscription's ``on_gap`` callback then runs
  once it is subscribed again, so the subscriber can re-read the state it
  follows instead of silently missing an update.
- A process receives its own messages too (``message.own`` tells them apart).

Everything here runs on the event loop's thread; none of it is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from .errors import StateError
from .jsonstate import json_copy

__all__ = ["Bus", "GapHandler", "Handler", "LocalBus", "Message", "RedisBus", "Subscription"]

log = logging.getLogger("stube.bus")

_ENVELOPE_VERSION = 1
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
#: A subscription whose handler falls this far behind is logged (once per time it crosses it).
_BACKLOG_WARNING = 1000


@dataclass(frozen=True, slots=True)
class Message:
    """One delivered message: the channel, the published dict, and who published it.

    ``sender`` is the publishing bus's :attr:`~Bus.node_id`; ``own`` is true
    when that is this process's bus, so a process can skip what it already
    applied locally.
    """

    channel: str
    data: dict[str, Any]
    sender: str
    own: bool


Handler = Callable[[Message], "Awaitable[None] | None"]
GapHandler = Callable[[], "Awaitable[None] | None"]

_GAP = object()  # queued like a message, so a gap is seen in order with what follows it


class Subscription:
    """One handler on one channel; :meth:`close` (or ``with``) ends it.

    A subscription is registered at once, but on Redis it takes a round trip
    before the server sends it anything: ``await sub.ready()`` before reading
    the state that the messages will keep up to date, or an update published
    in between is lost.
    """

    __slots__ = ("channel", "_bus", "_handler", "_on_gap", "_ready", "_confirmed", "_closed", "_queue",
                 "_worker", "_warned")

    def __init__(self, bus: _Fanout, channel: str, handler: Handler, on_gap: GapHandler | None) -> None:
        self.channel = channel
        self._bus = bus
        self._handler = handler
        self._on_gap = on_gap
        self._ready = asyncio.Event()
        self._confirmed = False  # ever confirmed: a later confirmation means messages may be missing
        self._closed = False
        self._queue: deque[Any] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._warned = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "ready" if self._ready.is_set() else "pending"
        return f"<Subscription {self.channel!r} {state}>"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def active(self) -> bool:
        """True while the bus is known to deliver this channel's messages to this subscription."""
        return not self._closed and self._ready.is_set()

    async def ready(self, timeout: float | None = 10.0) -> None:
        """Wait until messages published from now on are delivered (raises ``TimeoutError``)."""
        if self._closed:
            raise RuntimeError(f"subscription to {self.channel!r} is closed")
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def close(self) -> None:
        """Stop delivery now (queued messages are dropped); safe to call twice."""
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- used by the buses -------------------------------------------------------------------

    def _activate(self) -> None:
        if self._closed or self._ready.is_set():
            return
        if self._confirmed and self._on_gap is not None:
            self._push(_GAP)
        self._confirmed = True
        self._ready.set()

    def _deactivate(self) -> None:
        self._ready.clear()

    def _gap(self) -> None:
        """The server re-subscribed us on its own (a reconnect inside the client library)."""
        if self._confirmed and self._on_gap is not None:
            self._push(_GAP)

    def _push(self, item: Any) -> None:
        if self._closed:
            return
        self._queue.append(item)
        if len(self._queue) >= _BACKLOG_WARNING and not self._warned:
            self._warned = True
            log.warning("bus: the handler of %r is %d messages behind", self.channel, len(self._queue))
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue and not self._closed:
                item = self._queue.popleft()
                try:
                    if item is _GAP:
                        assert self._on_gap is not None
                        result = self._on_gap()
                    else:
                        result = self._handler(item)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("bus: a handler on %r failed", self.channel)
            self._warned = False
        finally:
            self._worker = None

    def _shut(self) -> asyncio.Task[None] | None:
        self._closed = True
        self._queue.clear()
        worker, self._worker = self._worker, None
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
            return worker
        return None


@runtime_checkable
class Bus(Protocol):
    """What the runtime needs from a bus; :class:`LocalBus` and :class:`RedisBus` implement it."""

    @property
    def node_id(self) -> str:
        """Random per bus instance (so per process): the ``sender`` of what it publishes."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str, handler: Handler, *, on_gap: GapHandler | None = None) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def claim(self, key: str, ttl: float) -> bool: ...

    async def release(self, key: str) -> None: ...


def _check_channel(channel: Any) -> str:
    if type(channel) is not str or not channel:
        raise ValueError(f"a bus channel is a non-empty str, not {channel!r}")
    return channel


def _check_message(channel: str, message: Any) -> dict[str, Any]:
    """A validated deep copy: what a JSON round trip would give, or :class:`StateError`."""
    if type(message) is not dict:
        raise StateError(f"bus message on {channel!r}: a {type(message).__name__} is not a JSON object "
                         "(publish a dict with str keys)")
    copied: dict[str, Any] = json_copy(message, f"bus message on {channel!r}")
    return copied


def _check_claim(key: Any, ttl: Any) -> int:
    """The TTL in whole milliseconds (at least 1)."""
    if type(key) is not str or not key:
        raise ValueError(f"a claim key is a non-empty str, not {key!r}")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise ValueError(f"a claim's ttl is a positive number of seconds, not {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


class _Fanout:
    """Subscriptions by channel and delivery to them; the buses add how messages travel."""

    def __init__(self) -> None:
        self._node_id = secrets.token_hex(8)
        self._subs: dict[str, list[Subscription]] = {}
        self._closing = False

    @property
    def node_id(self) -> str:
        return self._node_id

    def subscribe(self, channel: str, handler: Handler, *, on_gap: GapHandler | None = None) -> Subscription:
        """Call ``handler(message)`` for every message on ``channel``; see :class:`Subscription`.

        ``on_gap()`` runs (in order with the messages) after the subscription
        was lost and is back, when messages may have been missed.
        """
        _check_channel(channel)
        if not callable(handler):
            raise TypeError(f"a bus handler must be callable, not {handler!r}")
        if self._closing:
            raise RuntimeError("the bus is closed")
        sub = Subscription(self, channel, handler, on_gap)
        subs = self._subs.setdefault(channel, [])
        subs.append(sub)
        self._added(sub, first=len(subs) == 1)
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        """End ``subscription`` (same as ``subscription.close()``); unknown or closed ones are ignored."""
        if subscription._bus is not self:
            subscription._bus.unsubscribe(subscription)
            return
        subs = self._subs.get(subscription.channel)
        if subs is None or subscription not in subs:
            subscription._shut()
            return
        subs.remove(subscription)
        subscription._shut()
        if not subs:
            del self._subs[subscription.channel]
            self._removed(subscription.channel)

    def _added(self, sub: Subscription, *, first: bool) -> None:
        raise NotImplementedError

    def _removed(self, channel: str) -> None:
        raise NotImplementedError

    def _deliver(self, channel: str, data: dict[str, Any], sender: str) -> None:
        """Queue ``data`` (owned by the bus) to every subscription of ``channel``, one copy each."""
        subs = self._subs.get(channel)
        if not subs:
            return
        own = sender == self._node_id
        for i, sub in enumerate(subs):
            sub._push(Message(channel, data if i == 0 else json_copy(data), sender, own))

    async def _shut_all(self) -> None:
        tasks = [t for subs in self._subs.values() for s in subs if (t := s._shut()) is not None]
        self._subs.clear()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class LocalBus(_Fanout):
    """The in-process bus (the default): one process, no serialisation.

    ``publish`` validates and copies the message, queues a copy to each
    subscription and returns; subscriptions are ready at once and never see a
    gap. :meth:`claim` is always true: the one process is the one that acts.
    """

    def __repr__(self) -> str:
        return f"LocalBus(node_id={self._node_id!r})"

    async def start(self) -> None:
        """Nothing to connect; present so the runtime treats every bus alike."""

    async def close(self) -> None:
        """Drop every subscription (queued messages are not delivered)."""
        self._closing = True
        await self._shut_all()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a copy of ``message`` to each subscriber of ``channel``."""
        _check_channel(channel)
        data = _check_message(channel, message)
        if self._closing:
            raise RuntimeError("the bus is closed")
        self._deliver(channel, data, self._node_id)

    async def claim(self, key: str, ttl: float) -> bool:
        """Always true (after checking the arguments like :meth:`RedisBus.claim`)."""
        _check_claim(key, ttl)
        return True

    async def release(self, key: str) -> None:
        _check_claim(key, 1)

    async def drain(self) -> None:
        """Wait until every queued message has been handled (for tests and shutdown)."""
        while True:
            workers = [s._worker for subs in self._subs.values() for s in subs if s._worker is not None]
            if not workers:
                return
            await asyncio.gather(*workers, return_exceptions=True)

    def _added(self, sub: Subscription, *, first: bool) -> None:
        sub._activate()

    def _removed(self, channel: str) -> None:
        pass


# KEYS[1] the claim's key; ARGV[1] this bus's node id, ARGV[2] the TTL in ms.
# Free, or already ours: (re)take it for ttl and answer 1. Someone else's: 0.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] the claim's key; ARGV[1] this bus's node id. Delete it only if it is ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _import_redis() -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "stube.RedisBus needs the 'redis' package: pip install 'stube[redis]' (or 'redis>=5')"
        ) from exc
    return aioredis


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RedisBus(_Fanout):
    """A bus over Redis pub/sub, for several processes or machines.

    ``url_or_client`` is a Redis URL or an existing ``redis.asyncio.Redis``
    (then not closed by :meth:`close`). Channel ``c`` is the Redis channel
    ``prefix + "bus:" + c`` and claim ``k`` the key ``prefix + "claim:" + k``;
    pub/sub ignores the database number, so applications sharing a Redis need
    different prefixes.

    Subscriptions share one connection per bus, subscribed to exactly the
    channels that have a local subscriber (so a process only receives what it
    follows). When that connection drops, the bus logs once, reconnects with a
    backoff of up to ``reconnect_max`` seconds and subscribes again; each
    subscription then gets its ``on_gap`` call. An idle connection is checked
    with a ``PING`` every ``keepalive`` seconds, so a silently dead peer is
    noticed too. ``publish`` and ``claim`` use the client's connection pool
    and raise what the client raises (``redis.exceptions.ConnectionError``...)
    when Redis cannot be reached.
    """

    def __init__(self, url_or_client: Any = "redis://127.0.0.1:6379/0", *, prefix: str = "stube:",
                 keepalive: float = 15.0, reconnect_max: float = 2.0, connect_timeout: float = 10.0) -> None:
        super().__init__()
        aioredis = _import_redis()
        self.prefix = prefix
        self.keepalive = keepalive
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self._wire = prefix + "bus:"
        if isinstance(url_or_client, str):
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self.url = url_or_client
            self._client = aioredis.Redis.from_url(url_or_client)
            # The subscriber retries on its own terms (and must notice every drop, to report gaps),
            # so its connection does not retry inside the client library.
            self._sub_client = aioredis.Redis.from_url(url_or_client, retry=Retry(NoBackoff(), 0))
            self._owns_client = True
        else:
            self.url = repr(url_or_client)
            self._client = self._sub_client = url_or_client
            self._owns_client = False
        self._claim_script = self._client.register_script(_CLAIM)
        self._release_script = self._client.register_script(_RELEASE)
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._commands: asyncio.Queue[tuple[str, str]] | None = None  # None while disconnected
        self._active: set[str] = set()  # confirmed by the server on the current connection
        self._pending: dict[str, int] = {}  # SUBSCRIBE commands sent and not yet confirmed
        self._down_since: float | None = None
        self._failures = 0

    def __repr__(self) -> str:
        return f"RedisBus({self.url}, prefix={self.prefix!r}, node_id={self._node_id!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the subscription connection; raise ``ConnectionError`` if Redis cannot be reached.

        Later outages do not raise: the bus reconnects by itself. Calling it
        again is harmless; ``subscribe`` starts the bus too.
        """
        if self._closing:
            raise RuntimeError("the bus is closed")
        self._ensure_reader()
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._connected.wait()
        except TimeoutError:
            await self._stop_reader()
            raise ConnectionError(f"RedisBus: cannot reach Redis at {self.url} within "
                                  f"{self.connect_timeout:g} s") from None

    async def close(self) -> None:
        """Drop every subscription, stop the reader, close the clients this bus opened."""
        self._closing = True
        await self._stop_reader()
        await self._shut_all()
        if self._owns_client:
            await self._client.aclose()
            await self._sub_client.aclose()

    async def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _ensure_reader(self) -> None:
        if self._reader is None and not self._closing:
            self._reader = asyncio.get_running_loop().create_task(self._run())

    # -- publishing and claims ---------------------------------------------------------------

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every process subscribed to ``channel`` (raises if Redis is unreachable)."""
        _check_channel(channel)
        data = _check_message(channel, message)
        if self._closing:
            raise RuntimeError("the bus is closed")
        body = _ENCODE({"v": _ENVELOPE_VERSION, "from": self._node_id, "data": data})
        await self._client.publish(self._wire + channel, body.encode("utf-8", "surrogatepass"))

    async def claim(self, key: str, ttl: float) -> bool:
        """True if this process now holds ``key`` for ``ttl`` seconds: it was free, or already ours.

        The first process to claim a free key wins (an atomic ``SET NX PX``
        in a script); the others get ``False`` until it expires or is
        :meth:`release`\\ d. Claiming a key this process holds renews it.
        """
        ms = _check_claim(key, ttl)
        won = await self._claim_script(keys=[self.prefix + "claim:" + key], args=[self._node_id, ms])
        return bool(won)

    async def release(self, key: str) -> None:
        """Give ``key`` up early, if this process holds it (someone else's claim is left alone)."""
        _check_claim(key, 1)
        await self._release_script(keys=[self.prefix + "claim:" + key], args=[self._node_id])

    # -- subscriptions -----------------------------------------------------------------------

    def _added(self, sub: Subscription, *, first: bool) -> None:
        if sub.channel in self._active:
            sub._activate()
        elif first:
            self._send("SUBSCRIBE", sub.channel)
        self._ensure_reader()

    def _removed(self, channel: str) -> None:
        self._active.discard(channel)
        self._send("UNSUBSCRIBE", channel)

    def _send(self, verb: str, channel: str) -> None:
        """Queue a command for the current connection; a later connection subscribes afresh anyway."""
        if self._commands is None:
            return
        if verb == "SUBSCRIBE":
            self._pending[channel] = self._pending.get(channel, 0) + 1
        self._commands.put_nowait((verb, channel))

    async def _run(self) -> None:
        """Keep one subscription connection alive for the bus's lifetime."""
        while not self._closing:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    log.warning("bus: lost the Redis subscription connection to %s (%s: %s); "
                                "reconnecting", self.url, type(exc).__name__, exc)
                self._failures += 1
            delay = min(self.reconnect_max, 0.05 * 2 ** min(self._failures, 8))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _session(self) -> None:
        """One connection: subscribe to every wanted channel, then read until it fails."""
        ps = self._sub_client.pubsub()
        commands: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        tasks: list[asyncio.Task[None]] = []
        try:
            await ps.connect()
            self._commands = commands  # from here on, changes are queued for this connection
            channels = list(self._subs)
            for channel in channels:
                self._pending[channel] = 1
            if channels:
                await ps.subscribe(*[self._wire + c for c in channels])
            self._connected.set()
            if self._down_since is not None:
                log.warning("bus: Redis at %s is back after %.1f s; resubscribing %d channels",
                            self.url, time.monotonic() - self._down_since, len(channels))
                self._down_since = None
            self._failures = 0
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(self._read(ps)), loop.create_task(self._write(ps, commands))]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise ConnectionError("the subscription connection ended")
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                # Bounded: the client library can swallow a cancellation that lands inside a command.
                await asyncio.wait(tasks, timeout=1.0)
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: the session's failure was already reported
            self._commands = None
            self._active.clear()
            self._pending.clear()
            for subs in self._subs.values():
                for sub in subs:
                    sub._deactivate()
            with contextlib.suppress(Exception):
                await ps.aclose()

    async def _write(self, ps: Any, commands: asyncio.Queue[tuple[str, str]]) -> None:
        while True:
            verb, channel = await commands.get()
            if verb == "SUBSCRIBE":
                await ps.subscribe(self._wire + channel)
            else:
                await ps.unsubscribe(self._wire + channel)

    async def _read(self, ps: Any) -> None:
        pinged = False
        while True:
            raw = await ps.get_message(timeout=self.keepalive)
            if raw is None:
                if pinged:
                    raise ConnectionError(f"no answer to PING within {self.keepalive:g} s")
                await ps.ping()
                pinged = True
                continue
            pinged = False
            kind = _text(raw.get("type"))
            if kind == "message":
                self._on_message(_text(raw["channel"]), raw["data"])
            elif kind == "subscribe":
                self._on_confirmed(_text(raw["channel"]))

    def _on_confirmed(self, wire: str) -> None:
        if not wire.startswith(self._wire):
            return
        channel = wire[len(self._wire):]
        pending = self._pending.get(channel, 0)
        if pending > 1:
            self._pending[channel] = pending - 1
            return  # a later SUBSCRIBE (after an UNSUBSCRIBE) is still on its way
        self._pending.pop(channel, None)
        subs = self._subs.get(channel)
        if not subs:
            return
        if pending == 0 and channel in self._active:
            for sub in subs:  # confirmed again unasked: the client library reconnected by itself
                sub._gap()
            return
        self._active.add(channel)
        for sub in list(subs):
            sub._activate()

    def _on_message(self, wire: str, raw: Any) -> None:
        if not wire.startswith(self._wire):
            return
        channel = wire[len(self._wire):]
        try:
            envelope = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            log.warning("bus: dropped a message on %r that is not JSON (%s)", channel, exc)
            return
        if (type(envelope) is not dict or envelope.get("v") != _ENVELOPE_VERSION
                or type(envelope.get("from")) is not str or type(envelope.get("data")) is not dict):
            log.warning("bus: dropped a message on %r that is not a stube bus envelope", channel)
            return
        self._deliver(channel, envelope["data"], envelope["from"])
