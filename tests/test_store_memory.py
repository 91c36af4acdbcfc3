"""InMemoryStore and the ConversationStore protocol."""

from __future__ import annotations

import pytest

from stube.store import ConversationStore, FileStore, InMemoryStore
from tests.store_support import counter_conversation

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_in_memory_store_keeps_nothing() -> None:
    store = InMemoryStore()
    conv = counter_conversation()
    await store.save(conv)
    await store.save(conv)
    assert await store.load_all() == {}
    assert vars(store) == {}  # no copies, no references: the runtime's live map is the only one
    await store.delete(conv["id"])
    await store.delete(conv["id"])  # idempotent
    await store.delete("not even an id")  # nothing to refuse: it touches nothing


def test_stores_satisfy_the_protocol(tmp_path) -> None:
    assert isinstance(InMemoryStore(), ConversationStore)
    assert isinstance(FileStore(tmp_path), ConversationStore)
    assert not isinstance(object(), ConversationStore)


def test_redis_store_satisfies_the_protocol() -> None:
    from stube.redis_store import RedisStore

    assert isinstance(RedisStore("redis://127.0.0.1:1/0"), ConversationStore)  # connects lazily
