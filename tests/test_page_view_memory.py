"""A page-view flood pins nothing per view past the caps (issue 10, item 2).

Every crawler view is a new session: its stash read must not leave an actor
behind for ``idle`` seconds, and the live conversations stay at the cap.
"""

from __future__ import annotations

import asyncio

from starlette.testclient import TestClient

import stube
from stube import Component, event
from stube.stash import InMemoryStashStore, Stash

V = "test/page-view-memory"


class Remembers(Component):
    name = V
    stash = ("sort",)
    template_string = '<div {{ root() }}>{{ self.sort }}<button {{ on("flip") }}>flip</button></div>'

    def __init__(self) -> None:
        self.sort = "name"

    @event
    def flip(self) -> None:
        self.sort = "date"


def test_reading_a_session_with_nothing_stored_keeps_no_actor() -> None:
    asyncio.run(_reads())


async def _reads() -> None:
    st = Stash(InMemoryStashStore(), idle=300)
    for n in range(50):
        assert await st.session(f"crawler-{n}").views() == {}
    assert st._actors == {}
    await st.session("user").merge(V, {"sort": "date"})  # a session with state keeps its actor (a cache)
    assert list(st._actors) == [st.key_for("user")]
    assert await st.session("user").get_view(V) == {"sort": "date"}


def test_a_crawler_flood_holds_the_cap_and_no_stash_actor_per_view() -> None:
    app = stube.Stube(secret_key="flood", max_conversations=50)
    app.mount("/", Remembers)
    with TestClient(app) as client:
        for _ in range(400):
            client.cookies.clear()
            assert client.get("/").status_code == 200
        assert len(app.runtime.conversations) == 50
        assert app.stash._actors == {}
