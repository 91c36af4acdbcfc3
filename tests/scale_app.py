"""The scale-out test app: one stube application as every process of a cluster runs it.

``RedisStore`` + ``RedisStashStore`` + ``RedisBus`` on ``$STUBE_REDIS_URL`` (the rig's
redis-server), the same secret in every process, and a small host around it:

- ``/``       a counter (``inc``);
- ``/chat``   a chat card: ``send`` publishes, every card shows every message;
- ``/board``  shows the last message ``POST /say?text=...`` published (host code);
- ``/flow``   a live (non-durable) greenlet flow: two steps, bound to its process;
- ``GET /pid``  which process answered.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import stube
from stube import Component, answer, event, subscribe
from stube.effects import Answer, Subscribe
from stube.flows import ask, flow
from stube.stash.redis import RedisStashStore

URL = os.environ.get("STUBE_REDIS_URL", "redis://127.0.0.1:6379/0")
NODE = os.environ.get("STUBE_CLUSTER_NODE", "?")


class Counter(Component):
    name = "scale/counter"
    template_string = ('<div {{ root() }}><span class="n">{{ self.n }}</span>'
                       '<button class="inc" {{ on("inc") }}>+1</button></div>')

    def __init__(self) -> None:
        self.n = 0

    @event
    def inc(self) -> None:
        self.n += 1


class Chat(Component):
    """Each card subscribes (again in ``wakeup``: subscriptions live in the process running it)."""

    name = "scale/chat"
    fields = ("text",)
    template_string = (
        '<div {{ root() }}><ul class="log">{% for m in self.messages %}<li>{{ m["text"] }}</li>{% endfor %}</ul>'
        '<form {{ on("send") }}><input name="text" class="text" value=""><button class="send">send</button>'
        '</form></div>')

    def __init__(self) -> None:
        self.text = ""
        self.messages: list[dict[str, str]] = []

    def start(self) -> Subscribe:
        return subscribe("scale.chat", "heard")

    def wakeup(self) -> Subscribe:
        return subscribe("scale.chat", "heard")

    @event
    def send(self) -> None:
        text = (self.text or "").strip()
        self.text = ""
        if text:
            stube.publish("scale.chat", {"id": uuid.uuid4().hex, "text": text})

    def heard(self, msg: dict[str, str]) -> None:
        if not any(m["id"] == msg["id"] for m in self.messages):
            self.messages = self.messages + [{"id": msg["id"], "text": msg["text"]}]


class Board(Component):
    name = "scale/board"
    template_string = '<div {{ root() }}><p class="said">{{ self.said }}</p><p class="heard">{{ self.heard }}</p></div>'

    def __init__(self) -> None:
        self.said = ""
        self.heard = 0

    def start(self) -> Subscribe:
        return subscribe("scale.board", "on_say")

    def wakeup(self) -> Subscribe:
        return subscribe("scale.board", "on_say")

    def on_say(self, text: str) -> None:
        self.said = text
        self.heard += 1


class Step(Component):
    name = "scale/step"
    template_string = ('<div {{ root() }}><p class="step">{{ self.label }}</p>'
                       '<button class="ok" {{ on("ok") }}>ok</button></div>')

    def __init__(self, label: str = "") -> None:
        self.label = label

    @event
    def ok(self) -> Answer:
        return answer(None)


@flow
def steps() -> None:
    """A live greenlet flow: its continuation exists only in the process that started it."""
    ask(Step("first step"))
    ask(Step("second step"))
    ask(Step("last step"))


# bench/scaleout.py compares against the in-process bus: STUBE_SCALE_BUS=local.
BUS = stube.LocalBus() if os.environ.get("STUBE_SCALE_BUS") == "local" else stube.RedisBus(URL)
app = stube.Stube(secret_key="scale-tests", store=stube.RedisStore(URL), stash=RedisStashStore(URL), bus=BUS)
app.mount("/", Counter)
app.mount("/chat", Chat)
app.mount("/board", Board)
app.mount("/flow", steps)


async def pid(request: Request) -> Response:
    return JSONResponse({"pid": os.getpid(), "node": NODE})


async def say(request: Request) -> Response:
    targeted = app.publish("scale.board", request.query_params.get("text", ""))
    return JSONResponse({"pid": os.getpid(), "node": NODE, "here": targeted})


@asynccontextmanager
async def lifespan(host: Starlette) -> AsyncIterator[None]:
    async with app.lifespan():
        yield


host = Starlette(routes=[Route("/pid", pid), Route("/say", say, methods=["POST"]), Mount("/", app=app)],
                 lifespan=lifespan)
