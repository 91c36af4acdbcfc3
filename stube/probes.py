"""The endpoints that look at the app rather than change it: ``/_stube/health`` and the inspector.

Neither touches a conversation's state, so neither takes its lock or folds;
both answer ``no-store``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from . import conversation as cv
from .inspector import inspect as inspect_instance
from .render import Templates
from .responses import NO_STORE, Refused
from .runtime import Runtime
from .sessions import Sessions


class Probes:
    """Health for load balancers, and the debug inspector's panel for the owner's session."""

    __slots__ = ("debug", "runtime", "sessions", "stash", "store", "templates")

    def __init__(self, *, runtime: Runtime, sessions: Sessions, templates: Templates, store: Any, stash: Any,
                 debug: bool) -> None:
        self.runtime = runtime
        self.sessions = sessions
        self.templates = templates
        self.store = store
        self.stash = stash
        self.debug = debug

    async def health(self, request: Request) -> Response:
        """200 while the store and the stash answer their ``check()`` (none counts as fine), else 503.

        An event needs both to be saved, so either failing takes the process out of rotation;
        the body names the one that failed (``"stash"`` appears only then).
        """
        body: dict[str, str] = {"store": "ok"}
        for name, backend in (("store", self.store), ("stash", getattr(self.stash, "store", None))):
            check = getattr(backend, "check", None)
            try:
                if check is not None:
                    await check()
            except Exception as exc:
                body.update({name: "error", "detail": str(exc) or type(exc).__name__})
                return JSONResponse(body, status_code=503, headers=dict(NO_STORE))
        return JSONResponse(body, headers=dict(NO_STORE))

    async def inspect(self, request: Request) -> Response:
        """The inspector's panel for one instance: debug only (404 otherwise), the owner's session only."""
        if not self.debug:
            raise Refused(404, "Not Found")
        cid, iid = request.path_params["cid"], request.path_params["iid"]
        conv = await self.runtime.conversation(cid) if cv.valid_cid(cid) else None
        if conv is None:
            raise Refused(404, "no such conversation")
        if not self.sessions.owns(request, conv):
            raise Refused(403, "stube conversation belongs to a different session.")
        found = inspect_instance(conv, iid)
        if found is None:
            raise Refused(404, "no such instance")
        html = self.templates.get("stube/inspector.html").render(i=found)
        return HTMLResponse(html, headers=dict(NO_STORE))
