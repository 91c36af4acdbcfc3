"""SIGTERM with pages open: stube ends its streams, uvicorn exits, the pages catch up on the restarted server.

uvicorn runs with no graceful timeout: it waits for open responses for ever, so
it can only exit because stube ended them. No test here measures a time against
a limit; the exit times are printed (``-s``).
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx2
import pytest

from tests.uvicorn_proc import HX, RawStream, Uvicorn, cookie_header, page_parts

pytestmark = pytest.mark.slow

CLEAN_END = b"0\r\n\r\n"  # the last chunk: the response ended, it was not cut off
PAGES = 100


def complete(response: bytes) -> bool:
    """The whole response arrived: its last chunk, or all of its ``Content-Length``."""
    head, _, body = response.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    return len(body) == int(length.group(1)) if length else response.endswith(CLEAN_END)


def bad_lines(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if re.search(r"ERROR|Cancel|CancelledError|Traceback|Exception in ASGI", line)]


def open_pages(base: str, port: int, prefix: str, n: int) -> list[RawStream]:
    """``n`` pages of ``prefix``/counter from 4 browser sessions, each with its stream open."""
    streams = []
    clients = [httpx2.Client(base_url=base, timeout=10) for _ in range(4)]
    try:
        for i in range(n):
            client = clients[i % len(clients)]
            page = page_parts(client.get(f"{prefix}/counter").text)
            streams.append(RawStream(port, page["sse"], cookie_header(client)))
        for s in streams:
            s.read_until(b"\r\n\r\n")  # the headers: the stream is open
            assert s.data.startswith(b"HTTP/1.1 200")
    finally:
        for c in clients:
            c.close()
    return streams


@pytest.mark.parametrize(("host", "workers"), [("plain", 1), ("fastapi_host", 1), ("plain", 2)])
def test_sigterm_with_100_streams_open_ends_them_and_exits_cleanly(tmp_path: Path, host: str, workers: int) -> None:
    """Under FastAPI too, and with ``--workers 2`` (uvicorn's supervisor passes SIGTERM on to each worker)."""
    prefix = "/w" if host == "fastapi_host" else ""
    server = Uvicorn(f"tests.faults_app:{host}", tmp_path / "uvicorn.log",
                     env={"FAULTS_STORE": f"sqlite:{tmp_path / 'stube.db'}"},
                     args=("--workers", str(workers)) if workers > 1 else ())
    with server:
        streams = open_pages(server.url, server.port, prefix, PAGES)
        seconds, by_itself = server.stop(signal.SIGTERM)
        print(f"\nshutdown ({host}, {workers} worker(s)) with {PAGES} open streams: exited after {seconds:.2f} s")
        assert by_itself, f"uvicorn did not exit by itself:\n{server.text()}"
        ends = [s.read_to_end() for s in streams]
        for s in streams:
            s.close()
    assert all(complete(e) for e in ends), "a stream was cut off instead of ended"
    held = sum(e.endswith(CLEAN_END) for e in ends)  # streams that were open (not answered "gone")
    print(f"{held} of {PAGES} were open streams")
    if workers == 1:
        assert held == PAGES
    log = server.text()
    assert not bad_lines(log), log
    assert "Application shutdown complete" in log  # the lifespan shutdown ran (final saves)


def test_a_page_open_during_a_restart_sees_the_folds_made_after_it(tmp_path: Path) -> None:
    env = {"FAULTS_STORE": f"sqlite:{tmp_path / 'stube.db'}"}
    server = Uvicorn("tests.faults_app:plain", tmp_path / "uvicorn.log", env=env)
    with server, httpx2.Client(base_url=server.url, timeout=10) as client:
        page = page_parts(client.get("/counter").text)
        assert client.post(page["post"], headers=HX).status_code == 200  # n = 1, acknowledged
        stream = RawStream(server.port, page["sse"], cookie_header(client))
        stream.read_until(b"\r\n\r\n")
        seconds, by_itself = server.stop(signal.SIGTERM)
        assert by_itself and complete(stream.read_to_end())
        print(f"\nrestart: the old process exited {seconds:.2f} s after SIGTERM")

        server = Uvicorn("tests.faults_app:plain", tmp_path / "uvicorn2.log", env=env, port=server.port)
        with server:
            # Another tab clicks while this page is disconnected: n = 2 on the new process.
            r = client.post(page["post"], headers={**HX, "X-Stube-Page": "another-tab"})
            assert r.status_code == 200 and '<span class="n">2</span>' in r.text
            # The page reconnects as htmx does: the same URL (it applied no pushed message).
            again = RawStream(server.port, page["sse"], cookie_header(client))
            snap = again.read_until(b'<span class="n">2</span>')
            assert re.search(rb"id: s-\d+", snap), "the reconnected page got no snapshot"
            # And a fold made after it reconnected arrives as a push on the chain.
            version = int(r.headers["X-Stube"].split(" ")[2])
            client.post(page["post"], headers={**HX, "X-Stube-Page": "another-tab"})
            pushed = again.read_until(b'<span class="n">3</span>')
            assert f"id: {version}-{version + 1}".encode() in pushed
            again.close()
        stream.close()
