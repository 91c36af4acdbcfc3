"""Flows: µs per ask/answer round trip, against the same steps as a task component.

Run: ``.venv/bin/python bench/flows.py`` (about 30 s; ``--quick`` for a fast look).

One round trip is one ``Harness.dispatch`` that answers the current child and
lands on the next ask: the child answers, the kernel pops it, the flow (or the
task's ``on_step``) resumes, a new child is pushed and the page is rendered.
Every workload runs the same 20-step wizard per conversation (fresh
conversations, so a durable flow's log stays wizard-sized); workloads are
interleaved in short samples; the 10th percentile and the median are reported
(thread CPU time, so other processes on a busy machine disturb it less).

Then memory: 10,000 conversations each suspended in a greenlet flow against
10,000 suspended at the same step of a task component (tracemalloc and RSS,
each in its own process: tracemalloc's own bookkeeping would inflate RSS).
Target: a greenlet flow step within 1.3x of the task-component step.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# bench/ itself must not shadow the standard library (bench/http.py vs http).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stube import (  # noqa: E402
    Component,
    answer,
    call,
    event,
    kernel,  # noqa: E402
)
from stube.flows import ask, flow, release  # noqa: E402
from stube.kernel import Env  # noqa: E402
from stube.testing import Harness  # noqa: E402

STEPS = 20


class Step(Component):
    template_string = '<form {{ root() }}><p>Step {{ self.n }}</p><button {{ on("ok") }}>OK</button></form>'

    def __init__(self, n: int) -> None:
        self.n = n

    @event
    def ok(self) -> Any:
        return answer(self.n)


class TaskWizard(Component):
    """The hand-written equivalent: start() calls, each resume threads state forward."""

    def __init__(self) -> None:
        self.total = 0
        self.i = 0

    def start(self) -> Any:
        return call(Step(0), resume="on_step")

    def on_step(self, value: int) -> Any:
        self.total += value
        self.i += 1
        if self.i > STEPS:
            return answer(self.total)
        return call(Step(self.i), resume="on_step")


@flow
def greenlet_wizard():
    total = 0
    for i in range(STEPS + 1):
        total += ask(Step(i))
    return total


@flow
def generator_wizard():
    total = 0
    for i in range(STEPS + 1):
        total += yield Step(i)
    return total


@flow(durable=True)
def durable_wizard():
    total = 0
    for i in range(STEPS + 1):
        total += ask(Step(i))
    return total


WORKLOADS: dict[str, Callable[[], Component]] = {
    "task component": TaskWizard,
    "greenlet flow": greenlet_wizard,
    "generator flow": generator_wizard,
    "durable flow": durable_wizard,
}


def one_round(make: Callable[[], Component], conversations: int) -> float:
    """µs per round trip over ``conversations`` fresh 20-step wizards (setup not timed)."""
    total = 0.0
    for _ in range(conversations):
        h = Harness(make())
        dispatch = h.dispatch
        t0 = time.thread_time()
        for _ in range(STEPS):
            dispatch("ok")
        total += time.thread_time() - t0
        assert not h.ended and len(h.frames) == 2
        release(h.env, None)  # abandoned greenlets would be finalised by GC inside a later timing
    return total / (conversations * STEPS) * 1e6


def rss_kib() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _trim() -> None:
    """Hand glibc's free heap pages back (``malloc_trim``), so RSS counts what is held, not what was."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS as it is
        pass


def memory(make: Callable[[], Component], n: int, steps: int, *, traced: bool) -> float:
    """Bytes per suspended conversation: heap growth (``traced``, tracemalloc) or RSS growth.

    Measured in separate runs: tracemalloc keeps a trace for every live block
    (about as many bytes again as the conversation itself), so an RSS reading
    taken while it runs counts tracemalloc, not the conversations. Both readings
    of an RSS run follow a ``malloc_trim``.
    """
    env = Env()
    gc.collect()
    if traced:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    else:
        _trim()
        before = rss_kib() * 1024
    convs = []
    for _ in range(n):
        out = kernel.boot(make(), env)
        conv = out.conversation
        for _ in range(steps):  # a few steps in, so the continuation has history
            out = kernel.run(conv, kernel.Event(conv["stack"][-1], "ok"), env)
            conv = out.conversation
        convs.append(conv)
    del out
    gc.collect()
    if traced:
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    else:
        _trim()
        grown = rss_kib() * 1024 - before
    del convs
    release(env, None)
    return grown / n


def measure_apart(script: str, args: list[str]) -> tuple[float, float]:
    """(traced, RSS) bytes per conversation, each from its own fresh process running ``script``."""
    out = [float(subprocess.run([sys.executable, script, *args, "--method", method], check=True,
                                capture_output=True, text=True).stdout)
           for method in ("traced", "rss")]
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory", choices=list(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--method", choices=("traced", "rss"), default="rss", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.memory:  # child process: one workload, one method, in a clean heap
        print(memory(WORKLOADS[opts.memory], opts.n, 3, traced=opts.method == "traced"))
        return
    # 5,000 for the memory table: bench/flows_memory.py measures the 10,000 the target names.
    conversations, rounds, mem_n = (2, 60, 2_000) if opts.quick else (2, 150, 5_000)

    for make in WORKLOADS.values():  # warm up templates and caches
        one_round(make, 3)
    # Short rounds, interleaved, best kept: robust against a busy machine.
    results: dict[str, list[float]] = {name: [] for name in WORKLOADS}
    for _ in range(rounds):
        gc.collect()
        for name, make in WORKLOADS.items():
            results[name].append(one_round(make, conversations))
    def p10(v: list[float]) -> float:
        return sorted(v)[len(v) // 10]

    fast = {name: p10(v) for name, v in results.items()}
    base = fast["task component"]
    base_median = statistics.median(results["task component"])
    print(f"ask/answer round trip (one dispatch), {STEPS}-step wizards, {rounds} interleaved samples "
          f"x {conversations * STEPS} dispatches (thread CPU time)")
    print(f"{'workload':<16} {'p10 µs':>8} {'median':>8} {'p10 vs task':>12} {'median vs task':>15}")
    for name in WORKLOADS:
        med = statistics.median(results[name])
        print(f"{name:<16} {fast[name]:8.1f} {med:8.1f} {fast[name] / base:11.2f}x {med / base_median:14.2f}x")
    ratio = fast["greenlet flow"] / base
    print(f"target: greenlet flow within 1.30x of the task component -> {ratio:.2f}x "
          f"{'OK' if ratio <= 1.3 else 'ABOVE TARGET'}")

    print(f"\nmemory: {mem_n:,} conversations suspended 3 steps into the wizard "
          "(one Env, a fresh process each)")
    for name in ("task component", "greenlet flow", "generator flow", "durable flow"):
        traced, rss = measure_apart(__file__, ["--memory", name, "--n", str(mem_n)])
        print(f"{name:<16} {traced / 1024:7.1f} KiB/conversation traced, {rss / 1024:7.1f} KiB RSS")


if __name__ == "__main__":
    main()
