"""SSE streams: the open pages of each conversation and what is pushed to them.

A page showing a conversation holds one stream; every fold that changes the
conversation is offered to its other pages as one message (id ``since-to``), so
each page applies folds in order whichever channel delivers them first. The
number of streams is bounded per conversation and per session: opening one
more closes the oldest, which is told to stop listening rather than reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from . import fragments as fr
from . import wire
from .fragments import Fragment
from .paint import step_fragment

#: Messages a stalled page may fall behind before it is dropped (it repaints when it reconnects).
QUEUE_SIZE = 256


class Stream:
    """One open SSE connection: one page showing one conversation."""

    __slots__ = ("queue", "page", "cid", "owner")

    def __init__(self, page: str, cid: str = "", owner: str | None = None) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self.page = page
        self.cid = cid
        self.owner = owner

    async def events(self, keepalive: float, done: Callable[[], None] | None = None) -> AsyncIterator[bytes]:
        """The response body: a keepalive first, then each message, until the stream is closed.

        After ``keepalive`` seconds without a message the body sends a keepalive.
        One timer per stream does it (it looks at the time of the last message
        and sleeps again), not a ``wait_for`` per message: a publish reaches
        every page at once, and a task, a future and a timer for each of them
        were a fifth of its cost.
        ``done`` runs when the body ends, however it ends (the client went away,
        the conversation ended, a newer stream displaced this one).
        """
        queue = self.queue
        loop = asyncio.get_running_loop()
        last = loop.time()  # when the body last had something to send
        timer: asyncio.TimerHandle | None = None

        def tick() -> None:
            nonlocal timer
            now = loop.time()
            due = last + keepalive
            if due <= now + keepalive * 0.001:  # quiet for a whole keepalive (timers may fire a hair early)
                if queue.empty():  # else the body is still sending what is queued: no need
                    queue.put_nowait(wire.KEEPALIVE)
                due = now + keepalive
            timer = loop.call_at(due, tick)

        try:
            yield wire.KEEPALIVE
            timer = loop.call_at(last + keepalive, tick)
            while True:
                item = queue.get_nowait() if not queue.empty() else await queue.get()
                if item is None:
                    return
                last = loop.time()
                yield item
        finally:
            if timer is not None:
                timer.cancel()
            if done is not None:
                done()


def offer(stream: Stream, message: bytes | None) -> bool:
    """Queue ``message`` (``None`` closes the stream); false when the queue was full: dropped and closed."""
    try:
        stream.queue.put_nowait(message)
        return True
    except asyncio.QueueFull:
        # A stalled page: drop what it missed; it repaints when it reconnects.
        while not stream.queue.empty():
            stream.queue.get_nowait()
        stream.queue.put_nowait(None)
        return False


def snapshot(cid: str, conv: dict[str, Any], html: str) -> bytes:
    """A whole-page message (``s-<version>``): applies over anything older, and names the step it shows."""
    frags = [Fragment(fr.PAGE, target=cid, html=html)]
    if conv.get("stack"):
        with contextlib.suppress(LookupError):  # a type this process does not know: no step to name
            frags.append(step_fragment(conv))
    data = wire.partials(frags, cid=cid, history_in_headers=False)
    return wire.sse_message(data, event_id=f"s-{conv.get('version', 0)}")


def unplug(cid: str) -> bytes:
    """What a displaced stream hears last: remove the page's stream element, so it does not reconnect."""
    return wire.sse_message(wire.partials([Fragment(fr.REMOVE, target=f"{cid}-sse")], cid=cid))


class Streams:
    """The open streams of one application, by conversation, bounded per conversation and per session."""

    def __init__(self, *, per_conversation: int = 4, per_session: int = 16) -> None:
        self.per_conversation = max(1, per_conversation)
        self.per_session = max(1, per_session)
        #: The open streams of each conversation (read directly by the runtime's event path).
        self.by_cid: dict[str, list[Stream]] = {}
        self._by_owner: dict[str, list[Stream]] = {}
        #: False once the server is stopping: every stream is closed, new ones end at once.
        self.accepting = True

    def get(self, cid: str) -> list[Stream] | None:
        """The open streams of ``cid`` (``None`` when there are none)."""
        return self.by_cid.get(cid)

    def __contains__(self, cid: object) -> bool:
        return cid in self.by_cid

    def __len__(self) -> int:
        return sum(len(s) for s in self.by_cid.values())

    def items(self) -> list[tuple[str, list[Stream]]]:
        return list(self.by_cid.items())

    def attach(self, cid: str, page: str, owner: str | None = None) -> Stream:
        """Open a stream for ``page``; beyond the bounds the oldest stream is displaced.

        While the server stops the stream is not kept: it ends after what was
        queued on it (a snapshot), and the page reconnects elsewhere.
        """
        stream = Stream(page, cid, owner)
        if not self.accepting:
            offer(stream, None)
            return stream
        mine = self.by_cid.setdefault(cid, [])
        mine.append(stream)
        if owner is not None:
            self._by_owner.setdefault(owner, []).append(stream)
        while len(mine) > self.per_conversation:
            self._displace(mine[0])
        session = self._by_owner.get(owner) if owner is not None else None
        while session is not None and len(session) > self.per_session:
            self._displace(session[0])
        return stream

    def detach(self, cid: str, stream: Stream) -> None:
        """Forget ``stream`` (its page went away); idempotent."""
        mine = self.by_cid.get(cid)
        if mine and stream in mine:
            mine.remove(stream)
            if not mine:
                del self.by_cid[cid]
        session = self._by_owner.get(stream.owner) if stream.owner is not None else None
        if session and stream in session:
            session.remove(stream)
            if not session:
                del self._by_owner[stream.owner]  # type: ignore[arg-type]

    def _displace(self, stream: Stream) -> None:
        self.detach(stream.cid, stream)
        offer(stream, unplug(stream.cid))
        offer(stream, None)

    def close(self, cid: str) -> None:
        """Close every stream of ``cid`` (it ended or this process let it go)."""
        for stream in list(self.by_cid.get(cid, ())):
            self.detach(cid, stream)
            offer(stream, None)

    def close_all(self) -> None:
        for cid in list(self.by_cid):
            self.close(cid)

    def stop(self) -> None:
        """The server is stopping: end every stream (the pages reconnect) and keep no new one."""
        self.accepting = False
        self.close_all()

    def push(self, cid: str, fragments: list[Fragment], *, since: int, to: int, exclude: str | None = None) -> bool:
        """Send one fold's fragments to every open page of ``cid`` but ``exclude``; true if any got it.

        A fold that changed nothing visible is still announced (``since < to``) so
        no page waits for it.
        """
        streams = self.by_cid.get(cid)
        if not streams or (not fragments and since == to):
            return False
        targets = [s for s in streams if s.page != exclude]
        if not targets:
            return False
        html = wire.partials(fragments, cid=cid, history_in_headers=False)
        return self._send(cid, targets, html, since, to)

    def push_html(self, cid: str, html: str, *, since: int, to: int, exclude: str | None = None) -> bool:
        """:meth:`push` of a fold another process rendered (``html``: its SSE partials); true if any got it."""
        streams = self.by_cid.get(cid)
        if not streams or (not html and since == to):
            return False
        targets = [s for s in streams if s.page != exclude]
        return bool(targets) and self._send(cid, targets, html, since, to)

    def _send(self, cid: str, targets: list[Stream], html: str, since: int, to: int) -> bool:
        message = wire.sse_message(html, event_id=f"{since}-{to}")
        for s in targets:
            if not offer(s, message):
                self.detach(cid, s)  # closed: nothing more piles up behind its end
        return True
