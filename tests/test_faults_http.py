"""Store faults over HTTP, with real components: uvicorn, a real folder, a real disk filling up, redis-server.

What every test here proves: an event answered 200 is there after the app
process is killed (SIGKILL: no final save) and started again; an event that was
not saved was answered 503 with ``Retry-After``; ``/_stube/health`` says 503
while the store (or stash) is unwritable and 200 once it is back.

The read-only folder and the full disk are real when ``mount`` works (a small
tmpfs, bind-mounted onto itself so it can be flipped read-only while the store
holds files open). Where it does not, the app is started with
``$FAULTS_INJECT``: the atomic-write layer then raises the same ``OSError``
(``EROFS``/``ENOSPC``) while a marker file exists.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.cluster import redis_process  # noqa: F401  (the fixture)
from tests.uvicorn_proc import HX, Uvicorn, page_parts

pytestmark = pytest.mark.slow


class Disk:
    """A small folder that can be made read-only or full, for real (tmpfs) or by injection."""

    def __init__(self, root: Path, size: str = "1m") -> None:
        self.root = root
        root.mkdir(parents=True)
        self.marker = root.parent / f"{root.name}.inject"
        self.real = not os.environ.get("FAULTS_NO_MOUNT") and _run(
            "mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(root))
        if self.real and not _run("mount", "--bind", str(root), str(root)):
            self.close()
            self.real = False
        self.env = {} if self.real else {"FAULTS_INJECT": str(self.marker)}

    def read_only(self, on: bool) -> None:
        if self.real:
            assert _run("mount", "-o", f"remount,bind,{'ro' if on else 'rw'}", str(self.root))
        else:
            self._inject(errno.EROFS if on else None)

    def full(self, on: bool) -> None:
        filler = self.root / "filler"
        if not self.real:
            self._inject(errno.ENOSPC if on else None)
        elif on:
            with contextlib.suppress(OSError), filler.open("wb") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        else:
            filler.unlink()

    def _inject(self, code: int | None) -> None:
        if code is None:
            self.marker.unlink(missing_ok=True)
        else:
            self.marker.write_text(str(code))

    def close(self) -> None:
        if self.real:
            _run("umount", "-l", str(self.root))
            _run("umount", "-l", str(self.root))


def _run(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    d = Disk(tmp_path / "disk")
    print(f"\nfaults on {'a real tmpfs' if d.real else 'injected OSError'}")
    try:
        yield d
    finally:
        d.close()


def count(html: str) -> int:
    found = re.search(r'<span class="n">(\d+)</span>', html)
    assert found, html[:400]
    return int(found.group(1))


class Clicks:
    """One browser session clicking ``+`` on one counter, keeping score of what was acknowledged."""

    def __init__(self, client: httpx2.Client) -> None:
        self.client = client
        self.page = page_parts(client.get("/counter").text)
        self.statuses: Counter[int] = Counter()

    def click(self) -> httpx2.Response:
        r = self.client.post(self.page["post"], headers=HX)
        self.statuses[r.status_code] += 1
        if r.status_code == 200:
            assert count(r.text) == self.statuses[200]  # the value the user saw is the acknowledged count
        else:
            assert r.status_code == 503 and r.headers["retry-after"], (r.status_code, r.text)
        return r

    def stored(self) -> int:
        r = self.client.get(f"/counter?cv={self.page['cid']}")
        assert f'data-stube-cid="{self.page["cid"]}"' in r.text
        return count(r.text)


def health(url: str) -> int:
    return httpx2.get(url + "/_stube/health", timeout=10).status_code


def restart(server: Uvicorn, log: Path) -> Uvicorn:
    """SIGKILL (no final save: only what each event saved survives) and a new process on the same port."""
    server.kill()
    return Uvicorn(server.app, log, env=server.env, port=server.port).start()


def fault_round(tmp_path: Path, env: dict[str, str], on: Any, off: Any, *, tries: int = 1,
                must_refuse: bool = True) -> Counter[int]:
    """Click 3 times, break the store, click ``tries`` times, mend it, click once, restart, compare."""
    server = Uvicorn("tests.faults_app:plain", tmp_path / "a.log", env=env).start()
    try:
        with httpx2.Client(base_url=server.url, timeout=30) as client:
            clicks = Clicks(client)
            for _ in range(3):
                assert clicks.click().status_code == 200
            assert health(server.url) == 200
            on()
            during = Counter(clicks.click().status_code for _ in range(tries))
            if must_refuse:
                assert during == Counter({503: tries})
                assert health(server.url) == 503
            off()
            assert health(server.url) == 200
            assert clicks.click().status_code == 200
            server = restart(server, tmp_path / "b.log")
            assert clicks.stored() == clicks.statuses[200]  # every 200 survived, nothing else did
            print(f"outcomes {dict(clicks.statuses)} (while broken: {dict(during)})")
            return clicks.statuses
    finally:
        server.kill()


def test_a_file_store_on_a_read_only_folder_answers_503_and_loses_no_acknowledged_event(
        tmp_path: Path, disk: Disk) -> None:
    env = {"FAULTS_STORE": f"file:{disk.root / 'conversations'}", **disk.env}
    fault_round(tmp_path, env, lambda: disk.read_only(True), lambda: disk.read_only(False), tries=3)


def test_a_file_store_on_a_full_disk_answers_503_and_loses_no_acknowledged_event(
        tmp_path: Path, disk: Disk) -> None:
    env = {"FAULTS_STORE": f"file:{disk.root / 'conversations'}", **disk.env}
    fault_round(tmp_path, env, lambda: disk.full(True), lambda: disk.full(False), tries=3)


def test_a_sqlite_store_on_a_full_disk_acknowledges_only_what_it_saved(tmp_path: Path, disk: Disk) -> None:
    """SQLite reuses its WAL's pages, so some saves may still land on a full disk: they are real."""
    env = {"FAULTS_STORE": f"sqlite:{disk.root / 'stube.db'}", **disk.env}
    fault_round(tmp_path, env, lambda: disk.full(True), lambda: disk.full(False), tries=20,
                must_refuse=not disk.real)


def test_a_stash_write_that_fails_is_answered_503_and_changes_nothing(tmp_path: Path, disk: Disk) -> None:
    env = {"FAULTS_STORE": f"sqlite:{tmp_path / 'stube.db'}", "FAULTS_STASH": f"file:{disk.root / 'stash'}",
           **disk.env}
    server = Uvicorn("tests.faults_app:plain", tmp_path / "a.log", env=env).start()
    try:
        with httpx2.Client(base_url=server.url, timeout=30) as client:
            page = page_parts(client.get("/prefs").text)
            visit = page["post"].rsplit("/", 1)[0] + "/visit"
            assert client.post(visit, headers=HX).status_code == 200  # saved: the conversation is stored
            disk.read_only(True)
            r = client.post(page["post"], headers=HX)
            assert r.status_code == 503 and r.headers["retry-after"]
            health_body = httpx2.get(server.url + "/_stube/health").json()
            assert health_body["stash"] == "error"
            disk.read_only(False)
            server = restart(server, tmp_path / "b.log")
            # Neither half landed: the conversation and a new page both still show the default.
            resumed = client.get(f"/prefs?cv={page['cid']}").text
            assert '<span class="sort">name</span>' in resumed and '<b class="visits">1</b>' in resumed
            assert '<span class="sort">name</span>' in client.get("/prefs").text
            r = client.post(page["post"], headers=HX)
            assert r.status_code == 200 and '<span class="sort">mass</span>' in r.text
            server = restart(server, tmp_path / "c.log")
            assert '<span class="sort">mass</span>' in client.get(f"/prefs?cv={page['cid']}").text
            assert '<span class="sort">mass</span>' in client.get("/prefs").text  # a new tab remembers
    finally:
        server.kill()


@pytest.mark.redis
def test_redis_paused_answers_503_and_loses_no_acknowledged_event(tmp_path: Path, redis_process: Any) -> None:
    url = f"redis://127.0.0.1:{redis_process.port}/0?socket_timeout=1&socket_connect_timeout=1"
    env = {"FAULTS_STORE": f"redis:{url}"}
    fault_round(tmp_path, env, redis_process.pause, redis_process.resume, tries=2)


@pytest.mark.redis
def test_redis_restarted_empty_acknowledges_only_what_it_holds(tmp_path: Path, redis_process: Any) -> None:
    """A Redis that forgot everything (no AOF) cannot give back what it lost; stube must not pretend.

    Either the process writes its live copy back (then every click, before and
    after, is there after an app restart) or it refuses the events (410/503);
    never a 200 for a change the store does not hold.
    """
    url = f"redis://127.0.0.1:{redis_process.port}/0?socket_timeout=1&socket_connect_timeout=1"
    server = Uvicorn("tests.faults_app:plain", tmp_path / "a.log", env={"FAULTS_STORE": f"redis:{url}"}).start()
    try:
        with httpx2.Client(base_url=server.url, timeout=30) as client:
            clicks = Clicks(client)
            for _ in range(3):
                assert clicks.click().status_code == 200
            redis_process.restart(empty=True)
            after = [client.post(clicks.page["post"], headers=HX) for _ in range(3)]
            statuses = [r.status_code for r in after]
            print(f"\nafter Redis came back empty: {statuses}")
            assert health(server.url) == 200
            acknowledged = [count(r.text) for r in after if r.status_code == 200]
            server = restart(server, tmp_path / "b.log")
            stored = client.get(f"/counter?cv={clicks.page['cid']}").text
            if acknowledged:  # the live copy was written back: nothing acknowledged before or after is lost
                assert acknowledged == list(range(4, 4 + len(acknowledged)))
                assert f'data-stube-cid="{clicks.page["cid"]}"' in stored and count(stored) == acknowledged[-1]
            else:
                assert all(s in (410, 503) for s in statuses), statuses
    finally:
        server.kill()
