"""What a mount serves: the component it makes, and the page a visit gets (resumed or new).

``GET <mount>`` resumes the session's conversation the address names (``?cv=``,
with ``&step=`` under ``backtrack``) when it can still render, and otherwise
mints one from the mount's root; :meth:`Mounts.embed` does the same for a
host's page that shows a widget.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from . import conversation as cv
from . import wire
from .component import Component, lookup
from .jsonstate import json_copy
from .pages import Embedded, Pages, shutting_down
from .responses import NO_STORE
from .runtime import Runtime
from .sessions import Sessions
from .steps import Steps

Root = Component | type[Component] | Callable[[Request], Any]


@dataclass(slots=True)
class MountPoint:
    """A component (class, instance, flow or ``factory(request)``) served at a literal path."""

    path: str
    root: Root
    title: str | None

    async def make(self, request: Request) -> Component:
        root = self.root
        if isinstance(root, Component):
            return root
        if isinstance(root, type) and issubclass(root, Component):
            return root()
        made = root(request)  # type: ignore[call-arg]  # the Callable arm of Root
        if inspect.isawaitable(made):
            made = await made
        if isinstance(made, type) and issubclass(made, Component):
            made = made()
        if not isinstance(made, Component):
            raise TypeError(f"mount factory for {self.path} returned {made!r}, not a component")
        return made


Mount = MountPoint  # the 0.1 name (it clashed with starlette.routing.Mount in hosts' imports)


class Mounts:
    """The app's mount points, and the conversation (and page) a visit to one gets."""

    __slots__ = ("pages", "points", "principal", "runtime", "sessions", "steps")

    def __init__(self, *, runtime: Runtime, sessions: Sessions, pages: Pages, steps: Steps,
                 principal: Callable[[Request], Any] | None) -> None:
        self.runtime = runtime
        self.sessions = sessions
        self.pages = pages
        self.steps = steps
        self.principal = principal
        self.points: dict[str, MountPoint] = {}

    def add(self, path: str, root: Root, title: str | None) -> MountPoint:
        """A new mount point at ``path``; the path must be literal, unused and outside ``/_stube``."""
        if not path.startswith("/"):
            raise ValueError(f"mount paths start with '/', got {path!r}")
        if path.startswith("/_stube"):
            raise ValueError("/_stube is reserved for stube's own routes")
        if path in self.points:
            raise ValueError(f"{path} is already mounted")
        if "{" in path:
            raise ValueError(f"mount paths are literal ({path!r}); read arguments from the query string "
                             "with a factory: mount(path, lambda request: Item(request.query_params['id']))")
        mount = self.points[path] = MountPoint(path, root, title)
        return mount

    async def page(self, request: Request, mount: MountPoint) -> Response:
        """``GET <mount>``: the whole page around the conversation, and a session cookie if it is new."""
        if self.runtime.shutting_down:
            raise shutting_down()
        sid, minted = self.sessions.ensure(request)
        base = request.scope.get("root_path", "")
        conv, body = await self.conversation_for(request, mount, sid, base)
        html = self.pages.at(base).conversation_page(conv, body, self.pages.title_for(mount.title, conv),
                                                     fresh="cv" not in request.query_params)
        response = HTMLResponse(html, headers=dict(NO_STORE))
        if minted:
            self.sessions.attach_cookie(response, sid, request)
        return response

    async def embed(self, request: Request, path: str, prefix: str) -> Embedded:
        """The conversation mounted at ``path`` for a host page, the app being reached at ``prefix``."""
        sid, minted = self.sessions.ensure(request)
        conv, body = await self.conversation_for(request, self.points[path], sid, prefix)
        shell = self.pages.at(prefix)

        def cookie(response: Response) -> None:
            # The host page lives outside the prefix: the cookie must come back with its requests too.
            self.sessions.attach_cookie(response, sid, request, path="/")

        return Embedded(shell.widget(conv, body, own_url=False), shell.head(), shell.scripts(),
                        conv["id"], cookie if minted else None)

    async def conversation_for(self, request: Request, mount: MountPoint, sid: str,
                               base: str) -> tuple[dict[str, Any], str]:
        """The conversation a visit shows and its body HTML: the one the address names, else a new one."""
        owner = self.sessions.owner(sid)
        step = request.query_params.get("step") if request.method == "GET" else None
        found = await self.resume(request.query_params.get("cv"), owner, mount, step=step)
        if found is not None:
            return found
        root = await mount.make(request)
        principal = None
        if self.principal is not None:
            principal = self.principal(request)
            if inspect.isawaitable(principal):
                principal = await principal
            principal = json_copy(principal, "principal")
        out = await self.runtime.mint(root, owner=owner, principal=principal, mount=mount.path, base=base)
        conv = out.conversation
        body = next((f.html for f in out.fragments if f.kind == "page"), "")
        scripts = "".join(wire.script_tag(f.html) for f in out.fragments if f.kind == "script")
        if conv.get("ended"):
            body = self.pages.ended(conv)
        return conv, body + scripts

    async def resume(self, cid: str | None, owner: str, mount: MountPoint,
                     step: str | None = None) -> tuple[dict[str, Any], str] | None:
        """A reload (``?cv=``) of this session's conversation on this mount, when it can still render.

        With ``&step=`` (``backtrack``) the conversation first moves to that step
        (:meth:`~stube.steps.Steps.page`).
        """
        if not cid or not cv.valid_cid(cid):
            return None
        conv = await self.runtime.lookup(cid)
        if conv is None or conv.get("owner") != owner or conv.get("mount") != mount.path:
            return None
        try:
            for rec in conv["instances"].values():
                lookup(rec["type"])  # a deploy renamed a class: start afresh rather than fail
        except LookupError:
            return None
        return await self.steps.page(cid, conv, step)
