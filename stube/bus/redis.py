"""The bus over Redis pub/sub, for several processes or machines.

The ``redis`` package is imported when a :class:`RedisBus` is made, not when
this module is, so ``stube`` and ``stube.bus`` import without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import Any

from .base import Subscription, _check_channel, _check_claim, _check_message, _Fanout

__all__ = ["RedisBus"]

log = logging.getLogger("stube.bus")

_ENVELOPE_VERSION = 1
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

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


def _import_redis() -> tuple[Any, Any, Any]:
    """``redis.asyncio``, its ``Retry`` and ``NoBackoff``: the one place the optional package is loaded."""
    try:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "stube.RedisBus needs the 'redis' package: pip install 'stube[redis]' (or 'redis>=5')"
        ) from exc
    return aioredis, Retry, NoBackoff


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
        aioredis, Retry, NoBackoff = _import_redis()
        self.prefix = prefix
        self.keepalive = keepalive
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self._wire = prefix + "bus:"
        if isinstance(url_or_client, str):
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
