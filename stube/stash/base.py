"""What every stash backend shares: the store protocol, the conflict error, keys, versions, constants."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any, Protocol, runtime_checkable

from ..errors import StubeError

__all__ = ["CORRUPT", "DEFAULT_IDLE", "DEFAULT_TTL", "MAX_ATTEMPTS", "StashConflict", "StashStore"]

#: Default lifetime of a session's stash after its last activity: 30 days.
DEFAULT_TTL = 30 * 24 * 3600.0
#: Default time an unused actor stays in memory.
DEFAULT_IDLE = 300.0
#: How many times a write is re-applied after compare-and-set conflicts before giving up.
MAX_ATTEMPTS = 64

#: The version a store reports for a stored value it cannot parse; saving against it overwrites.
CORRUPT = "!corrupt"

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


class StashConflict(StubeError, RuntimeError):
    """A compare-and-set failed: the stored version is not the one the write expected.

    Stores raise it from ``save``; the actor reloads and retries, and only lets
    it escape after :data:`MAX_ATTEMPTS` lost races in a row.
    """




@runtime_checkable
class StashStore(Protocol):
    """Where session states rest. Every method is a coroutine; ``key`` is ``[A-Za-z0-9_-]+``.

    ``version`` is an opaque, never-reused string (``None`` = the key is absent).
    ``persistent`` says whether the data outlives the process, which decides
    whether :class:`Stash` insists on a configured secret.
    """

    persistent: bool

    async def load(self, key: str) -> tuple[dict[str, Any], str] | None:
        """``(state, version)`` or ``None`` when absent."""

    async def save(self, key: str, state: dict[str, Any], expected: str | None, *,
                   ttl: float | None = None) -> str:
        """Store ``state`` if the current version is ``expected``; return the new version.

        Raises :class:`StashConflict` otherwise. ``ttl`` (seconds) is a hint for
        stores that expire keys themselves.
        """

    async def delete(self, key: str, expected: str) -> bool:
        """Delete ``key`` if its version is ``expected``; ``False`` when it is not (or absent)."""

    async def sweep(self, cutoff_ms: int) -> int:
        """Delete states whose ``last_seen_at`` is older than ``cutoff_ms``; return how many."""

    async def aclose(self) -> None:
        """Release connections and file handles."""


def _check_key(key: str) -> str:
    if type(key) is not str or not _KEY.match(key):
        raise ValueError(f"stash storage key {key!r} must match [A-Za-z0-9_-]{{1,128}}")
    return key


def _new_version() -> str:
    return secrets.token_hex(8)


def _empty_state() -> dict[str, Any]:
    return {"views": {}, "last_seen_at": None}


def _stale(state: Any, cutoff_ms: int) -> bool:
    seen = state.get("last_seen_at") if isinstance(state, dict) else None
    return not isinstance(seen, (int, float)) or seen < cutoff_ms
