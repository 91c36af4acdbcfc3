"""Ambient context: what handlers, hooks, templates and flows may read.

``stube.app()``, ``stube.principal()`` and ``stube.conversation_id()`` read a
context variable the kernel sets around every dispatch and render. Outside
one they return ``None``. Greenlet flows carry their own ``contextvars``
context, so the same readers work inside ``ask()``-based code.

Every context variable of the package is here (this module imports nothing
from stube); ``docs/internals.md`` has the table of who binds and who reads each.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Ambient:
    app: Any = None
    principal: Any = None
    cid: str | None = None


#: What the readers below return (bound by ``ambient`` and by the kernel's entry points).
AMBIENT: ContextVar[Ambient] = ContextVar("stube_ambient", default=Ambient())  # noqa: B039 (frozen)
_ambient = AMBIENT


def app() -> Any:
    """Host dependencies given to ``Stube(app=...)`` (never persisted)."""
    return _ambient.get().app


def principal() -> Any:
    """Who the conversation belongs to, computed once at mint by ``principal=fn(request)``."""
    return _ambient.get().principal


def conversation_id() -> str | None:
    """The id of the conversation being dispatched or rendered."""
    return _ambient.get().cid


class ambient:
    """Bind the readers above for the duration of a ``with`` block.

    A class rather than ``@contextmanager``: it wraps every dispatch and render,
    and the generator machinery costs a microsecond each time.
    """

    __slots__ = ("value", "token")

    def __init__(self, app: Any = None, principal: Any = None, cid: str | None = None) -> None:
        self.value = Ambient(app, principal, cid)
        self.token: Token[Ambient] | None = None

    def __enter__(self) -> Ambient:
        self.token = _ambient.set(self.value)
        return self.value

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _ambient.reset(self.token)
            self.token = None


class FlowHost(Protocol):
    """What a flow component needs from the fold running it, and nothing more.

    The kernel's transaction implements it; flows read it through ``flow_host()``
    so that ``stube.flows`` never imports the kernel.
    """

    @property
    def cid(self) -> str: ...

    @property
    def live(self) -> dict[Any, Any]: ...

    def record(self, iid: str) -> dict[str, Any] | None: ...


#: The fold whose user code is running (bound around every handler and hook).
FLOW_HOST: ContextVar[FlowHost | None] = ContextVar("stube_flow_host", default=None)
_flow_host = FLOW_HOST


def flow_host() -> FlowHost | None:
    """The fold running a handler or hook right now (``None`` outside one)."""
    return _flow_host.get()


def host_flows(host: FlowHost | None) -> Token[FlowHost | None]:
    """Bind ``host`` for user code; reset with ``unhost_flows(token)``."""
    return _flow_host.set(host)


def unhost_flows(token: Token[FlowHost | None]) -> None:
    _flow_host.reset(token)


# -- the render frame ------------------------------------------------------------


class RenderFrame:
    """The instance being rendered: what the template helpers and ``render_string`` read.

    ``scope`` is the renderer of the whole pass (``render.RenderState``); it
    carries what helpers need and renders ``render_string`` sources, so that
    ``stube.component`` never imports ``stube.render``.
    """

    __slots__ = ("obj", "iid", "scope")

    def __init__(self, obj: Any, iid: str, scope: Any) -> None:
        self.obj = obj
        self.iid = iid
        self.scope = scope


#: The instance rendering right now (bound by ``render.render_instance`` around each render).
render_frame: ContextVar[RenderFrame | None] = ContextVar("stube_render", default=None)


def rendering(helper: str) -> RenderFrame:
    """The current render frame; ``helper`` names the caller in the error raised outside one."""
    frame = render_frame.get()
    if frame is None:
        raise RuntimeError(f"{helper}() is a template helper: call it while a component renders")
    return frame


# -- the runtime -------------------------------------------------------------------


class Publisher(Protocol):
    """What ``stube.publish`` needs of the scheduler a fold runs under."""

    @property
    def running(self) -> bool: ...

    def publish(self, topic: str, message: Any) -> int: ...


#: The scheduler of the fold in progress: ``stube.publish`` inside a handler targets its own app
#: (bound by ``Runtime.apply`` and ``Runtime.mint`` around the kernel call).
SCHEDULER: ContextVar[Publisher | None] = ContextVar("stube_scheduler", default=None)


#: The generator flow whose code is running (``stube.flows.live``: bound while a generator flow's code
#: runs, read by ``remember`` and the flows' error hints).
GEN_FLOW: ContextVar[Any] = ContextVar("stube_gen_flow", default=None)
