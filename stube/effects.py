"""Effects: the small values handlers return to change the conversation.

Each constructor returns a frozen dataclass. The kernel folds them in order;
the runtime executes the asynchronous ones (``after``, ``io``, ``subscribe``,
``unsubscribe``, ``dispatch_to``), which a :class:`~stube.testing.Harness`
leaves inert until a test drives them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .component import Component, as_embed


def _method_name(value: str | Callable[..., Any] | None, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    name = getattr(value, "__name__", None)
    if callable(value) and isinstance(name, str):
        return name
    raise TypeError(f"{what} must be a method name or a method, got {value!r}")


_SLOT = re.compile(r"[A-Za-z0-9_-]+")


def slot_name(slot: Any) -> str:
    """Slot names end up in element ids (``<parent>--<slot>``): letters, digits, ``_`` and ``-``."""
    if not isinstance(slot, str) or not _SLOT.fullmatch(slot):
        raise ValueError(f"slot names are made of letters, digits, '_' and '-', got {slot!r}")
    return slot


class Effect:
    """Base class of all effects."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Call(Effect):
    embed: Component
    resume: str | None = None
    on_error: str | None = None


@dataclass(frozen=True, slots=True)
class CallInSlot(Effect):
    slot: str
    embed: Component
    resume: str | None = None
    on_error: str | None = None


@dataclass(frozen=True, slots=True)
class Answer(Effect):
    value: Any = None


@dataclass(frozen=True, slots=True)
class AnswerError(Effect):
    error: Any


@dataclass(frozen=True, slots=True)
class Replace(Effect):
    embed: Component


@dataclass(frozen=True, slots=True)
class SetKeyedChildren(Effect):
    slot: str
    pairs: tuple[tuple[str, Component], ...]
    rerender_parent: bool = False


@dataclass(frozen=True, slots=True)
class Patch(Effect):
    html: str


@dataclass(frozen=True, slots=True)
class History(Effect):
    url: str
    push: bool = False


@dataclass(frozen=True, slots=True)
class Io(Effect):
    fn: Callable[[], Any]
    then: str | None = None


@dataclass(frozen=True, slots=True)
class After(Effect):
    seconds: float
    event: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subscribe(Effect):
    topic: str
    event: str


@dataclass(frozen=True, slots=True)
class Unsubscribe(Effect):
    topic: str | None = None


@dataclass(frozen=True, slots=True)
class DispatchTo(Effect):
    iid: str
    event: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Back(Effect):
    pass


@dataclass(frozen=True, slots=True)
class End(Effect):
    value: Any = None


@dataclass(frozen=True, slots=True)
class ExecuteScript(Effect):
    js: str


def call(embed: Component | type[Component], resume: str | Callable[..., Any] | None = None,
         on_error: str | Callable[..., Any] | None = None) -> Call:
    """Push ``embed`` as a new frame; when it answers ``v``, run ``self.<resume>(v)``.

    ::

        return call(Confirm("Delete?"), resume="on_confirmed")
    """
    return Call(as_embed(embed), _method_name(resume, "resume"), _method_name(on_error, "on_error"))


def call_in_slot(slot: str, embed: Component | type[Component],
                 resume: str | Callable[..., Any] | None = None,
                 on_error: str | Callable[..., Any] | None = None) -> CallInSlot:
    """Temporarily replace the child in one of my slots; the old one comes back on answer."""
    return CallInSlot(slot_name(slot), as_embed(embed), _method_name(resume, "resume"),
                      _method_name(on_error, "on_error"))


def answer(value: Any = None) -> Answer:
    """Pop this frame (or slot child) and deliver ``value`` to the caller's resume method."""
    return Answer(value)


def answer_error(error: Any) -> AnswerError:
    """Pop this frame and deliver ``error`` to the caller's ``on_error`` method.

    Without one, the caller shows an error banner.
    """
    return AnswerError(error)


def replace(embed: Component | type[Component]) -> Replace:
    """Seaside's ``become:``: swap this frame for another, keeping the caller's resume."""
    return Replace(as_embed(embed))


def set_keyed_children(slot: str, pairs: Iterable[tuple[str | int, Component]], *,
                       rerender_parent: bool = False) -> SetKeyedChildren:
    """Reconcile an ordered, keyed child list (render it with ``keyed(slot)``).

    Unchanged keys are untouched, new keys are created in place, removed keys
    are stopped and removed, changed embeds are rebuilt under the same id.
    Keys are strings (ints are converted) and must be unique. The parent's own
    markup is not re-rendered (that is the point: siblings stay as they are);
    pass ``rerender_parent=True`` when markup outside the list shows the change
    (a count, a toolbar) and one morph of the whole parent is wanted instead.
    """
    out: list[tuple[str, Component]] = []
    seen: set[str] = set()
    for pair in pairs:
        key, embed = pair
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise TypeError(f"keyed child keys must be str or int, got {key!r}")
        key = str(key)
        if key in seen:
            raise ValueError(f"duplicate key {key!r} in set_keyed_children({slot!r}, ...)")
        seen.add(key)
        out.append((key, as_embed(embed)))
    return SetKeyedChildren(slot_name(slot), tuple(out), bool(rerender_parent))


def patch(html: str) -> Patch:
    """An extra HTML fragment swapped by the ``id`` of its top element (morph)."""
    return Patch(str(html))


def history(url: str, push: bool = False) -> History:
    """Set the browser URL (``HX-Replace-Url``, or ``HX-Push-Url`` with ``push=True``)."""
    return History(str(url), bool(push))


def io(fn: Callable[[], Any], then: str | Callable[..., Any] | None = None) -> Io:
    """Run blocking ``fn()`` off the event loop; its result arrives as method ``then(result)``."""
    if not callable(fn):
        raise TypeError("io() needs a callable")
    return Io(fn, _method_name(then, "then"))


def after(seconds: float, event: str | Callable[..., Any], **payload: Any) -> After:
    """Deliver ``event(**payload)`` to this instance after ``seconds`` (pushed over SSE)."""
    return After(max(0.0, float(seconds)), _method_name(event, "event") or "", payload)


def subscribe(topic: str, event: str | Callable[..., Any]) -> Subscribe:
    """Receive ``stube.publish(topic, msg)`` as ``self.<event>(msg)``."""
    return Subscribe(str(topic), _method_name(event, "event") or "")


def unsubscribe(topic: str | None = None) -> Unsubscribe:
    """Stop receiving ``topic`` (or every topic when ``None``)."""
    return Unsubscribe(topic)


def dispatch_to(iid: str | Component, event: str | Callable[..., Any], **payload: Any) -> DispatchTo:
    """Deliver an event to another instance of this conversation after this handler finishes."""
    if isinstance(iid, Component):
        if iid.iid is None:
            raise TypeError("dispatch_to() needs a live instance or an instance id")
        iid = iid.iid
    if not isinstance(iid, str):
        raise TypeError(f"dispatch_to() needs a live instance or an instance id, got {iid!r}")
    return DispatchTo(iid, _method_name(event, "event") or "", payload)


def back() -> Back:
    """Rewind the conversation one step in its history."""
    return Back()


def end(value: Any = None) -> End:
    """Finish the conversation (``stop`` hooks run, the stream closes)."""
    return End(value)


def execute_script(js: str) -> ExecuteScript:
    """Last-resort escape hatch: run JavaScript in the page. Never interpolate user input."""
    return ExecuteScript(str(js))
