"""Shared fixtures. Browser fixtures live in tests/browser/conftest.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.redis_server import redis_server  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the
    main thread for the rest of the session, and ``asyncio.run`` refuses to start under it."""
    items.sort(key=lambda item: "/tests/browser/" in str(item.fspath).replace("\\", "/"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server on 127.0.0.1 for the whole session (flush between tests yourself)."""
    with redis_server() as url:
        yield url
