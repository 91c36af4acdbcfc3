"""The component a ``@stube.flow`` makes, and the driver that turns its continuation into effects.

A :class:`FlowComponent`'s state is plain JSON (its arguments, ``at``,
``asking``, for durable flows ``log``); its continuation is a
:class:`~stube.flows.live._Live` kept in the fold's ``FlowHost.live`` under
``(conversation id, instance id)``. Each hook or receiver makes a
:class:`_Driver` for the instance and the fold running it, so the steps
(start, resume, rebuild, suspend, fail) share the component, the host and the
key instead of passing them around.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, overload

from .. import effects as fx
from ..component import Component, event
from ..context import FlowHost, flow_host
from ..errors import FlowDiverged, FlowError, StateError, error_message
from ..jsonstate import json_copy
from ..render import has_slot
from .live import (
    ASK,
    ASK_SLOT,
    DONE,
    IO,
    AskFailed,
    Nodes,
    Request,
    _Live,
    asking_of,
    chain,
    describe,
    failure,
    fn_name,
    new_token,
    node,
    private,
    tag,
)

log = logging.getLogger("stube")

_VIEW = """\
{%- if self.error -%}
<div {{ root(class="stube-error stube-flow-error") }} role="alert" data-stube-error="true">\
<strong class="stube-error-title">Component error</strong> \
<span class="stube-error-message">{{ self.error }}</span> \
<form method="post" class="stube-flow-actions"><button class="stube-button" {{ on("restart") }}>Start again</button> \
{{ back_button("Back") }}</form></div>
{%- elif inline -%}
<div {{ root(class="stube-flow") }}>{{ slot("ask") }}</div>
{%- elif busy -%}
<div {{ root(class="stube-flow stube-flow-busy") }} aria-busy="true">Working…</div>
{%- else -%}
<div {{ root(class="stube-flow") }} hidden></div>
{%- endif -%}"""

_LOST = ("This flow's progress was lost (the server restarted, or the page went back or forward "
         "to a flow that had already finished or left the page; only durable flows can). Start it again.")


class FlowComponent(Component):
    """Base class of the components ``@stube.flow`` makes; see :mod:`stube.flows`."""

    _flow_fn: ClassVar[Callable[..., Any]]
    _flow_durable: ClassVar[bool] = False
    _flow_generator: ClassVar[bool] = False
    _flow_signature: ClassVar[inspect.Signature | None] = None
    #: The internal events the kernel delivers to a flow (never reachable from the browser).
    _stube_receivers: ClassVar[frozenset[str]] = frozenset({"_stube_resume", "_stube_failed", "_stube_io"})
    #: A child's error answer reaches ``_stube_failed`` (raised at the ``ask``); the child
    #: records do not carry the name (88 bytes each, in every history step that holds them).
    _stube_on_error: ClassVar[str | None] = "_stube_failed"

    # Defaults read through the class, so empty values cost nothing in the stored state.
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = MappingProxyType({})
    #: The error banner's message after a failure (the flow then waits for restart).
    error: str | None = None
    #: What an embedded (children() or keyed) flow returned: it has no caller to answer.
    result: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        sig = cls._flow_signature
        if sig is not None:
            try:
                sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"flow {cls._stube_type}: {exc}") from None
        self.flow = "durable" if cls._flow_durable else ("generator" if cls._flow_generator else "greenlet")
        if args:
            self.args = list(args)
        if kwargs:
            self.kwargs = dict(kwargs)
        #: Position token of the last value consumed (None before start).
        self.at: str | None = None
        #: What the flow waits for: a component type name or "io:<fn>".
        self.asking: str | None = None
        if cls._flow_durable:
            self.log: list[list[Any]] = []

    def _waits_for_io(self) -> bool:
        return not self.error and (self.asking or "").startswith("io:")

    def _waits_for_answer(self) -> bool:
        return not self.error and self.asking is not None and not self.asking.startswith("io:")

    def start(self) -> Any:
        return _Driver(self).start(fresh=True)

    def stop(self) -> None:
        # Finish the continuation now (its finally blocks run); the log stays until
        # release() confirms the removal, in case this transaction is rolled back.
        host = flow_host()
        if host is not None:
            live = host.live.get((host.cid, self.iid))
            if isinstance(live, _Live):
                live.kill()

    def wakeup(self) -> Any:
        # Rewound to, or restored while, waiting for io(): that io's result may never come
        # (it was delivered to a later step, or died with the old process). Run it again.
        if not self._waits_for_io():
            return None
        driver = _Driver(self)
        live = driver.live()
        if live is not None and live.cont is not None and live.at == self.at:
            return None  # the io it asked for is still on its way
        live = driver.rebuild(live)
        if live is None or live.io is None:
            return None
        return fx.Io(_io_thunk(live.io.fn, live.at), "_stube_io")

    def render(self) -> str:
        busy = bool(self.asking and self.asking.startswith("io:"))
        html: str = self.render_string(_VIEW, inline=has_slot(ASK_SLOT), busy=busy)
        return html

    @event
    def restart(self) -> Any:
        """*Start again* on the error banner: run the flow from the beginning, log cleared."""
        if not self.error:
            return None
        return _Driver(self).start(fresh=False)

    def _stube_resume(self, value: Any) -> Any:
        if not self._waits_for_answer():
            log.warning("flow %s (%s) got an answer it was not waiting for; ignored", type(self)._stube_type, self.iid)
            return None
        return _Driver(self).resume(value, failed=False)

    def _stube_failed(self, error: Any) -> Any:
        if not self._waits_for_answer():
            return None
        return _Driver(self).resume(error, failed=True)

    def _stube_io(self, outcome: tuple[str | None, bool, Any]) -> Any:
        at, ok, value = outcome
        if at != self.at or not self._waits_for_io():
            return None  # a stale result: the flow moved on (back, restart) while fn() ran
        return _Driver(self).resume(value, failed=not ok)


class _Driver:
    """One flow instance inside the fold running it: moves its continuation and keeps its state in step."""

    __slots__ = ("flow", "cls", "host", "key")

    def __init__(self, flow: FlowComponent) -> None:
        host = flow_host()
        if host is None:
            raise FlowError("flow components run inside the kernel (dispatch, boot or a Harness)")
        self.flow = flow
        self.cls = type(flow)
        self.host: FlowHost = host
        self.key: tuple[str, str | None] = (host.cid, flow.iid)

    def live(self) -> _Live | None:
        live = self.host.live.get(self.key)
        return live if isinstance(live, _Live) else None

    def _record_kind(self) -> str | None:
        iid = self.key[1]
        rec = self.host.record(iid) if iid else None
        kind: str | None = rec["kind"] if rec is not None else None
        return kind

    def _fresh(self, at: str, nodes: Nodes | None) -> _Live:
        live = _Live(self.cls, at, nodes)
        # Embedded in another instance (slot, eager, keyed), a flow asks in its own area; a frame calls.
        kind = self._record_kind()
        live.inline = kind is not None and kind != "frame"
        self.host.live[self.key] = live
        return live

    def start(self, *, fresh: bool) -> Any:
        flow, cls = self.flow, self.cls
        old = self.host.live.pop(self.key, None)
        nodes: Nodes | None = None
        if isinstance(old, _Live):
            old.kill()
            if not fresh:
                nodes = old.nodes  # restart keeps the tree: back() may still land on older steps
        root = new_token()
        if not cls._flow_durable:
            if nodes is None:
                nodes = {}
            nodes[root] = node(None, ())
        live = self._fresh(root, nodes)
        flow.at, flow.asking = root, None
        flow.__dict__.pop("error", None)
        if cls._flow_durable:
            flow.log = []
        try:
            req = live.begin(flow.args, flow.kwargs)
        except Exception as exc:
            return self.fail(live, exc)
        return self.suspend(live, req)

    def resume(self, value: Any, *, failed: bool) -> Any:
        """Deliver an answer (or, ``failed``, an error) to the flow and run it to its next request."""
        flow, cls = self.flow, self.cls
        live = self.live()
        if live is not None and live.cont is not None and not cls._flow_generator \
                and live.thread != threading.get_ident():
            raise FlowError(
                f"flow {cls._stube_type} ({flow.iid}) was started on another thread; greenlets "
                "cannot switch threads, so dispatch every event of a conversation on one thread "
                "(blocking work goes through io())")
        if live is None or live.cont is None or live.at != flow.at:
            live = self.rebuild(live)
            if live is None:
                return None
        asking = flow.asking or ""
        kind, what = (IO, asking[3:]) if asking.startswith("io:") else (ASK, asking)
        exc: BaseException | None = None
        if failed:
            message = failure(value)
            entry: list[Any] = [kind, what, None, message]
            exc = AskFailed(message, value)
            if isinstance(value, BaseException):
                exc.__cause__ = value
            value = None
        elif cls._flow_durable:
            try:
                entry = [kind, what, json_copy(value, f"the answer of {what}")]
            except StateError as bad:
                return self.fail(live, FlowError(f"durable flow {cls._stube_type} logs every answer as JSON: {bad}"))
        else:
            entry = [kind, what, private(value)]  # flow code may mutate what it got; the log must not change
        live.record(entry)
        try:
            req = live.send(value, exc)
        except Exception as error:
            return self.fail(live, error)
        return self.suspend(live, req)

    def rebuild(self, old: _Live | None) -> _Live | None:
        """Re-run the flow against its log up to ``at``; ``None`` when it could not be rebuilt."""
        flow, cls = self.flow, self.cls
        nodes = old.nodes if old is not None else None
        if old is not None:
            old.kill()
        if cls._flow_durable:
            source: list[list[Any]] | None = list(flow.log)
        else:
            source = chain(nodes, flow.at) if nodes is not None and flow.at else None
        if source is None:
            flow.error, flow.asking = _LOST, None
            log.warning("flow %s (%s) cannot be rebuilt: no live continuation and no log", cls._stube_type, flow.iid)
            return None
        live = self._fresh(flow.at or new_token(), nodes)
        live.replay, live.cursor = source, 0
        try:
            req = live.replay_to(live.begin(flow.args, flow.kwargs))
            if req[0] == DONE or asking_of(req) != flow.asking:
                kind, what = tag(req)
                expected = flow.asking or ""
                recorded = f"runs io({expected[3:]})" if expected.startswith("io:") else f"asks {expected}"
                raise live.diverge(f"at step {len(source) + 1} the flow now {describe(kind, what)}, "
                                   f"but it was waiting for an answer because it {recorded}")
        except FlowDiverged as exc:
            live.kill()
            log.error("stube component error cid=%s iid=%s phase=flow-replay: %s", self.key[0], flow.iid, exc)
            flow.error = f"{exc}. Its saved progress no longer fits the application and was discarded."
            flow.asking = None
            if cls._flow_durable:
                flow.log = []
            return None
        except Exception as exc:
            self.fail(live, exc)
            return None
        live.io = req[1] if req[0] == IO else None
        return live

    def suspend(self, live: _Live, req: Request) -> Any:
        """Turn the continuation's request into the effect the kernel folds."""
        flow = self.flow
        kind, payload = req
        live.io = payload if kind == IO else None
        live.seal()
        flow.at = live.at
        if live.log is not None and self.cls._flow_durable:
            flow.log = live.log
        if kind == DONE:
            live.cont = None
            flow.asking = None
            if self._record_kind() in ("eager", "keyed"):
                # A children() or keyed flow has no caller to answer: its result stays in its state,
                # where the parent can read it (the kernel refuses answers from such children).
                try:
                    flow.result = json_copy(payload)
                except StateError:
                    flow.result = repr(payload)
                return None
            return fx.Answer(payload)
        if kind == IO:
            flow.asking = "io:" + fn_name(payload.fn)
            return fx.Io(_io_thunk(payload.fn, live.at), "_stube_io")
        flow.asking = type(payload)._stube_type
        if live.inline:
            # Embedded flows ask inside their own area, as Seaside's call: from an embedded component does.
            return fx.CallInSlot(ASK_SLOT, payload, "_stube_resume")  # errors: _stube_on_error
        return fx.Call(payload, "_stube_resume")

    def fail(self, live: _Live, exc: BaseException) -> None:
        """An exception in flow code: an error banner for this instance; the rest stays as it was."""
        log.error("stube component error cid=%s iid=%s phase=flow flow=%s", self.key[0], self.flow.iid,
                  self.cls._stube_type, exc_info=exc)
        live.kill()
        self.flow.error = error_message(exc)
        self.flow.asking = None


def _io_thunk(fn: Callable[[], Any], at: str) -> Callable[[], tuple[str, bool, Any]]:
    """Wrap ``fn`` so its result (or exception) reaches the flow together with the position it was asked at."""

    def run() -> tuple[str, bool, Any]:
        try:
            return at, True, fn()
        except Exception as exc:
            return at, False, exc

    run.__name__ = getattr(fn, "__name__", "io")
    run.__qualname__ = fn_name(fn)
    return run


# -- the decorator ------------------------------------------------------------------


@overload
def flow(fn: Callable[..., Any], /) -> type[FlowComponent]: ...


@overload
def flow(*, name: str | None = None, durable: bool = False) -> Callable[[Callable[..., Any]], type[FlowComponent]]: ...


def flow(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         durable: bool = False) -> Any:
    """Turn a function (or generator function) into a flow component class.

    ::

        @stube.flow
        def guess(): ...

        @stube.flow(name="shop/checkout", durable=True)
        def checkout(cart_id: int): ...

    The type name is ``module.qualname`` unless ``name=`` is given. Arguments
    must be JSON (they are the flow's state). ``durable=True`` logs every
    answer in the state so the flow survives restarts (answers must be JSON).
    """

    def make(fn: Callable[..., Any]) -> type[FlowComponent]:
        if isinstance(fn, type) or not callable(fn):
            raise TypeError(f"@flow decorates a function, got {fn!r}")
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(f"@flow cannot run async def {fn.__qualname__}: write a plain function "
                            "and do blocking work with ask(io(fn))")
        try:
            sig: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            sig = None
        ns: dict[str, Any] = {
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,
            "__doc__": fn.__doc__,
            "__wrapped__": fn,
            "_flow_fn": staticmethod(fn),
            "_flow_durable": bool(durable),
            "_flow_generator": inspect.isgeneratorfunction(fn),
            "_flow_signature": sig,
        }
        if name is not None:
            if not isinstance(name, str) or not name:
                raise TypeError("@flow(name=...) needs a non-empty string")
            ns["name"] = name
        return type(fn.__name__, (FlowComponent,), ns)

    if fn is not None:
        return make(fn)
    return make
