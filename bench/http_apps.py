"""The two applications bench/http.py compares: a stube counter and the same counter by hand.

Both render the same page and the same fragment, keep the count per browser
session behind a signed cookie, and answer the increment with one htmx
partial. Run either with ``uvicorn bench.http_apps:stube_app`` (or ``baseline_app``).
"""

from __future__ import annotations

import os
import secrets

import jinja2
from itsdangerous import BadSignature, Signer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

import stube
from stube import Component, event

SECRET = "bench-secret"

COUNTER = """<div {attrs}><form><button {inc}>+</button> <span class="count">{n}</span></form></div>"""


class Counter(Component):
    name = "bench/counter"
    template_string = (
        '<div {{ root() }}><form><button {{ on("inc") }}>+</button> '
        '<span class="count">{{ self.n }}</span></form></div>'
    )

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


def _store() -> object:
    """``STUBE_BENCH_STORE``: ``memory`` (default), ``file:<folder>`` or a ``redis://`` URL."""
    spec = os.environ.get("STUBE_BENCH_STORE", "memory")
    if spec.startswith("file:"):
        return stube.FileStore(spec[5:])
    if spec.startswith("redis://"):
        return stube.RedisStore(spec)
    return stube.InMemoryStore()


stube_app = stube.Stube(secret_key=SECRET, conversation_ttl=None, store=_store())
stube_app.mount("/", Counter)


# -- the same thing by hand ------------------------------------------------------

_env = jinja2.Environment(autoescape=True)
_fragment = _env.from_string(
    '<div id="counter" class="counter"><form><button hx-post="/inc" formaction="/inc" formmethod="post">+</button> '
    '<span class="count">{{ n }}</span></form></div>'
)
_page = _env.from_string(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>counter</title></head><body>'
    '<main>{{ fragment }}</main><script src="/static/htmx.min.js"></script></body></html>'
)
_signer = Signer(SECRET, salt="baseline.session")
_sessions: dict[str, dict[str, int]] = {}


def _session(request: Request) -> tuple[str, bool]:
    raw = request.cookies.get("sid")
    if raw:
        try:
            sid = _signer.unsign(raw).decode()
            if sid in _sessions:
                return sid, False
        except BadSignature:
            pass
    sid = secrets.token_urlsafe(24)
    _sessions[sid] = {"n": 0}
    return sid, True


async def page(request: Request) -> Response:
    sid, minted = _session(request)
    html = _page.render(fragment=jinja2.filters.Markup(_fragment.render(n=_sessions[sid]["n"])))
    response = HTMLResponse(html, headers={"Cache-Control": "no-store"})
    if minted:
        response.set_cookie("sid", _signer.sign(sid.encode()).decode(), httponly=True, samesite="lax")
    return response


async def inc(request: Request) -> Response:
    sid, minted = _session(request)
    if minted:
        return Response(status_code=403)
    await request.form()
    state = _sessions[sid]
    state["n"] += 1
    body = f'<hx-partial hx-target="#counter" hx-swap="outerMorph">{_fragment.render(n=state["n"])}</hx-partial>'
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


baseline_app = Starlette(routes=[Route("/", page), Route("/inc", inc, methods=["POST"])])
