"""Memory of suspended greenlet flows: KiB per conversation, traced and RSS.

Run: ``.venv/bin/python bench/flows_memory.py`` (about 30 s; ``--n`` to change the count).

Each figure comes from a fresh process: 10,000 conversations are booted in one
``Env`` and driven 3 steps into a 20-step wizard, so each holds a suspended
continuation with some history. The figure is the growth of the heap
(tracemalloc) or of the resident set (``/proc/self/statm``, after
``malloc_trim``) divided by the count. They are measured apart: tracemalloc's
own traces cost about as much RSS as the conversations they trace. The task
component (the same steps written as ``start``/``on_step``) is the
conversation's own cost; the difference is what the flow adds. RSS minus traced
is memory Python's allocators do not trace: for a greenlet, mostly the 4 KiB
page of the Python data stack chunk each greenlet gets (CPython 3.11+).
Target (issue 13): 10,000 suspended greenlet flows at <= 12 KiB each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # bench/http.py shadows http
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.flows import (  # noqa: E402  (the same wizards)
    STEPS,
    TaskWizard,
    generator_wizard,
    greenlet_wizard,
    measure_apart,
    memory,
)
from stube import Component, kernel  # noqa: E402
from stube.flows import release  # noqa: E402

TARGET_KIB = 12.0

#: The generator flow is the same flow without a greenlet: the gap to it is what the greenlet costs.
WORKLOADS: dict[str, Callable[[], Component]] = {"task component": TaskWizard, "greenlet flow": greenlet_wizard,
                                                 "generator flow": generator_wizard}


def measure(make: Callable[[], Component], n: int, traced: bool) -> float:
    """Bytes per conversation suspended 3 steps in (tracemalloc or RSS), after warming the caches."""
    env = kernel.Env()
    for _ in range(20):  # templates, the on() cache, handler caches: outside the measurement
        kernel.boot(make(), env)
    release(env, None)
    return memory(make, n, 3, traced=traced)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--child", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--method", choices=("traced", "rss"), default="rss", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(measure(WORKLOADS[opts.child], opts.n, opts.method == "traced"))
        return
    print(f"{opts.n:,} conversations suspended 3 steps into a {STEPS}-step wizard (a fresh process per figure)")
    figures = {}
    for name in WORKLOADS:
        traced, rss = (b / 1024 for b in measure_apart(__file__, ["--child", name, "--n", str(opts.n)]))
        figures[name] = traced, rss
        print(f"{name:<17} {traced:6.1f} KiB traced  {rss:6.1f} KiB RSS  per conversation")
    (t_task, r_task), (t_flow, r_flow) = figures["task component"], figures["greenlet flow"]
    t_gen, r_gen = figures["generator flow"]
    print(f"the flow adds     {t_flow - t_task:6.1f} KiB traced  {r_flow - r_task:6.1f} KiB RSS  "
          "(greenlet flow minus task component)")
    print(f"the greenlet adds {t_flow - t_gen:6.1f} KiB traced  {r_flow - r_gen:6.1f} KiB RSS  "
          "(greenlet flow minus generator flow: its data-stack page and C stack copy)")
    print(f"target: greenlet flow <= {TARGET_KIB:.0f} KiB RSS -> {r_flow:.1f} KiB "
          f"{'OK' if r_flow <= TARGET_KIB else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
