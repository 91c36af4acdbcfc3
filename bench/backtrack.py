"""Backtracking costs (issue 15): a Back (rewind + render) next to an ordinary event, in process.

    .venv/bin/python -m bench.backtrack [--rounds 200]

Prints, for the wizard and for a page of 200 instances, the response bytes and
the median time of ``POST /_stube/step/<cid>`` (the browser's Back: the
conversation moves to the step, the page repaints) and of an ordinary event;
and how many history entries 100 counter clicks push (0: they replace).
Starlette's TestClient, no sockets: the figures are the framework's own work.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

import stube
from demos import TEMPLATES
from demos.counter import Counter
from demos.wizard import Wizard
from stube import Component, event

HX = {"HX-Request": "true"}


class Cell(Component):
    name = "bench-bt/cell"
    template_string = '<li {{ root() }}>{{ self.n }} <button {{ on("inc") }}>+</button></li>'

    def __init__(self, n: int = 0) -> None:
        self.n = n

    @event
    def inc(self) -> None:
        self.n += 1


class Big(Component):
    """A page of 200 instances: the root and 199 cells."""

    name = "bench-bt/big"
    template_string = '<ul {{ root() }}>{% for i in range(199) %}{{ slot("c" ~ i) }}{% endfor %}</ul>'

    def children(self) -> dict[str, Component]:
        return {f"c{i}": Cell(i) for i in range(199)}


def app() -> stube.Stube:
    out = stube.Stube(secret_key="bench-backtrack", templates=[TEMPLATES], history_limit=1000)
    out.mount("/wizard", Wizard)
    out.mount("/big", Big)
    out.mount("/counter", Counter)
    return out


def cid_of(html: str) -> str:
    return re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def urls(html: str, name: str) -> list[str]:
    return re.findall(rf'hx-post="([^"]+/{name})"', html)


def step_of(r: Any) -> int:
    """The label in ``X-Stube: <cid> <from> <to> <push|replace> <label> [<address>]``."""
    return int(r.headers["x-stube"].split(" ")[4])


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, int]:
    """Median seconds of ``fn()`` and the bytes of its last response body."""
    times, size = [], 0
    for _ in range(rounds):
        t = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t)
        size = len(r.content)
    return statistics.median(times), size


def row(what: str, seconds: float, size: int) -> None:
    print(f"  {what:<34} {seconds * 1e6:9.0f} µs {size:8d} bytes")


def wizard(c: TestClient, rounds: int) -> None:
    page = c.get("/wizard").text
    cid = cid_of(page)
    start = int(re.search(r'data-stube-step="(\d+)"', page).group(1))  # type: ignore[union-attr]
    r = c.post(urls(page, "next")[0], data={"answer": "Ada"}, headers=HX)
    colour = step_of(r)
    r = c.post(urls(r.text, "next")[0], data={"answer": "teal"}, headers=HX)
    summary = step_of(r)
    back_fwd = iter([start, summary] * rounds)
    print("wizard (summary -> name step and back again):")
    row("Back/Forward (POST /_stube/step)", *timed(lambda: c.post(f"/_stube/step/{cid}?step={next(back_fwd)}",
                                                                headers=HX), rounds))
    c.post(f"/_stube/step/{cid}?step={colour}", headers=HX)
    html = [c.get(f"/wizard?cv={cid}").text]

    def forth_and_back() -> Any:  # Next on the colour step, then the summary's own Back: each a new frame
        r = c.post(urls(html[0], "next")[0], data={"answer": "teal"}, headers=HX)
        html[0] = r.text
        r = c.post(urls(html[0], "back")[-1], headers=HX)
        html[0] = r.text
        return r

    seconds, size = timed(forth_and_back, rounds)
    row("ordinary event (a new frame)", seconds / 2, size)


def big(c: TestClient, rounds: int) -> None:
    page = c.get("/big").text
    cid = cid_of(page)
    inc = urls(page, "inc")[7]
    r = c.post(inc, headers=HX)
    one = step_of(r)
    r = c.post(inc, headers=HX)
    two = step_of(r)
    back_fwd = iter([one, two] * rounds)
    print("a page of 200 instances (one cell changed per step):")
    row("Back/Forward (POST /_stube/step)", *timed(lambda: c.post(f"/_stube/step/{cid}?step={next(back_fwd)}",
                                                                headers=HX), rounds))
    row("ordinary event (one cell +1)", *timed(lambda: c.post(inc, headers=HX), rounds))


def counter(c: TestClient) -> None:
    page = c.get("/counter").text
    inc = urls(page, "inc")[0]
    pushed = 0
    for _ in range(100):
        r = c.post(inc, headers=HX)
        fold = r.headers.get("x-stube", "").split(" ")
        pushed += (len(fold) > 3 and fold[3] == "push") or "hx-push-url" in r.headers
    print(f"history entries pushed by 100 counter clicks: {pushed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with TestClient(app()) as c:
        wizard(c, args.rounds)
        big(c, args.rounds)
        counter(c)


if __name__ == "__main__":
    main()
