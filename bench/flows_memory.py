"""Memory of suspended greenlet flows: KiB per conversation, traced and RSS.

Run: ``.venv/bin/python bench/flows_memory.py`` (a few seconds; ``--n`` to change the count).

Each workload runs in a fresh process: 10,000 conversations are booted in one
``Env`` and driven 3 steps into a 20-step wizard, so each holds a suspended
continuation with some history. The figure is the growth of the heap
(tracemalloc) and of the resident set (``/proc/self/statm``) divided by the
count. The task component (the same steps written as ``start``/``on_step``)
is the conversation's own cost; the difference is what the flow adds.
Target (issue 13): 10,000 suspended greenlet flows at <= 12 KiB each.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # bench/http.py shadows http
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stube import Component, answer, call, event, kernel  # noqa: E402
from stube.flows import ask, flow, release  # noqa: E402

STEPS = 20
TARGET_KIB = 12.0


class Step(Component):
    template_string = '<form {{ root() }}><p>Step {{ self.n }}</p><button {{ on("ok") }}>OK</button></form>'

    def __init__(self, n: int) -> None:
        self.n = n

    @event
    def ok(self) -> Any:
        return answer(self.n)


class TaskWizard(Component):
    def __init__(self) -> None:
        self.total = 0
        self.i = 0

    def start(self) -> Any:
        return call(Step(0), resume="on_step")

    def on_step(self, value: int) -> Any:
        self.total += value
        self.i += 1
        return answer(self.total) if self.i > STEPS else call(Step(self.i), resume="on_step")


@flow
def greenlet_wizard() -> int:
    total = 0
    for i in range(STEPS + 1):
        total += ask(Step(i))
    return total


WORKLOADS: dict[str, Callable[[], Component]] = {"task component": TaskWizard, "greenlet flow": greenlet_wizard}


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def measure(make: Callable[[], Component], n: int, steps: int = 3) -> tuple[float, float]:
    """Bytes per suspended conversation: (tracemalloc, RSS)."""
    env = kernel.Env()
    for _ in range(20):  # warm templates and caches outside the measurement
        kernel.boot(make(), env)
    release(env, None)
    gc.collect()
    rss0 = rss_kib()
    tracemalloc.start()
    convs = []
    for _ in range(n):
        conv = kernel.boot(make(), env).conversation
        for _ in range(steps):
            conv = kernel.run(conv, kernel.Event(conv["stack"][-1], "ok"), env).conversation
        convs.append(conv)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss = (rss_kib() - rss0) * 1024
    assert len(env.live) == (n if make is greenlet_wizard else 0)
    return traced / n, rss / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--child", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(*measure(WORKLOADS[opts.child], opts.n))
        return
    print(f"{opts.n:,} conversations suspended 3 steps into a {STEPS}-step wizard (a fresh process each)")
    figures = {}
    for name in WORKLOADS:
        out = subprocess.run([sys.executable, __file__, "--child", name, "--n", str(opts.n)],
                             check=True, capture_output=True, text=True).stdout.split()
        figures[name] = traced, rss = float(out[0]) / 1024, float(out[1]) / 1024
        print(f"{name:<15} {traced:6.1f} KiB traced  {rss:6.1f} KiB RSS  per conversation")
    (t_task, r_task), (t_flow, r_flow) = figures["task component"], figures["greenlet flow"]
    print(f"the flow adds   {t_flow - t_task:6.1f} KiB traced  {r_flow - r_task:6.1f} KiB RSS")
    print(f"target: greenlet flow <= {TARGET_KIB:.0f} KiB RSS -> {r_flow:.1f} KiB "
          f"{'OK' if r_flow <= TARGET_KIB else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
