"""The multi-process rig itself: nginx spreads requests over every process, lets SSE through
unbuffered, routes around a killed process, and the RedisBus links the processes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.cluster import Cluster

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
