"""What every bus shares: the protocol, the delivered message, subscriptions and the checks on what is sent."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from ..errors import StateError
from ..jsonstate import json_copy

__all__ = ["Bus", "GapHandler", "Handler", "Message", "Subscription"]

log = logging.getLogger("stube.bus")

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
