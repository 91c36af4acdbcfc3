"""``InMemoryStashStore``: a process-local stash store with faithful compare-and-set."""

from __future__ import annotations

import json
import time
from typing import Any

from .base import _JSON, StashConflict, _check_key, _new_version, _stale

__all__ = ["InMemoryStashStore"]


class InMemoryStashStore:
    """A process-local store with faithful compare-and-set, for tests and single-process apps.

    States are kept as JSON text, so what comes back is exactly what a real
    store would return and no caller can alias stored data. ``ttl`` expires
    keys like Redis does.
    """

    persistent = False

    def __init__(self) -> None:
        # key -> (version, json text, monotonic deadline or None)
        self._items: dict[str, tuple[str, str, float | None]] = {}

    def _current(self, key: str) -> tuple[str, str, float | None] | None:
        item = self._items.get(key)
        if item is not None and item[2] is not None and time.monotonic() >= item[2]:
            del self._items[key]
            return None
        return item

    async def load(self, key: str) -> tuple[dict[str, Any], str] | None:
        item = self._current(key)
        if item is None:
            return None
        return json.loads(item[1]), item[0]

    async def save(self, key: str, state: dict[str, Any], expected: str | None, *,
                   ttl: float | None = None) -> str:
        _check_key(key)
        item = self._current(key)
        if (item[0] if item else None) != expected:
            raise StashConflict(f"stash {key[:12]}: version changed")
        version = _new_version()
        self._items[key] = (version, _JSON(state), time.monotonic() + ttl if ttl else None)
        return version

    async def delete(self, key: str, expected: str) -> bool:
        item = self._current(key)
        if item is None or item[0] != expected:
            return False
        del self._items[key]
        return True

    async def sweep(self, cutoff_ms: int) -> int:
        gone = 0
        for key in list(self._items):
            item = self._current(key)
            if item is not None and _stale(json.loads(item[1]), cutoff_ms):
                del self._items[key]
                gone += 1
        return gone

    async def check(self) -> None:
        """Always writable."""
        return None

    async def aclose(self) -> None:
        pass

    # -- for tests and inspection --

    def keys(self) -> list[str]:
        """The storage keys currently held."""
        return [k for k in list(self._items) if self._current(k) is not None]

    def raw(self, key: str) -> str | None:
        """The stored JSON text of ``key``."""
        item = self._current(key)
        return item[1] if item else None
