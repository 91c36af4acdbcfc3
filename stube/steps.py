"""Backtracking (``Stube(backtrack=True)``): the browser's Back and Forward move a conversation to a step.

Every step has a history entry, ``<mount>?cv=<cid>&step=<n>``. With JavaScript
stube.js posts ``/_stube/step/<cid>?step=<n>`` when the browser goes to one
(:meth:`Steps.endpoint`); without it the browser reloads that address and the
page handler asks :meth:`Steps.page`. A step the conversation no longer has
(past ``history_limit``) shows the current state under a notice either way.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import conversation as cv
from . import fragments as fr
from . import kernel, paint
from .errors import NotSaved
from .fragments import Fragment
from .pages import Pages, not_saved
from .responses import PartialsResponse, Refused
from .runtime import Runtime

#: The app's checks before a state change (origin, 410, 403): the checked conversation.
Guard = Callable[[Request, str], Awaitable[dict[str, Any]]]
#: The app's answer to a fold: partials for htmx, a 303 without.
Respond = Callable[[Request, str, kernel.Outcome | None], Response]


def label(step: str | None) -> int | None:
    """A ``step=`` query value as a step label (``None`` when it is not one)."""
    if step is None or not step.isdigit() or len(step) > 18:
        return None
    return int(step)


class Steps:
    """Moving a conversation to a step: the step endpoint and the ``&step=`` of a reload."""

    __slots__ = ("enabled", "guard", "pages", "respond", "runtime")

    def __init__(self, runtime: Runtime, pages: Pages, *, guard: Guard, respond: Respond, enabled: bool) -> None:
        self.runtime = runtime
        self.pages = pages
        self.guard = guard
        self.respond = respond
        self.enabled = enabled

    async def travel(self, cid: str, conv: dict[str, Any], step: str | None,
                     page: str | None = None) -> kernel.Outcome | None:
        """Move ``cid`` to the step labelled ``step`` (its other pages follow); ``None``: it has no such step."""
        target = label(step)
        if target is None or not cv.reachable(conv, target):
            return None
        if target == cv.step_of(conv):
            return kernel.Outcome(conv, since=conv.get("version", 0))  # already there
        out = await self.runtime.apply(cid, functools.partial(kernel.travel, step=target), page=page)
        return out if out is not None and cv.step_of(out.conversation) == target else None

    async def page(self, cid: str, conv: dict[str, Any], step: str | None) -> tuple[dict[str, Any], str] | None:
        """A reload's conversation and HTML, moved first to ``step`` when the address names one.

        As the browser's Back does with JavaScript; a step it no longer has renders
        the current state under a notice.
        """
        gone = step is not None and self.enabled and await self.travel(cid, conv, step) is None
        found = await self.runtime.page(cid)
        if found is not None and gone:
            return found[0], self.pages.step_gone(found[0]) + found[1]
        return found

    async def endpoint(self, request: Request) -> Response:
        """The page's Back/Forward went to a history entry naming step ``?step=``: move the conversation there."""
        if not self.enabled:
            raise Refused(404, "Not Found")
        cid = request.path_params["cid"]
        conv = await self.guard(request, cid)
        if label(request.query_params.get("step")) is None:
            raise Refused(400, "step must be a step number")
        try:
            out = await self.travel(cid, conv, request.query_params.get("step"),
                                    page=request.headers.get("x-stube-page"))
        except NotSaved:
            raise not_saved(request) from None
        if out is not None:
            return self.respond(request, cid, out)
        found = await self.runtime.page(cid)
        if found is None:
            raise self.pages.gone(request, cid)
        now, html = found
        frags = [Fragment(fr.PAGE, target=cid, html=self.pages.step_gone(now) + html), paint.step_fragment(now)]
        return PartialsResponse(frags, cid=cid, conv=now, since=now.get("version", 0))
