"""HTTP throughput of a stube counter next to a hand-written Starlette + Jinja2 counter.

Both run under uvicorn (one worker) on 127.0.0.1 and are driven by wrk
(Debian's package) with the same connections and duration, posting the
increment with the session cookie. Prints requests/s, p50/p99 latency and the
ratio, then the resident memory of 10,000 live counter conversations.

    .venv/bin/python bench/http.py [--seconds 8] [--connections 16]

Targets: stube >= 0.6x the baseline's throughput (aim: 0.75x); under 3 KB per
idle counter conversation.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``http`` package; keep its own
# folder off the import path so ``http.client`` still resolves to the stdlib.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import os
import re
import shutil
import socket
import subprocess
import time

import httpx2

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Uvicorn:
    """``uvicorn <app>`` (one worker) on a free 127.0.0.1 port."""

    def __init__(self, app: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{app} did not start")
                time.sleep(0.05)

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


def wrk(url: str, cookie: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(ROOT / "bench/post.lua"), url],
        env={**os.environ, "BENCH_COOKIE": cookie}, capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    return {"rps": rps, "p50": p50, "p99": p99}


def prepare(server: Uvicorn, stube_target: bool) -> tuple[str, str]:
    """Open the page once; return (event URL, Cookie header)."""
    with httpx2.Client(base_url=server.url) as c:
        r = c.get("/")
        r.raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        if stube_target:
            path = re.search(r'hx-post="([^"]+/inc)"', r.text).group(1)  # type: ignore[union-attr]
        else:
            path = "/inc"
        assert c.post(path, headers={"HX-Request": "true"}).status_code == 200
        return server.url + path, cookie


def measure(app: str, stube_target: bool, seconds: int, connections: int) -> dict[str, float]:
    server = Uvicorn(app)
    try:
        url, cookie = prepare(server, stube_target)
        wrk(url, cookie, 2, connections)  # warm-up
        return wrk(url, cookie, seconds, connections)
    finally:
        server.stop()


def memory(count: int) -> float:
    """Bytes of resident memory per live counter conversation, minted over HTTP."""
    server = Uvicorn("bench.http_apps:stube_app")
    try:
        with httpx2.Client(base_url=server.url) as c:
            for _ in range(200):
                c.get("/")
            before = server.rss()
            for _ in range(count):
                c.get("/")
            time.sleep(0.5)
            after = server.rss()
        return (after - before) / count
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--conversations", type=int, default=10_000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: ./run bench installs Debian's wrk")

    base = measure("bench.http_apps:baseline_app", False, args.seconds, args.connections)
    ours = measure("bench.http_apps:stube_app", True, args.seconds, args.connections)
    print(f"{'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'Starlette + Jinja2 by hand':28}{base['rps']:10.0f}{base['p50']:10.2f}{base['p99']:10.2f}")
    print(f"{'stube':28}{ours['rps']:10.0f}{ours['p50']:10.2f}{ours['p99']:10.2f}")
    ratio = ours["rps"] / base["rps"]
    print(f"throughput ratio stube/baseline: {ratio:.2f}x (target >= 0.60x, aim 0.75x)")
    per = memory(args.conversations)
    print(f"memory: {per:.0f} B per live counter conversation over {args.conversations} (target < 3072 B)")


if __name__ == "__main__":
    main()
