"""The multi-process rig itself: nginx spreads requests over every process, lets SSE through
unbuffered, routes around a killed process, and the RedisBus links the processes."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.cluster import Cluster, make_cluster  # noqa: F401

redis = pytest.importorskip("redis")

pytestmark = [pytest.mark.slow, pytest.mark.redis]

N = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    signals = tmp_path_factory.mktemp("signals")
    with Cluster("tests.cluster_app:app", N, env={"GREETING": "hello", "CLUSTER_APP_DIR": str(signals)},
                 folder=tmp_path_factory.mktemp("cluster")) as c:
        c.signals = signals  # type: ignore[attr-defined]
        yield c


def events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[len("data: "):])


def test_requests_through_nginx_reach_every_process_in_turn(cluster: Cluster) -> None:
    with httpx2.Client(base_url=cluster.url, timeout=10) as client:
        answers = [client.get("/pid").json() for _ in range(4 * N)]
    assert {a["greeting"] for a in answers} == {"hello"}
    # No stickiness: one client with one connection is spread evenly over all N processes.
    assert Counter(a["pid"] for a in answers) == dict.fromkeys(cluster.pids, 4)
    assert {a["node"] for a in answers} == {str(i) for i in range(N)}
    # Round-robin: each window of N consecutive requests met every process once.
    for start in range(0, len(answers), N):
        assert len({a["pid"] for a in answers[start:start + N]}) == N


def test_an_sse_event_passes_nginx_before_the_response_ends(cluster: Cluster) -> None:
    signal: Path = cluster.signals / "go"  # type: ignore[attr-defined]
    with httpx2.Client(base_url=cluster.url, timeout=10) as client:
        with client.stream("GET", "/sse", params={"wait": "go"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = events(response.iter_lines())
            first = next(stream)
            # The server holds the rest of the response until the signal exists; a buffering
            # proxy would have sat on this event until the 30 s fallback ended the response.
            assert first["first"] is True
            signal.touch()
            assert next(stream) == {"released": True}


def test_the_bus_carries_a_message_from_one_process_to_a_stream_on_another(cluster: Cluster) -> None:
    with httpx2.Client(base_url=cluster.url, timeout=10) as client:
        with client.stream("GET", "/listen") as response:
            stream = events(response.iter_lines())
            holder = next(stream)
            assert holder["ready"] is True
            sent = []
            for i in range(N):  # round-robin: at least one of N posts lands on another process
                said = client.post("/say", params={"text": f"hi {i}"}).json()
                sent.append(said["pid"])
            received = [next(stream) for _ in range(N)]
    assert [m["text"] for m in received] == [f"hi {i}" for i in range(N)]
    assert [m["from_pid"] for m in received] == sent
    assert {m["pid"] for m in received} == {holder["pid"]}
    assert any(pid != holder["pid"] for pid in sent)
    assert [m["own"] for m in received] == [pid == holder["pid"] for pid in sent]


def test_after_kill9_requests_go_to_the_others_and_a_restart_rejoins(cluster: Cluster) -> None:
    killed = cluster.pids[1]
    cluster.kill9(1)
    with httpx2.Client(base_url=cluster.url, timeout=10) as client:
        after = [client.get("/pid") for _ in range(3 * N)]
        assert [r.status_code for r in after] == [200] * (3 * N)
        assert {r.json()["pid"] for r in after} == set(cluster.pids) - {killed}
        cluster.restart(1)
        assert cluster.pids[1] != killed
        # nginx retries a failed upstream after fail_timeout (10 s by default); the restarted
        # process answers directly at once, and the others keep answering through nginx.
        assert httpx2.get(cluster.urls[1] + "/pid", timeout=10).json()["node"] == "1"
        assert all(client.get("/pid").status_code == 200 for _ in range(N))


def test_everything_stops_when_the_test_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the test failed"):
        with Cluster("tests.cluster_app:app", 2, env={"CLUSTER_APP_DIR": str(tmp_path)},
                     folder=tmp_path / "c") as c:
            assert c.redis is not None
            procs = [c.redis.proc, c.nginx.proc, *(s.proc for s in c.servers)]
            ports = [c.redis.port, c.nginx.port, *(s.port for s in c.servers)]
            raise RuntimeError("the test failed")
    assert all(p is not None and p.poll() is not None for p in procs)
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_persistent_redis_keeps_acknowledged_writes_across_a_restart_and_a_crash(make_cluster: Any,
                                                                                   tmp_path: Path) -> None:
    c = make_cluster("tests.cluster_app:app", 1, persistent_redis=True, env={"CLUSTER_APP_DIR": str(tmp_path)})
    assert httpx2.get(c.url + "/pid", timeout=10).json()["pid"] == c.pids[0]
    client = redis.Redis.from_url(c.redis.url)
    try:
        client.set("acknowledged", "1")
        c.redis.restart()
        assert client.get("acknowledged") == b"1"
        c.redis.kill9()  # appendfsync always: a crash keeps it too
        c.redis.start()
        assert client.get("acknowledged") == b"1"
        c.redis.restart(empty=True)
        assert client.get("acknowledged") is None
    finally:
        client.close()
