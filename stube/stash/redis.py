"""A Redis backend for the session stash, shared by every process of an app.

::

    from stube.stash import Stash
    from stube.stash_redis import RedisStashStore

    stash = Stash(RedisStashStore("redis://localhost:6379/0"), secret=os.environ["STUBE_SECRET"])

Each session is one hash ``<prefix><key>`` with two fields: ``v`` (the
version, a random etag) and ``s`` (the state as JSON). Saves and deletes are
Lua scripts that compare ``v`` first, so the compare-and-set is atomic on
the server, and every save resets the key's expiry to the stash's TTL.

A save is acknowledged once Redis has applied it. Whether it survives a
Redis restart is Redis's persistence configuration: run with
``appendonly yes`` (``appendfsync always`` for the strictest guarantee).
Needs the ``redis`` package (``pip install stube[redis]``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis

from .base import _JSON, StashConflict, _check_key, _new_version

log = logging.getLogger("stube.stash")

_SAVE = """
local cur = redis.call('HGET', KEYS[1], 'v')
if (cur or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 's', ARGV[3])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
return 1
"""

_DELETE = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class RedisStashStore:
    """Session states in Redis with server-side compare-and-set and key expiry.

    ``url`` may also be an existing ``redis.asyncio.Redis`` client (which
    :meth:`aclose` then leaves open). ``prefix`` namespaces the keys.
    """

    persistent = True

    def __init__(self, url: str | aioredis.Redis = "redis://127.0.0.1:6379/0", *,
                 prefix: str = "stube:stash:") -> None:
        if isinstance(url, str):
            self.client: aioredis.Redis = aioredis.from_url(url)
            self._own = True
        else:
            self.client = url
            self._own = False
        self.prefix = prefix
        self._save = self.client.register_script(_SAVE)
        self._delete = self.client.register_script(_DELETE)

    def redis_key(self, key: str) -> str:
        """The Redis key holding ``key``."""
        return self.prefix + _check_key(key)

    async def load(self, key: str) -> tuple[dict[str, Any], str] | None:
        version, body = await self.client.hmget(self.redis_key(key), "v", "s")
        if version is None:
            return None
        version = version.decode() if isinstance(version, bytes) else version
        try:
            if body is None:
                raise ValueError("no state")
            state = json.loads(body)
            if not isinstance(state, dict):
                raise ValueError("not an object")
        except (TypeError, ValueError):
            log.warning("stash key %s holds a corrupt or foreign value; it reads as empty", key[:12])
            return {"views": {}, "last_seen_at": None}, version
        return state, version

    async def save(self, key: str, state: dict[str, Any], expected: str | None, *,
                   ttl: float | None = None) -> str:
        body = _JSON(state)
        version = _new_version()
        ok = await self._save(keys=[self.redis_key(key)],
                              args=[expected or "", version, body, int(ttl * 1000) if ttl else 0])
        if not ok:
            raise StashConflict(f"stash {key[:12]}: version changed")
        return version

    async def delete(self, key: str, expected: str) -> bool:
        return bool(await self._delete(keys=[self.redis_key(key)], args=[expected]))

    async def sweep(self, cutoff_ms: int) -> int:
        """Nothing to do: Redis expires keys itself."""
        return 0

    async def check(self) -> None:
        """Raise unless Redis accepts a write now."""
        if not await self.client.set(self.prefix + "_check", b"1", px=60_000):
            raise ConnectionError("RedisStashStore: the check write was not acknowledged")

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()


__all__ = ["RedisStashStore"]
