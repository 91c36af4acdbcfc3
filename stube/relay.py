"""The runtime's cross-process side: every page of a conversation sees its commits, whichever process made them.

Several processes (a :class:`~stube.bus.RedisBus`, a shared store) serve any
event of any conversation. Each commit is published on the bus channel
``conv:<cid>`` (``{"since", "to", "html", "exclude"}``: the rendered SSE
partials), which every process holding streams or a copy of that conversation
follows: it pushes the fragments to its own pages and lets its older copy go.
``publish()`` travels on the channel ``publish``. With a :class:`~stube.bus.LocalBus`
(one process) nothing goes on the bus and fragments go straight to the streams.

Kept apart from :mod:`stube.runtime` so that the single-process path reads
without the bus, and the bus path reads in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from markupsafe import escape

from . import fragments as fr
from . import wire
from .bus import Bus, LocalBus, Message, Subscription
from .fragments import Fragment
from .kernel import Outcome
from .livemap import Locks
from .persist import PINNED
from .render import Urls
from .scheduler import Scheduler
from .streams import Streams, offer, snapshot

__all__ = ["MOVED_TEXT", "PUBLISH_CHANNEL", "Outbox", "Relay", "moved"]

log = logging.getLogger("stube")

#: The bus channel carrying ``publish()`` between processes; ``conv:<cid>`` carries each commit.
PUBLISH_CHANNEL = "publish"
#: What an event for a live (greenlet/generator) flow running in another process answers.
MOVED_TEXT = "This step was started on another server; start again."


class Outbox:
    """Bus messages of this process, sent one at a time in order (a failure is logged, not raised)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._task: asyncio.Task[None] | None = None

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self._queue.append((channel, message))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                channel, message = self._queue.popleft()
                try:
                    await self.bus.publish(channel, message)
                except Exception:
                    log.warning("bus: publishing on %s failed; other processes miss this message",
                                channel, exc_info=True)
        finally:
            self._task = None

    async def flush(self) -> None:
        while self._task is not None:
            await asyncio.shield(self._task)


class Host(Protocol):
    """What the relay needs of its runtime (a protocol, so that this module does not import it)."""

    conversations: dict[str, dict[str, Any]]
    streams: Streams
    scheduler: Scheduler
    locked: Locks

    def page_locked(self, cid: str) -> Awaitable[tuple[dict[str, Any], str] | None]: ...


def moved(conv: dict[str, Any]) -> Outcome:
    """What an event on a conversation pinned to another process answers: a clear page, no change."""
    urls = Urls(conv.get("base") or "")
    html = (f'<div class="stube-moved" role="alert"><p>{escape(MOVED_TEXT)}</p>'
            f'<p><a href="{escape(urls.page(conv.get("mount") or "/"))}">Start again</a></p></div>')
    v = conv.get("version", 0)
    return Outcome(conv, fragments=[Fragment(fr.CLOSE, target=conv["id"], html=html)], since=v)


class Relay:
    """Pushes commits to this process's pages and, with other processes, over the bus to theirs."""

    def __init__(self, bus: Bus, host: Host, *, let_go: Callable[[str], None]) -> None:
        """``let_go(cid)`` drops this process's copy once another process committed it further."""
        self.bus, self.host, self.let_go = bus, host, let_go
        #: Other processes may serve this application: commits and publishes travel on the bus.
        self.remote = not isinstance(bus, LocalBus)
        self.outbox = Outbox(bus)
        self.follows: dict[str, Subscription] = {}  # cid -> its conv:<cid> subscription
        self._publish_sub: Subscription | None = None

    async def start(self) -> None:
        """Start the bus and, with other processes, listen to their ``publish()``."""
        await self.bus.start()
        if self.remote:
            self._publish_sub = self.bus.subscribe(PUBLISH_CHANNEL, self._on_publish)
            await self._publish_sub.ready()

    async def close(self) -> None:
        """Send what is still queued (for a while), then close the bus."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.outbox.flush(), 5)
        self.follows.clear()  # the bus drops every subscription as it closes
        try:
            await self.bus.close()
        except Exception:
            log.exception("closing the bus failed")

    def pinned_elsewhere(self, conv: dict[str, Any]) -> bool:
        """Saved by another process while it ran a live (non-durable) flow: the flow cannot move here."""
        pinned = conv.get(PINNED)
        return pinned is not None and pinned != self.bus.node_id

    def push(self, cid: str, fragments: list[Fragment], *, since: int, to: int, exclude: str | None = None) -> None:
        """Send one fold's fragments to every open page but ``exclude``; a page receiving them is activity.

        With other processes, the rendered fragments also go out on ``conv:<cid>`` for their pages.
        """
        h = self.host
        conv = h.conversations.get(cid)
        if not self.remote:
            if h.streams.push(cid, fragments, since=since, to=to, exclude=exclude) and conv is not None:
                conv["touched"] = time.time()
            return
        if not fragments and since == to:
            return
        html = wire.partials(fragments, cid=cid, history_in_headers=False)
        if h.streams.push_html(cid, html, since=since, to=to, exclude=exclude) and conv is not None:
            conv["touched"] = time.time()
        self.outbox.send(f"conv:{cid}", {"since": since, "to": to, "html": html, "exclude": exclude})

    def send_publish(self, topic: str, message: Any, msg_id: str) -> None:
        """The scheduler's relay: a ``publish()`` for the subscribers in other processes."""
        self.outbox.send(PUBLISH_CHANNEL, {"topic": topic, "message": message, "id": msg_id})

    # -- following conversations --

    def follow(self, cid: str) -> Subscription:
        """Subscribe to ``conv:<cid>`` (once): other processes' commits of it."""
        sub = self.follows.get(cid)
        if sub is None or sub.closed:
            sub = self.follows[cid] = self.bus.subscribe(
                f"conv:{cid}", lambda m: self._on_fold(cid, m), on_gap=lambda: self._on_gap(cid))
        return sub

    def unfollow(self, cid: str) -> None:
        sub = self.follows.pop(cid, None)
        if sub is not None:
            sub.close()

    def unfollow_idle(self, cid: str) -> None:
        """Stop following ``cid`` once this process holds neither a copy nor a stream of it."""
        if cid not in self.host.conversations and cid not in self.host.streams:
            self.unfollow(cid)

    def _on_fold(self, cid: str, message: Message) -> None:
        """Another process committed ``cid``: feed our pages, and let an older copy of ours go."""
        if message.own:
            return  # pushed to our own streams when we committed it
        d = message.data
        since, to, html, exclude = d.get("since"), d.get("to"), d.get("html"), d.get("exclude")
        if type(since) is not int or type(to) is not int or type(html) is not str:
            log.warning("bus: dropped a malformed message on conv:%s", cid)
            return
        h = self.host
        conv = h.conversations.get(cid)
        if h.streams.push_html(cid, html, since=since, to=to,
                               exclude=exclude if isinstance(exclude, str) else None) and conv is not None:
            conv["touched"] = time.time()
        if conv is not None and conv.get("version", 0) < to:
            h.scheduler.spawn(self._outdated(cid, to))
        elif conv is None:
            self.unfollow_idle(cid)

    async def _outdated(self, cid: str, to: int) -> None:
        h = self.host
        async with h.locked(cid):
            conv = h.conversations.get(cid)
            if conv is not None and conv.get("version", 0) < to and not self.pinned_elsewhere(conv):
                self.let_go(cid)
                if cid in h.streams:
                    return
                self.unfollow(cid)

    async def _on_gap(self, cid: str) -> None:
        """The bus lost ``conv:<cid>`` for a while: our pages may have missed folds, send each a snapshot."""
        h = self.host
        if cid not in h.streams:
            return
        async with h.locked(cid):
            found = await h.page_locked(cid)
            if found is None:
                return
            for stream in list(h.streams.get(cid) or ()):
                offer(stream, snapshot(cid, *found))

    def _on_publish(self, message: Message) -> None:
        d = message.data
        if message.own or type(d.get("topic")) is not str or type(d.get("id")) is not str:
            return
        self.host.scheduler.fan_out(d["topic"], d.get("message"), d["id"])
