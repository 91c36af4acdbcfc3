"""Hearing that the server is told to stop, before it waits for the open responses.

An SSE stream never ends by itself, and uvicorn (like most ASGI servers) waits
for every open response to finish before it sends the lifespan shutdown, so
with pages open a SIGTERM waited out the whole graceful timeout and then
cancelled the streams. ASGI has no "the server is stopping" message; the
process's signal handlers are the one documented place that hears it first.
:class:`StopSignals` chains them (``signal.getsignal`` + call the previous
handler, Python's documented way to add to a handler, no server internals
touched): on SIGTERM or SIGINT it schedules ``on_stop`` on the event loop and
calls the handler that was there, so the server still does exactly what it did.
See docs/decisions/0006-ending-streams-at-shutdown.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SIGNALS", "StopSignals"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """Run ``on_stop`` on the event loop when the process gets SIGTERM/SIGINT, then the previous handler.

    Installed only from the main thread with a running loop, and only over a
    Python-level handler (a server's): over ``SIG_DFL``/``SIG_IGN`` nothing
    would run after us, so nothing is installed. :meth:`restore` puts the
    previous handlers back where ours is still the current one; where another
    handler was chained on top of ours, ours stays in the chain but only
    forwards.
    """

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self.on_stop = on_stop
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._active = False

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> bool:
        """Chain the handlers; false when they cannot be (not the main thread, no server handler)."""
        if self._active or threading.current_thread() is not threading.main_thread():
            return False
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        for sig in SIGNALS:
            if sig in self._previous:
                continue  # still in the chain from an earlier install (another handler sat on top)
            previous = signal.getsignal(sig)
            if callable(previous):
                self._previous[sig] = previous
                signal.signal(sig, self._handle)
        self._active = bool(self._previous)
        return self._active

    def restore(self) -> None:
        """Put the previous handlers back (from the main thread); idempotent."""
        self._active = False
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in list(self._previous.items()):
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, previous)
                del self._previous[sig]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        loop = self._loop
        if self._active and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing left to stop
                loop.call_soon_threadsafe(self.on_stop)
        previous = self._previous.get(signum)
        if previous is not None:
            previous(signum, frame)
