"""``RedisStore``: conversations shared by several processes through Redis.

Each conversation is one Redis string at ``prefix + cid`` holding the JSON
envelope ``{"v": <version>, "w": <writer>, "conv": <conversation>}``:
``v`` is the conversation's ``version`` and ``w`` identifies the store
instance (one per process) that wrote it. They lead the value so the save
script reads them with ``GETRANGE`` instead of loading the whole conversation.

Saves are optimistic: a Lua script refuses to write when the stored value is
not the one this store last read or wrote (unless it is the very same
conversation), so a process holding an old copy can never undo what another
process committed. Every save carries its own write token (``w``: the
store's writer id and a counter); a save whose reply was lost (a timeout)
keeps its token as "maybe landed", and the next save accepts a stored value
carrying one of those tokens as this store's own write, never as another
process's. The loser gets
:class:`stube.store.StaleWrite`. A process may re-save its own version (a
retried write, or a step that changed only bookkeeping such as the painted
frame without a new version), and any process may re-save a conversation
exactly as stored (a restored conversation saved again at shutdown).

Needs the ``redis`` package (``pip install 'stube[redis]'``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from typing import Any

from . import StaleWrite
from .codec import Encoder, _gc_paused, check_conversation, decode, require_cid, valid_cid
from .lanes import Lanes

__all__ = ["RedisStore"]

log = logging.getLogger("stube.store")

# KEYS[1] the conversation's key; ARGV[1] the incoming version, ARGV[2] this save's write token,
# ARGV[3] the new value, ARGV[4] the version this store last read or wrote ("" for a new one),
# ARGV[5] " "-separated tokens of this store's saves whose outcome is unknown (their reply was lost);
# "!deleted" among them: a delete of ours whose outcome is unknown (an absent key is then no conflict).
# KEYS[2] the conversation's tombstone: present for a while after a delete (it ended).
# A compare-and-set: the write lands only on top of what this process last saw. Returns -1 when
# written (or already stored, identical), -2 when the conversation was deleted, else the stored
# version. An absent key without a tombstone was lost (Redis came back empty): written back.
# A stored value without a readable head (not ours) is overwritten; load_all would skip it anyway.
_SAVE = """
local head = redis.call('GETRANGE', KEYS[1], 0, 127)
if head == '' then
  if redis.call('EXISTS', KEYS[2]) == 1 and not string.find(' ' .. ARGV[5] .. ' ', ' !deleted ', 1, true) then
    return -2
  end
else
  local lead, stored, token = string.match(head, '^({"v":(%d+),"w":"([%w_%-]*)","conv":)')
  if lead then
    stored = tonumber(stored)
    local ours = token ~= '' and string.find(' ' .. ARGV[5] .. ' ', ' ' .. token .. ' ', 1, true)
    if not ours and (ARGV[4] == '' or stored ~= tonumber(ARGV[4])) then
      -- Not what this process last saw. The very same conversation stored again by a process that
      -- never read it is harmless; one that read an older version is another event: a conflict.
      local at = string.match(ARGV[3], '^{"v":%d+,"w":"[%w_%-]*","conv":()')
      if ARGV[4] == '' and stored == tonumber(ARGV[1])
          and string.sub(redis.call('GET', KEYS[1]), #lead + 1) == string.sub(ARGV[3], at) then
        return -1
      end
      return stored
    end
  end
end
redis.call('SET', KEYS[1], ARGV[3])
return -1
"""

# KEYS[1] the conversation's key, KEYS[2] its tombstone; ARGV[1] the tombstone's TTL in ms.
_DELETE = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return redis.call('DEL', KEYS[1])
"""

_GLOB = re.compile(r"([*?\[\]\\])")


def _import_redis() -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "stube.RedisStore needs the 'redis' package: pip install 'stube[redis]' (or 'redis>=5')"
        ) from exc
    return aioredis


class RedisStore:
    """Conversations in Redis, for several processes or machines sharing them.

    ``url`` is a Redis URL (``redis://host:6379/0``); keys are ``prefix + cid``.
    Connections are opened at first use, at most ``max_connections`` of them;
    saves beyond that wait (up to 30 s) for a free connection instead of
    failing. Socket timeouts go in the URL (``?socket_timeout=5``). Pass
    ``client`` to use an existing ``redis.asyncio.Redis`` instead (it is then
    not closed by :meth:`aclose`). ``batch`` is the ``SCAN`` count hint of
    :meth:`load_all`.
    """

    #: Several processes share it: the runtime saves page views and re-reads on reload.
    shared = True

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "stube:conv:",
                 client: Any = None, max_connections: int = 32, batch: int = 1000,
                 tombstone_ttl: float = 86400.0) -> None:
        self._aioredis = _import_redis()
        self.url = url
        self.prefix = prefix
        self.batch = batch
        self.max_connections = max_connections
        self._client = client
        self._owns_client = client is None
        self._script: Any = None
        self._delete_script: Any = None
        #: Seconds a deleted conversation's tombstone tells a late save "it ended" (not "Redis lost it").
        self.tombstone_ttl = tombstone_ttl
        #: This store's writer id: every write token starts with it.
        self.writer = secrets.token_urlsafe(9)
        self._writes = 0
        #: Per conversation, tokens of saves whose reply was lost: if one landed, it is ours.
        self._unconfirmed: dict[str, list[str]] = {}
        self._lanes = Lanes()
        self._encoder = Encoder()
        self._slots: asyncio.Semaphore | None = None
        #: The version of each conversation this process last read or wrote: what a save builds on.
        self._seen: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, prefix={self.prefix!r})"

    def key(self, cid: str) -> str:
        return self.prefix + require_cid(cid)

    def tombstone(self, cid: str) -> str:
        """The key that marks ``cid`` as deleted for :attr:`tombstone_ttl` seconds (not a conversation id)."""
        return self.prefix + "_ended:" + require_cid(cid)

    @property
    def client(self) -> Any:
        """The ``redis.asyncio.Redis`` client (created on first use)."""
        if self._client is None:
            # A plain pool is much cheaper per command than BlockingConnectionPool; the
            # semaphore in _command keeps us within its size so it never overflows.
            pool = self._aioredis.ConnectionPool.from_url(self.url, max_connections=self.max_connections)
            self._client = self._aioredis.Redis.from_pool(pool)
        return self._client

    async def aclose(self) -> None:
        """Finish every pending write, then close the connection pool this store opened."""
        await self._lanes.wait_idle()
        if not self._owns_client:
            return
        client, self._client, self._script = self._client, None, None
        if client is not None:
            await client.aclose()

    async def load_all(self) -> dict[str, dict[str, Any]]:
        """Every stored conversation, read with ``SCAN`` + ``MGET`` in batches (never ``KEYS``)."""
        r = self.client
        pattern = _GLOB.sub(r"\\\1", self.prefix) + "*"
        prefix = self.prefix.encode()
        out: dict[str, dict[str, Any]] = {}
        cursor = 0
        while True:
            cursor, keys = await r.scan(cursor, match=pattern, count=self.batch)
            if keys:
                values = await r.mget(keys)
                with _gc_paused():  # a batch of fresh objects that are all kept: no use collecting
                    for key, raw in zip(keys, values, strict=True):
                        self._restore(key, raw, prefix, out)
            if cursor == 0:
                return out

    def _restore(self, key: bytes, raw: bytes | None, prefix: bytes, out: dict[str, dict[str, Any]]) -> None:
        name = key.decode("utf-8", "replace")
        cid = name[len(self.prefix):] if key.startswith(prefix) else name
        if raw is None or name == self.check_key or cid.startswith("_ended:"):
            return  # deleted between SCAN and MGET, or not a conversation (the check key, a tombstone)
        if not valid_cid(cid):
            log.warning("skipping redis key %s: not a conversation id", name)
            return
        try:
            envelope = decode(raw)
        except (ValueError, RecursionError) as exc:
            log.warning("skipping redis key %s: not valid JSON (%s)", name, exc)
            return
        if (not isinstance(envelope, dict) or type(envelope.get("v")) is not int
                or not isinstance(envelope.get("w"), str) or "conv" not in envelope):
            log.warning("skipping redis key %s: not a stube conversation envelope", name)
            return
        conv = envelope["conv"]
        reason = check_conversation(conv, cid)
        if reason is None and conv["version"] != envelope["v"]:
            reason = f"version {conv['version']} differs from its envelope's {envelope['v']}"
        if reason is not None:
            log.warning("skipping redis key %s: not a stube conversation (%s)", name, reason)
            return
        out[cid] = conv
        self._seen[cid] = conv["version"]

    async def load(self, cid: str) -> dict[str, Any] | None:
        """One stored conversation (``None`` if absent or unreadable): for an id this process does not hold."""
        key = self.key(cid)
        out: dict[str, dict[str, Any]] = {}
        self._restore(key.encode(), await self.client.get(key), self.prefix.encode(), out)
        return out.get(cid)

    @property
    def check_key(self) -> str:
        """The key :meth:`check` writes (not a conversation id, so ``load_all`` passes over it)."""
        return self.prefix + "_check"

    async def check(self) -> None:
        """Raise unless Redis accepts a write now (down, timing out, read-only replica, OOM, MISCONF)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        async with self._slots:
            if not await self.client.set(self.check_key, self.writer, px=60_000):
                raise ConnectionError(f"{self!r}: the check write was not acknowledged")

    async def save(self, conv: dict[str, Any]) -> None:
        """Write ``conv`` unless another process stored its version or a newer one (:class:`StaleWrite`)."""
        cid = require_cid(conv.get("id") if isinstance(conv, dict) else None)
        version = conv.get("version")
        if type(version) is not int or version < 0:
            raise ValueError(f"conversation {cid}: version {version!r} is not a non-negative int")
        self._writes += 1
        token = f"{self.writer}-{self._writes:x}"
        try:
            value = b'{"v":%d,"w":"%s","conv":%s}' % (version, token.encode(), self._encoder.encode(conv))
        except BaseException:
            self._encoder.forget(cid)
            raise
        key = self.prefix + cid
        await self._lanes.submit(cid, lambda: self._cas(key, cid, version, token, value))

    async def _cas(self, key: str, cid: str, version: int, token: str, value: bytes) -> None:
        if self._script is None:
            self._script = self.client.register_script(_SAVE)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        seen = self._seen.get(cid)
        maybe = self._unconfirmed.get(cid, [])
        try:
            async with self._slots:
                stored = int(await self._script(keys=[key, self.tombstone(cid)], args=[
                    version, token, value, "" if seen is None else seen, " ".join(maybe)]))
        except Exception:
            # Sent but unanswered: it may land later. Remember its token (a few, newest last).
            self._unconfirmed[cid] = (maybe + [token])[-8:]
            raise
        if stored == -1:
            self._seen[cid] = version
            self._unconfirmed.pop(cid, None)
            return
        self._seen.pop(cid, None)
        raise StaleWrite.refused(cid, version, stored, seen)

    async def delete(self, cid: str) -> None:
        key = self.key(cid)
        self._encoder.forget(cid)

        async def remove() -> None:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.max_connections)
            try:
                if self._delete_script is None:
                    self._delete_script = self.client.register_script(_DELETE)
                async with self._slots:
                    await self._delete_script(keys=[key, self.tombstone(cid)],
                                              args=[max(1, int(self.tombstone_ttl * 1000))])
            except Exception:
                self._unconfirmed[cid] = (self._unconfirmed.get(cid, []) + ["!deleted"])[-8:]
                raise
            self._seen.pop(cid, None)
            self._unconfirmed.pop(cid, None)

        await self._lanes.submit(cid, remove)
