"""Session rotation at sign-in: a new session id, and the old session's pages and stash follow it.

A session id that existed before sign-in may have been planted by someone else
(session fixation): whoever knows it would share the signed-in session. So the
host's sign-in endpoint calls :func:`rotate_session`; the browser gets a new
id, every conversation and the stash of the old one move to it, and the old
cookie is worth nothing from then on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .http import Stube
from .stash.move import move as move_stash

__all__ = ["rotate_session"]

log = logging.getLogger("stube")


async def rotate_session(request: Request, response: Response, *, app: Stube | None = None,
                         path: str | None = None) -> None:
    """Give the browser of ``request`` a new stube session id, set on ``response``.

    Call it from the host's sign-in endpoint (and sign-out, if the pages should
    not follow the user out)::

        @host.post("/login")
        async def login(request: Request) -> Response:
            ...  # check the credentials
            response = RedirectResponse("/app/", status_code=303)
            await stube.rotate_session(request, response)
            return response

    Every conversation of the old session (live in this process or in the store)
    now belongs to the new one, so open pages keep working in this browser; the
    old session's stash views are merged into the new session's and deleted; the
    old cookie gets 403 on those conversations and is refused by this process from
    now on (a page view with it starts a new session). Without a session yet, a new
    one is simply minted.

    ``app`` is the :class:`Stube` application; by default the one mounted in the
    host that serves ``request`` (pass it when the host mounts several, or mounts
    it somewhere stube cannot see). The cookie is read from ``request``, so the
    sign-in endpoint must receive it: stube pages set it for their prefix (put the
    endpoint under it, e.g. ``/app/login`` routed before the ``/app`` mount), widgets
    from :meth:`Stube.embed` for ``/``. The new cookie is set for ``path``: by
    default the prefix when the request is under it, else ``/``.

    Returns nothing: the session id is a bearer secret and lives only in the signed
    cookie. Rotation scans the conversation store once (``load_all``) to find
    conversations this process does not hold.
    """
    stube_app, prefix = (app, _prefix_of(request, app)) if app is not None else _find(request)
    await stube_app.startup()
    sessions = stube_app.sessions
    old = sessions.read(request)
    new = sessions.mint()
    if old is not None:
        old_owner, new_owner = sessions.owner(old), sessions.owner(new)
        await stube_app.runtime.rekey(old_owner, new_owner)  # a failed save is logged; that page stays behind
        sessions.revoke(old)
        try:
            # The runtime keys the stash by owner (the conversations' name for the session).
            await move_stash(stube_app.stash, old_owner, new_owner)
        except Exception:
            log.exception("rotating a session: the stash could not be moved; the new session starts without it")
    if path is None:
        under = request.url.path == prefix or request.url.path.startswith(prefix.rstrip("/") + "/")
        path = (prefix or "/") if under else "/"
    sessions.set_cookie(response, new, secure=request.url.scheme == "https", path=path)


def _find(request: Request) -> tuple[Stube, str]:
    """The one :class:`Stube` mounted in the host serving ``request``, and its prefix."""
    found = list(_mounted(request.scope.get("app"), str(request.scope.get("root_path", "")), 0))
    apps = {id(a): (a, p) for a, p in found}
    if len(apps) != 1:
        what = "no stube.Stube is mounted" if not apps else "several stube.Stube apps are mounted"
        raise LookupError(f"rotate_session: {what} in the app serving this request; pass app=")
    return next(iter(apps.values()))


def _prefix_of(request: Request, app: Stube) -> str:
    for found, prefix in _mounted(request.scope.get("app"), str(request.scope.get("root_path", "")), 0):
        if found is app:
            return prefix
    return str(request.scope.get("root_path", ""))


def _mounted(host: Any, prefix: str, depth: int) -> Iterator[tuple[Stube, str]]:
    """``(app, prefix)`` for every Stube in ``host``'s routes (through nested mounts and middleware)."""
    if depth > 8:
        return
    for route in getattr(getattr(host, "router", host), "routes", None) or []:
        inner, hops = getattr(route, "app", None), 0
        here = prefix + str(getattr(route, "path", ""))
        while inner is not None and hops < 8:
            if isinstance(inner, Stube):
                yield inner, here
                break
            if getattr(inner, "routes", None) is not None or getattr(inner, "router", None) is not None:
                yield from _mounted(inner, here, depth + 1)
                break
            inner, hops = getattr(inner, "app", None), hops + 1
