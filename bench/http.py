"""Event throughput of a stube counter against the anchors in ``../shared/anchors``.

The method of ``../shared/anchors/README.md``, so a figure means something on a
noisy 2-core machine:

- one uvicorn worker per app, pinned to CPU 0 (``taskset -c 0``), no access log;
- ``wrk -t1 -c16`` pinned to CPU 1, posting the increment with a valid cookie,
  spread over 32 browser sessions (32 conversations for stube);
- a 2 s warm-up each, then alternating rounds (anchor, FastHTML, stube, signed
  baseline, anchor, ...);
- the median of the per-round ratios is what is reported, never an absolute alone.

Apps: the hand-written Starlette + Jinja2 counter (the anchor), the FastHTML
counter (skipped with a note if ``python-fasthtml`` is not installed), stube's
counter, and ``bench/http_apps.py``'s baseline that also signs its cookie and
parses a form per request (the 0.1 baseline, kept as an extra column).

    .venv/bin/python -m bench.http [--seconds 5] [--rounds 3]

Targets (issue 13): stube >= 0.6x the anchor (aim 0.75x), >= 3x FastHTML, p99
no worse than the anchor's x 1.5.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
#: ``../shared/anchors`` beside the repository; ``STUBE_ANCHORS`` points elsewhere.
ANCHORS = Path(os.environ.get("STUBE_ANCHORS", ROOT.parent / "shared" / "anchors"))
SESSIONS = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pinned(cpu: int) -> list[str]:
    """``taskset -c N`` when the machine has that CPU (and taskset), else nothing."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu)]
    return []


class Uvicorn:
    """``uvicorn <app>`` (one worker, pinned to CPU 0) on a free 127.0.0.1 port."""

    def __init__(self, app: str, *, app_dir: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        extra = ["--app-dir", str(app_dir)] if app_dir else []
        self.proc = subprocess.Popen(
            [*pinned(0), sys.executable, "-m", "uvicorn", app, *extra, "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{app} did not start") from exc
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user + system), from ``/proc``; NaN where there is none."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@dataclass
class App:
    label: str
    module: str
    app_dir: Path | None
    stube: bool


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


def sessions(server: Uvicorn, app: App) -> str:
    """Open the page from 32 fresh browsers; return wrk's ``path|cookie;...`` list."""
    targets = []
    for _ in range(SESSIONS):
        with httpx2.Client(base_url=server.url) as c:
            r = c.get("/")
            r.raise_for_status()
            cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
            if app.stube:
                path = re.search(r'hx-post="([^"]+/inc)"', r.text).group(1)  # type: ignore[union-attr]
            else:
                path = "/inc"
            check = c.post(path, headers={"HX-Request": "true"})
            if check.status_code != 200:
                raise RuntimeError(f"{app.label}: the first event answered {check.status_code}")
            targets.append(f"{path}|{cookie}")
    return ";".join(targets)


def wrk(url: str, targets: str, seconds: int, connections: int, server: Uvicorn | None = None) -> dict[str, float]:
    """One wrk run: req/s, p50 and p99 (ms) and, given the ``server``, its CPU µs per request."""
    cpu = server.cpu_seconds() if server is not None else float("nan")
    out = subprocess.run(
        [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", str(ROOT / "bench/rotate.lua"), url],
        env={**os.environ, "BENCH_TARGETS": targets}, capture_output=True, text=True, check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors.group(1)} error responses\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    used = (server.cpu_seconds() - cpu) if server is not None else float("nan")
    return {"rps": rps, "p50": p50, "p99": p99, "cpu_us": used / max(done, 1) * 1e6}


def fasthtml_installed() -> bool:
    try:
        import fasthtml  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: ./run bench installs Debian's wrk")
    if not (ANCHORS / "app_starlette_jinja.py").exists():
        sys.exit(f"the anchors are missing: expected {ANCHORS} (../shared beside the repository)")

    apps = [App("Starlette + Jinja2 by hand", "app_starlette_jinja:app", ANCHORS, False)]
    if fasthtml_installed():
        apps.append(App("FastHTML", "app_fasthtml:app", ANCHORS, False))
    else:
        print("FastHTML: python-fasthtml is not installed (pip install -e '.[bench]'); column skipped")
    apps.append(App("stube", "bench.http_apps:stube_app", None, True))
    apps.append(App("signed baseline (0.1)", "bench.http_apps:baseline_app", None, False))

    servers = {a.label: Uvicorn(a.module, app_dir=a.app_dir) for a in apps}
    try:
        targets = {a.label: sessions(servers[a.label], a) for a in apps}
        for a in apps:
            wrk(servers[a.label].url, targets[a.label], 2, args.connections)  # warm-up
        rounds: list[dict[str, dict[str, float]]] = []
        for _ in range(args.rounds):
            rounds.append({a.label: wrk(servers[a.label].url, targets[a.label], args.seconds, args.connections,
                                        servers[a.label]) for a in apps})
    finally:
        for s in servers.values():
            s.stop()

    anchor = apps[0].label
    print(f"{'app (median of ' + str(args.rounds) + ' rounds)':32}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'x anchor':>10}{'p99 x anchor':>14}{'CPU µs/req':>12}{'x anchor':>10}")
    for a in apps:
        rps = statistics.median(r[a.label]["rps"] for r in rounds)
        p50 = statistics.median(r[a.label]["p50"] for r in rounds)
        p99 = statistics.median(r[a.label]["p99"] for r in rounds)
        cpu = statistics.median(r[a.label]["cpu_us"] for r in rounds)
        ratio = statistics.median(r[a.label]["rps"] / r[anchor]["rps"] for r in rounds)
        p99_ratio = statistics.median(r[a.label]["p99"] / r[anchor]["p99"] for r in rounds)
        cpu_ratio = statistics.median(r[anchor]["cpu_us"] / r[a.label]["cpu_us"] for r in rounds)
        print(f"{a.label:32}{rps:10.0f}{p50:9.2f}{p99:9.2f}{ratio:9.2f}x{p99_ratio:13.2f}x{cpu:12.1f}{cpu_ratio:9.2f}x")
    print("(CPU µs/req: the server process's CPU time per answered request, from /proc; 'x anchor' there is the\n"
          " anchor's CPU per request over this app's, a throughput ratio that neighbours on the machine disturb less)")
    ours = statistics.median(r["stube"]["rps"] / r[anchor]["rps"] for r in rounds)
    print(f"target: stube >= 0.60x the hand-written app (aim 0.75x): {ours:.2f}x "
          f"{'met' if ours >= 0.6 else 'NOT met'}")
    if fasthtml_installed():
        vs = statistics.median(r["stube"]["rps"] / r["FastHTML"]["rps"] for r in rounds)
        print(f"target: stube >= 3x FastHTML: {vs:.2f}x {'met' if vs >= 3 else 'NOT met'}")
    p99 = statistics.median(r["stube"]["p99"] / r[anchor]["p99"] for r in rounds)
    print(f"target: stube p99 <= 1.5x the hand-written app's: {p99:.2f}x {'met' if p99 <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
