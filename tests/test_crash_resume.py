"""Crash-resume, for real: the demo gallery under uvicorn, killed with SIGKILL between events.

A new process on the same store continues the same conversation, and no
event the server acknowledged is lost. Once with FileStore, once with RedisStore.
"""

from __future__ import annotations

import re

import httpx2
import pytest

from tests.servers import Server

pytestmark = pytest.mark.slow

HX = {"HX-Request": "true"}


def count(html: str) -> int:
    return int(re.search(r'class="stube-counter__value"[^>]*>(-?\d+)<', html).group(1))  # type: ignore[union-attr]


def crash_and_resume(env: dict[str, str]) -> None:
    server = Server("demos.app:app", env=env).start()
    try:
        with httpx2.Client(base_url=server.url) as c:
            page = c.get("/counter").text
            cid = re.search(r'data-stube-cid="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            inc = re.search(r'hx-post="([^"]+/inc)"', page).group(1)  # type: ignore[union-attr]
            for expected in (1, 2, 3):
                r = c.post(inc, headers=HX)
                assert r.status_code == 200 and count(r.text) == expected  # acknowledged
            server.kill()  # no shutdown, no final save: only what each event saved survives

            server = Server("demos.app:app", env=env, port=server.port).start()
            resumed = c.get(f"/counter?cv={cid}")
            assert resumed.status_code == 200
            assert f'data-stube-cid="{cid}"' in resumed.text and count(resumed.text) == 3
            r = c.post(inc, headers=HX)  # the old page's next event lands on the restored conversation
            assert r.status_code == 200 and count(r.text) == 4
            server.kill()

            server = Server("demos.app:app", env=env, port=server.port).start()
            assert count(c.get(f"/counter?cv={cid}").text) == 4
            # Another session still cannot drive it after the restart.
            with httpx2.Client(base_url=server.url) as stranger:
                stranger.get("/counter")
                assert stranger.post(inc, headers=HX).status_code == 403
    finally:
        server.stop()


def test_crash_resume_with_file_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    crash_and_resume({"STUBE_DEMO_VAR": str(tmp_path)})
    files = sorted(p.name for p in (tmp_path / "conversations").iterdir())
    assert len(files) == 1 and files[0].endswith(".json")


@pytest.mark.redis
def test_crash_resume_with_redis_store(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    crash_and_resume({"STUBE_DEMO_REDIS": redis_url})
