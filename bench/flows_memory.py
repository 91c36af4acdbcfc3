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
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # bench/http.py shadows http
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.flows import STEPS, TaskWizard, greenlet_wizard, memory  # noqa: E402  (the same wizards)
from stube import Component, kernel  # noqa: E402
from stube.flows import release  # noqa: E402

TARGET_KIB = 12.0

WORKLOADS: dict[str, Callable[[], Component]] = {"task component": TaskWizard, "greenlet flow": greenlet_wizard}


def measure(make: Callable[[], Component], n: int) -> tuple[float, float]:
    """Bytes per conversation suspended 3 steps in: (tracemalloc, RSS), after warming the caches."""
    env = kernel.Env()
    for _ in range(20):  # templates, the on() cache, handler caches: outside the measurement
        kernel.boot(make(), env)
    release(env, None)
    return memory(make, n, 3)


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
