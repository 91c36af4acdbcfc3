"""Random walks: the page a browser would show after applying each step's fragments
equals a fresh full render, ids stay unique, and back() restores each previous value."""
from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stube import Component, answer, back, call, call_in_slot, event, replace, set_keyed_children
from stube.render import has_slot, keyed, root, slot
from stube.testing import Harness
from tests.kernel_regressions.minidom import Dom

GROUPS = os.environ.get("FUZZ_GROUPS", "1") == "1"


class Box(Component):
    name = "fz/box"

    def __init__(self, n: int = 0, fill: bool = False, kid: bool = False) -> None:
        self.n = n
        self.kid = kid
        self.keys: list[list] = []   # [key, variant]
        self.next = 0
        self.fill = fill

    def children(self):
        return {"side": Box(n=self.n + 1)} if self.kid else {}

    def start(self) -> Any:
        if self.fill:
            self.keys = [[f"g{i}", 0] for i in range(2)]
            return self._sync()

    def render(self) -> str:
        out = [f"<div {root()}><span>{self.n}</span>"]
        if has_slot("side"):
            out.append(str(slot("side")))
        out.append(str(keyed("items")))
        out.append("</div>")
        return "".join(out)

    def _sync(self) -> Any:
        return set_keyed_children("items", [(k, Box(n=v * 10)) for k, v in self.keys])

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def add(self, pos: int = 0, group: bool = False) -> Any:
        self.next += 1
        pos = pos % (len(self.keys) + 1)
        self.keys.insert(pos, [f"k{self.next}", 0])
        if group and GROUPS:
            return [set_keyed_children("items", [(k, Box(n=v * 10, fill=(k == f"k{self.next}"))) for k, v in self.keys])]
        return self._sync()

    @event
    def remove(self, pos: int = 0) -> Any:
        if self.keys:
            self.keys.pop(pos % len(self.keys))
        return self._sync()

    @event
    def swap(self, pos: int = 0) -> Any:
        if len(self.keys) > 1:
            i = pos % (len(self.keys) - 1)
            self.keys[i], self.keys[i + 1] = self.keys[i + 1], self.keys[i]
        return self._sync()

    @event
    def rebuild(self, pos: int = 0) -> Any:
        if self.keys:
            self.keys[pos % len(self.keys)][1] += 1
        return self._sync()

    @event
    def side(self, pos: int = 0) -> Any:
        return call_in_slot("side", Box(n=100 + pos), resume="on_side")

    def on_side(self, v: Any) -> None:
        self.n += 1000

    @event
    def ans(self) -> Any:
        return answer(self.n)

    @event
    def push(self) -> Any:
        return call(Box(n=7, kid=True), resume="on_side")

    @event
    def repl(self) -> Any:
        return replace(Box(n=99, kid=self.n % 2 == 0))

    @event
    def both(self, pos: int = 0) -> Any:
        self.n += 5
        self.next += 1
        self.keys.append([f"k{self.next}", 0])
        return set_keyed_children("items", [(k, Box(n=v * 10)) for k, v in self.keys], rerender_parent=True)

    @event
    def err(self) -> Any:
        from stube import answer_error
        return answer_error("nope")

    @event
    def bk(self) -> Any:
        return back()


EVENTS = ["inc", "add", "add", "remove", "swap", "rebuild", "side", "ans", "push", "repl", "bk", "BACK", "both", "err"]


def snap(h: Harness) -> Any:
    c = h.conversation
    return copy.deepcopy((c["stack"], c["instances"]))


@settings(max_examples=int(os.environ.get("N", "400")), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(EVENTS), st.integers(0, 50), st.integers(0, 50), st.booleans()),
                max_size=30))
def test_walk(steps) -> None:
    h = Harness(Box(), history_limit=1000, raise_errors=False)
    cid = h.conversation["id"]
    dom = Dom(cid, h.html())
    undo: list[Any] = []
    for name, pick, pos, group in steps:
        if h.ended:
            break
        before = snap(h)
        hist = len(h.conversation["history"])
        if name == "BACK":
            frags = h.back()
        else:
            ids = [i for i in dom.ids() if i in h.conversation["instances"]]
            if group and name != "add" and os.environ.get("ANY") == "1":
                ids = sorted(h.conversation["instances"])
            if not ids:
                break
            target = ids[pick % len(ids)]
            payload = {"pos": pos}
            if name == "add":
                payload["group"] = group
            if name in ("ans", "push", "repl", "bk", "err"):
                payload = {}
            frags = h.dispatch(name, target=target, **payload)
        newhist = len(h.conversation["history"])
        if newhist == hist + 1:
            undo.append(before)
        elif newhist == hist - 1:
            expected = undo.pop()
            assert snap(h)[0] == expected[0], "stack not restored by back"
            assert snap(h)[1] == expected[1], "instances not restored by back"
        else:
            assert newhist == hist, (hist, newhist)
        if h.error is not None or any("stube-error" in f.html for f in frags):
            dom = Dom(cid, h.html())     # the banner stands in for the component; resync
            continue
        if h.ended:
            break
        dom.apply(frags, cid)
        ids = dom.ids()
        assert len(ids) == len(set(ids)), f"duplicate ids after {name}: {frags}"
        fresh = Dom(cid, h.html()).html()
        assert dom.html() == fresh, f"page differs from a fresh render after {name}\n{frags}"
