"""StopSignals: SIGTERM/SIGINT reach stube first and then whatever handler the server installed."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from stube.stopping import StopSignals


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_signal_runs_on_stop_on_the_loop_then_the_servers_handler(handlers: None) -> None:
    seen: list[str] = []

    def server(signum: int, frame: FrameType | None) -> None:
        seen.append(f"server {signum}")

    signal.signal(signal.SIGTERM, server)
    signal.signal(signal.SIGINT, server)

    async def main() -> None:
        stops = StopSignals(lambda: seen.append("stube"))
        assert stops.install()
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.01)
        stops.restore()
        assert signal.getsignal(signal.SIGTERM) == server and signal.getsignal(signal.SIGINT) == server
        signal.raise_signal(signal.SIGTERM)  # restored: only the server hears it now
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert seen == [f"server {signal.SIGTERM}", "stube", f"server {signal.SIGTERM}"]


def test_nothing_is_installed_over_the_default_action_or_outside_the_main_thread(handlers: None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def main() -> bool:
        return StopSignals(lambda: None).install()

    assert asyncio.run(main()) is False
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(main())))
    thread.start()
    thread.join()
    assert results == [False]


def test_a_handler_chained_on_top_is_not_clobbered_by_restore(handlers: None) -> None:
    seen: list[str] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("server"))

    async def main() -> None:
        stops = StopSignals(lambda: seen.append("stube"))
        stops.install()
        ours = signal.getsignal(signal.SIGTERM)
        assert callable(ours)
        signal.signal(signal.SIGTERM, lambda signum, frame: (seen.append("host"), ours(signum, frame)))
        stops.restore()  # ours is no longer on top: it stays in the chain, forwarding only
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.01)
        stops.install()  # a second lifespan: listening again, without chaining the host onto itself
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert seen == ["host", "server", "host", "server", "stube"]


def test_once_the_server_is_stopping_a_new_stream_is_refused_with_retry_after() -> None:
    """The page retries (htmx backs off) and lands on another process or the restarted one."""
    import re

    from starlette.testclient import TestClient

    import stube
    from tests.faults_app import Count

    app = stube.Stube(secret_key="stopping-tests")
    app.mount("/counter", Count)
    with TestClient(app) as client:
        html = client.get("/counter").text
        sse = re.search(r'hx-sse:connect="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
        app.runtime.release_streams()
        r = client.get(sse)
        assert r.status_code == 503 and r.headers["retry-after"]
        post = re.search(r'hx-post="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        assert client.post(post, headers={"HX-Request": "true"}).status_code == 200  # events still served
