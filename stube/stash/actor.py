"""The stash actor: one FIFO mailbox per browser session over a :class:`StashStore`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from ..errors import StateError
from ..jsonstate import json_copy
from .base import DEFAULT_IDLE, DEFAULT_TTL, MAX_ATTEMPTS, StashConflict, StashStore, _empty_state
from .memory import InMemoryStashStore

__all__ = ["SessionStash", "Stash"]

log = logging.getLogger("stube.stash")

T = TypeVar("T")

Views = dict[str, dict[str, Any]]
Change = Callable[[Views], "Views | None"]


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``1``, ``1.0`` and ``True`` are different values."""
    t = type(a)
    if t is not type(b):
        return False
    if t is dict:
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if t is list:
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _clean(state: Any) -> dict[str, Any]:
    """The loaded state with malformed view slices dropped (a foreign or hand-edited value)."""
    if not isinstance(state, dict) or not isinstance(state.get("views"), dict):
        log.warning("stash state without a views map; it reads as empty")
        return _empty_state()
    views = state["views"]
    good = {name: s for name, s in views.items()
            if isinstance(s, dict) and type(s.get("vsn")) is int and isinstance(s.get("data"), dict)}
    if len(good) != len(views):
        log.warning("stash state had %d malformed view slice(s); they were ignored", len(views) - len(good))
        state = {**state, "views": good}
    return dict(state)


def _merge(view: str, changes: dict[str, Any], vsn: int) -> Change:
    def change(views: Views) -> Views | None:
        cur = views.get(view)
        if cur is None or cur["vsn"] != vsn:
            # A different shape version replaces the slice wholesale: old and new keys never mix.
            return {**views, view: {"vsn": vsn, "data": changes}}
        data = cur["data"]
        if all(k in data and _same(data[k], v) for k, v in changes.items()):
            return None
        return {**views, view: {"vsn": vsn, "data": {**data, **changes}}}
    return change


def _drop(view: str, keys: frozenset[str]) -> Change:
    def change(views: Views) -> Views | None:
        cur = views.get(view)
        if cur is None or not any(k in cur["data"] for k in keys):
            return None
        data = {k: v for k, v in cur["data"].items() if k not in keys}
        return {**views, view: {"vsn": cur["vsn"], "data": data}}
    return change


def _reset(view: str) -> Change:
    def change(views: Views) -> Views | None:
        if view not in views:
            return None
        return {k: v for k, v in views.items() if k != view}
    return change


def _chain(changes: list[Change]) -> Change:
    def change(views: Views) -> Views | None:
        out = views
        for fn in changes:
            nxt = fn(out)
            if nxt is not None:
                out = nxt
        return None if out is views or _same(out, views) else out
    return change


def _check_view(view: Any) -> str:
    if isinstance(view, str) and view:
        return str(view)
    raise StateError(f"stash view name {view!r} must be a non-empty str")


def _check_vsn(vsn: Any) -> int:
    if not isinstance(vsn, int) or isinstance(vsn, bool):
        raise StateError(f"stash vsn {vsn!r} must be an int")
    return int(vsn)


def _check_changes(view: str, changes: Any) -> dict[str, Any]:
    if not isinstance(changes, Mapping):
        raise StateError(f"stash changes for {view} must be a dict with str keys, got {type(changes).__name__}")
    copied: dict[str, Any] = json_copy(dict(changes), f"stash[{view!r}]")
    return copied


class _Actor:
    """The in-memory side of one session: a FIFO lock (the mailbox) and the last state seen."""

    __slots__ = ("key", "loop", "lock", "state", "version", "loaded", "users", "last_used", "timer")

    def __init__(self, key: str, loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.lock = asyncio.Lock()
        self.state: dict[str, Any] | None = None   # never mutated in place: replaced on every write
        self.version: str | None = None
        self.loaded = False
        self.users = 0
        self.last_used = 0.0
        self.timer: asyncio.TimerHandle | None = None


class Stash:
    """The session stash: one actor per browser session over a :class:`StashStore`.

    ``secret`` keys the hash that turns session ids into storage keys; it is
    required for stores that outlive the process (use the app's secret or a
    dedicated one: changing it orphans every stored session). The in-memory
    store defaults to a random per-process key. ``ttl``: seconds a session
    lives after its last activity (``last_seen_at``: every write, and reads
    at most once per ``ttl / 10``); ``idle``: seconds an unused actor stays
    in memory. ``clock`` returns Unix seconds (for tests). A ``Stash`` serves
    one event loop at a time.
    """

    def __init__(self, store: StashStore | None = None, *, secret: bytes | str | None = None,
                 ttl: float = DEFAULT_TTL, idle: float = DEFAULT_IDLE,
                 clock: Callable[[], float] = time.time) -> None:
        if store is None:
            store = InMemoryStashStore()
        if secret is None:
            if getattr(store, "persistent", True):
                raise ValueError(
                    f"{type(store).__name__} keeps data beyond this process: give Stash(..., secret=...) "
                    "a stable secret, or stored sessions cannot be found again after a restart")
            secret = secrets.token_bytes(32)
        if isinstance(secret, str):
            secret = secret.encode()
        if not secret:
            raise ValueError("the stash secret must not be empty")
        if ttl <= 0 or idle < 0:
            raise ValueError("ttl must be positive and idle not negative")
        self.store = store
        self.ttl = float(ttl)
        self.idle = float(idle)
        self._clock = clock
        self._ttl_ms = int(self.ttl * 1000)
        self._touch_ms = self._ttl_ms // 10
        # A subkey, so the same secret can also sign cookies without the two uses meeting.
        self._hkey = hmac.new(secret, b"stube.stash.v1", hashlib.sha256).digest()
        self._actors: dict[str, _Actor] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<Stash {type(self.store).__name__} live={len(self._actors)}>"

    def key_for(self, session_id: str) -> str:
        """The storage key of ``session_id`` (a keyed hash: the id itself is never stored)."""
        if isinstance(session_id, str):
            raw = session_id.encode()
        elif isinstance(session_id, bytes):
            raw = session_id
        else:
            raise TypeError(f"session id must be str or bytes, got {type(session_id).__name__}")
        if not raw:
            raise ValueError("session id must not be empty")
        return hmac.new(self._hkey, raw, hashlib.sha256).hexdigest()

    def session(self, session_id: str) -> SessionStash:
        """The stash of one browser session; its actor is created on first use."""
        return SessionStash(self, self.key_for(session_id))

    async def sweep(self) -> int:
        """Delete every stored session idle longer than ``ttl``; returns how many went."""
        return await self.store.sweep(self._now_ms() - self._ttl_ms)

    async def aclose(self) -> None:
        """Let in-flight calls finish, release every actor, close the store."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        for actor in list(self._actors.values()):
            if actor.loop is loop:
                async with actor.lock:
                    pass
            if actor.timer is not None:
                actor.timer.cancel()
        self._actors.clear()
        await self.store.aclose()

    async def __aenter__(self) -> Stash:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # -- the mailbox (the public entry points SessionStash uses) --

    async def update(self, key: str, change: Change) -> bool:
        """Apply ``change`` to session ``key`` alone on its actor and save it durably.

        ``True`` if the store was written (a change to nothing writes nothing).
        """
        return await self._call(key, lambda actor: self._write(actor, change))

    async def read(self, key: str, pick: Callable[[Views], T]) -> T:
        """``pick(views)`` of session ``key``'s fresh views, alone on its actor."""
        async def op(actor: _Actor) -> T:
            return pick(await self._read(actor))
        return await self._call(key, op)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _call(self, key: str, op: Callable[[_Actor], Awaitable[T]]) -> T:
        """Run ``op`` alone on the session's actor: FIFO, one at a time."""
        if self._closed:
            raise RuntimeError("this Stash is closed")
        loop = asyncio.get_running_loop()
        actor = self._actors.get(key)
        if actor is None or actor.loop is not loop:
            if actor is not None and actor.timer is not None:
                actor.timer.cancel()
            actor = self._actors[key] = _Actor(key, loop)
        actor.users += 1
        try:
            async with actor.lock:
                return await op(actor)
        finally:
            actor.users -= 1
            actor.last_used = loop.time()
            if actor.users == 0 and actor.state is None and self._actors.get(key) is actor:
                # A session with nothing stored (a crawler's, a first page view) keeps nothing in
                # memory: a page-view flood must not pin an actor per session for ``idle`` seconds.
                if actor.timer is not None:
                    actor.timer.cancel()
                del self._actors[key]
            elif actor.timer is None and not self._closed:
                actor.timer = loop.call_later(self.idle, self._release, actor)

    def _release(self, actor: _Actor) -> None:
        """Timer callback: forget an actor nobody used for ``idle`` seconds."""
        actor.timer = None
        if self._actors.get(actor.key) is not actor or actor.users:
            return  # replaced, or busy: the call in flight re-arms the timer when it ends
        remaining = actor.last_used + self.idle - actor.loop.time()
        if remaining > 0:
            actor.timer = actor.loop.call_later(remaining, self._release, actor)
        else:
            del self._actors[actor.key]

    # -- state access (called with the actor's lock held) --

    def _expired(self, state: dict[str, Any], now_ms: int) -> bool:
        seen = state.get("last_seen_at")
        return isinstance(seen, (int, float)) and now_ms - seen > self._ttl_ms

    async def _load(self, actor: _Actor) -> None:
        got = await self.store.load(actor.key)
        if got is None:
            actor.state, actor.version = None, None
        else:
            actor.state, actor.version = _clean(got[0]), got[1]
        actor.loaded = True

    def _views(self, actor: _Actor, now_ms: int) -> Views:
        state = actor.state
        if state is None or self._expired(state, now_ms):
            return {}
        views: Views = state["views"]
        return views

    async def _read(self, actor: _Actor) -> Views:
        """Fresh views from the store (another process may have written), expiring lazily."""
        for _ in range(3):
            await self._load(actor)
            state, version = actor.state, actor.version
            if state is None or version is None:
                return {}
            now = self._now_ms()
            if self._expired(state, now):
                if await self.store.delete(actor.key, version):
                    actor.state, actor.version = None, None
                    return {}
                continue  # written meanwhile: look again
            seen = state.get("last_seen_at")
            if state["views"] and (not isinstance(seen, (int, float)) or now - seen > self._touch_ms):
                # Keep a session that is only ever read alive; losing this race is harmless.
                touched = {**state, "last_seen_at": now}
                try:
                    actor.version = await self.store.save(actor.key, touched, version, ttl=self.ttl)
                    actor.state = touched
                except StashConflict:
                    actor.loaded = False
                except Exception:
                    actor.loaded = False
                    log.warning("stash: refreshing last_seen_at failed", exc_info=True)
            views: Views = state["views"]
            return views
        actor.loaded = False
        return {}

    async def _write(self, actor: _Actor, change: Change) -> bool:
        """Apply ``change`` and save it with compare-and-set; ``True`` if the store was written."""
        for attempt in range(MAX_ATTEMPTS):
            fresh = not actor.loaded
            if fresh:
                await self._load(actor)
            now = self._now_ms()
            views = self._views(actor, now)
            new = change(views)
            if new is None:
                if fresh:
                    return False
                actor.loaded = False  # the cache says "no change": confirm against the store
                continue
            try:
                if new:
                    state = {"views": new, "last_seen_at": now}
                    actor.version = await self.store.save(actor.key, state, actor.version, ttl=self.ttl)
                    actor.state = state
                elif actor.version is not None:
                    if not await self.store.delete(actor.key, actor.version):
                        raise StashConflict(f"stash {actor.key[:12]}: version changed")
                    actor.state, actor.version = None, None
                return True
            except StashConflict:
                actor.loaded = False
                if attempt >= 1:
                    await asyncio.sleep(random.uniform(0, min(0.2, 0.0005 * 2 ** attempt)))
            except BaseException:
                actor.loaded = False  # the write may or may not have landed
                raise
        raise StashConflict(f"stash {actor.key[:12]}: gave up after {MAX_ATTEMPTS} conflicting writes")


class SessionStash:
    """The stash of one browser session (a handle on its actor).

    Methods are coroutines. ``view`` names a slice (the stube runtime uses the
    component type name); ``changes`` is a ``str``-keyed dict of JSON values.
    Writes are durable when they return and return whether the store was
    written; anything invalid raises :class:`stube.StateError` before any
    state changes.
    """

    __slots__ = ("_stash", "_key")

    def __init__(self, stash: Stash, key: str) -> None:
        self._stash = stash
        self._key = key

    def __repr__(self) -> str:
        return f"<SessionStash {self._key[:12]}…>"

    @property
    def key(self) -> str:
        """The storage key (a keyed hash of the session id)."""
        return self._key

    async def merge(self, view: str, changes: Mapping[str, Any], vsn: int = 1) -> bool:
        """Merge ``changes`` into the view's data, per-key last-write-wins.

        When the stored slice carries another ``vsn`` the slice is replaced
        by ``changes`` wholesale, so old- and new-shape keys never mix.
        """
        view = _check_view(view)
        change = _merge(view, _check_changes(view, changes), _check_vsn(vsn))
        return await self._stash.update(self._key, change)

    async def drop(self, view: str, keys: Iterable[str]) -> bool:
        """Remove ``keys`` from the view's data; unknown keys are ignored."""
        view = _check_view(view)
        if isinstance(keys, str):
            keys = (keys,)
        change = _drop(view, frozenset(k for k in keys if isinstance(k, str)))
        return await self._stash.update(self._key, change)

    async def reset_view(self, view: str) -> bool:
        """Drop the view's whole slice (nothing is written when there is none)."""
        change = _reset(_check_view(view))
        return await self._stash.update(self._key, change)

    async def apply(self, writes: Iterable[Any]) -> bool:
        """Apply the kernel's ``StashWrite`` commands (``.view``, ``.changes``, ``.vsn``) in order.

        All of one dispatch's writes become a single durable save.
        """
        changes = []
        for w in writes:
            view = _check_view(w.view)
            changes.append(_merge(view, _check_changes(view, w.changes), _check_vsn(w.vsn)))
        if not changes:
            return False
        change = _chain(changes)
        return await self._stash.update(self._key, change)

    async def fetch_view(self, view: str) -> dict[str, Any] | None:
        """``{"vsn": int, "data": {...}}``, or ``None`` when the view never stashed."""
        view = _check_view(view)

        def pick(views: Views) -> dict[str, Any] | None:
            s = views.get(view)
            return None if s is None else {"vsn": s["vsn"], "data": json_copy(s["data"])}
        return await self._stash.read(self._key, pick)

    async def get_view(self, view: str) -> dict[str, Any]:
        """The view's data dict; ``{}`` when the view never stashed."""
        found = await self.fetch_view(view)
        return {} if found is None else found["data"]

    async def views(self) -> dict[str, dict[str, Any]]:
        """Every view slice, ``{view: {"vsn", "data"}}`` (what the runtime preloads before a dispatch)."""
        def pick(views: Views) -> dict[str, dict[str, Any]]:
            return {v: {"vsn": s["vsn"], "data": json_copy(s["data"])} for v, s in views.items()}
        return await self._stash.read(self._key, pick)
