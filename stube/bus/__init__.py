"""Message buses: how the processes serving one application tell each other things.

One process can hand a ``publish()``, a ``dispatch_to`` or an SSE push to its
own subscribers directly; several processes (``uvicorn --workers N``, several
machines) need a shared channel so that whichever process holds the browser's
stream sees what another process did. A :class:`Bus` is that channel:

    bus = stube.RedisBus("redis://127.0.0.1:6379/0")
    await bus.start()
    sub = bus.subscribe("conv:abc", handler)   # handler(message) -> None or awaitable
    await sub.ready()                          # from here on nothing published is missed
    await bus.publish("conv:abc", {"kind": "push", "html": "..."})
    sub.close()
    if await bus.claim("timer:abc:3", ttl=30):  # exactly one process fires this timer
        ...

Semantics, the same for :class:`LocalBus` (the in-process default) and
:class:`RedisBus`, so that code tested on one process behaves alike on many:

- Messages are JSON objects (``dict`` with ``str`` keys, JSON values). Anything
  else is refused by ``publish`` with :class:`~stube.errors.StateError`
  naming the culprit, before anything is sent.
- Every subscription receives its own copy (a :class:`Message`); mutating it
  affects nobody else. ``LocalBus`` copies instead of serialising, which gives
  the same values a JSON round trip would.
- ``publish`` returns before handlers run. Handlers run on the event loop, one
  message at a time per subscription, in the order the bus received them:
  messages one process publishes to a channel (each ``publish`` awaited before
  the next) reach every subscriber in that order. A handler that raises is
  logged and the subscription carries on.
- Delivery is at most once. Redis pub/sub drops what is published while a
  subscriber is disconnected; the subscription's ``on_gap`` callback then runs
  once it is subscribed again, so the subscriber can re-read the state it
  follows instead of silently missing an update.
- A process receives its own messages too (``message.own`` tells them apart).

Everything here runs on the event loop's thread; none of it is thread-safe.

The package: :mod:`~stube.bus.base` holds the :class:`Bus` protocol,
:class:`Message`, :class:`Subscription` and the checks both buses share;
:mod:`~stube.bus.local` the in-process :class:`LocalBus`; :mod:`~stube.bus.redis`
:class:`RedisBus`, which loads the ``redis`` package only when one is made.
"""

from .base import Bus, GapHandler, Handler, Message, Subscription
from .local import LocalBus
from .redis import RedisBus

__all__ = ["Bus", "GapHandler", "Handler", "LocalBus", "Message", "RedisBus", "Subscription"]
