"""Random event sequences over a small nested app: the kernel's structural invariants hold.

The app has a root with an eager child and a keyed list; every component
understands every event name (so ``UnknownEvent`` cannot happen by
construction), and events exercise call/answer/answer_error/call_in_slot/
replace/back/end/patch/keyed reconcile and a raising handler. After every
step we check what a user (or a store) would notice if the kernel slipped:

* no exception escapes ``Harness.dispatch``;
* the conversation round-trips through JSON to an equal value;
* a failed step leaves the conversation exactly as it was;
* every morph/error fragment lands on an element that is really there, and
  every remove fragment names an instance that left;
* every stack id, child id, keyed id, parent and ``prev`` pointer refers to a
  live instance, and no instance is orphaned (unreachable from the stack).
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stube import (
    Component,
    answer,
    answer_error,
    back,
    call,
    call_in_slot,
    end,
    event,
    patch,
    replace,
    set_keyed_children,
)
from stube import conversation as cv
from stube.render import has_slot, keyed, on, root, slot
from stube.testing import Harness

_ROOT_ID = re.compile(r'^\s*<[a-z]+ id="([^"]+)"')


class Node(Component):
    """Every event of the walk, shared by all node types."""

    name = "prop/node"

    def __init__(self, n: int = 0) -> None:
        self.n = n
        self.items: list[int] = []
        self.got: list[Any] = []

    def render(self) -> str:
        parts = [f"<div {root()}><span>{self.n}</span><button {on('inc')}>+</button>"]
        if has_slot("side"):
            parts.append(str(slot("side")))
        parts.append(str(keyed("items")))
        parts.append("</div>")
        return "".join(parts)

    def on_got(self, value: Any) -> None:
        self.got = (self.got + [value])[-3:]

    def on_fail(self, error: Any) -> None:
        self.got = (self.got + [f"error: {error}"])[-3:]

    @event
    def inc(self) -> None:
        self.n += 1

    @event
    def noop(self) -> None:
        pass

    @event
    def answer_it(self) -> Any:
        return answer(self.n)

    @event
    def fail_it(self) -> Any:
        return answer_error("boom")

    @event
    def raise_it(self) -> None:
        self.n += 100
        raise ValueError("handler failed")

    @event
    def call_it(self) -> Any:
        return call(Leaf(self.n + 1), resume="on_got", on_error="on_fail")

    @event
    def call_bare(self) -> Any:
        return call(Leaf(7))

    @event
    def slot_it(self) -> Any:
        return call_in_slot("side", Leaf(self.n + 10), resume="on_got")

    @event
    def replace_it(self) -> Any:
        return replace(Leaf(self.n + 20))

    @event
    def become_parent(self) -> Any:
        return replace(Parent(self.n))

    @event
    def add_item(self) -> Any:
        self.items = self.items + [max(self.items, default=0) + 1]
        return set_keyed_children("items", [(i, Leaf(i)) for i in self.items])

    @event
    def drop_item(self) -> Any:
        self.items = self.items[1:]
        return set_keyed_children("items", [(i, Leaf(i)) for i in self.items])

    @event
    def reverse_items(self) -> Any:
        self.items = list(reversed(self.items))
        return set_keyed_children("items", [(i, Leaf(i)) for i in self.items])

    @event
    def rebuild_items(self) -> Any:
        self.n += 1
        return set_keyed_children("items", [(i, Leaf(i * 100 + self.n)) for i in self.items])

    @event
    def churn(self) -> Any:
        """Add a child and take it away again in one step: nothing of it may reach the page."""
        extra = max(self.items, default=0) + 1
        return [set_keyed_children("items", [(i, Leaf(i)) for i in self.items + [extra]]),
                set_keyed_children("items", [(i, Leaf(i)) for i in self.items])]

    @event
    def patch_it(self) -> Any:
        return patch(f'<div id="{self.iid}-toast">{self.n}</div>')

    @event
    def back_it(self) -> Any:
        return back()

    @event
    def end_it(self) -> Any:
        return end(self.n)


class Leaf(Node):
    name = "prop/leaf"


class Parent(Node):
    name = "prop/parent"

    def children(self) -> dict[str, Component]:
        return {"side": Leaf(self.n)}


EVENTS = sorted(n for n, v in vars(Node).items() if getattr(v, "_stube_event", False))
RARE = {"end_it"}


def displayed(conv: dict[str, Any]) -> list[str]:
    """What a user can click: the top frame and its visible children (no displaced occupants)."""
    if not conv["stack"]:
        return []
    inst = conv["instances"]
    out: list[str] = []

    def walk(iid: str) -> None:
        out.append(iid)
        rec = inst[iid]
        for child in rec.get("children", {}).values():
            walk(child)
        for group in rec.get("keyed", {}).values():
            for key in group["order"]:
                walk(group["iids"][key])

    walk(conv["stack"][-1])
    return out


def check_invariants(before: dict[str, Any], h: Harness, frags: list[Any], removed: set[str]) -> None:
    conv = h.conversation
    inst = conv["instances"]
    assert h.roundtrip() == conv

    if h.error is not None:
        assert conv is before, "a failed step must leave the conversation exactly as it was"

    for frag in frags:
        if frag.kind in ("morph", "error"):
            # Lands on an element that is really on the page: a live instance, or one that
            # was on the page and is being swapped for a live one (slot replace).
            root_id = _ROOT_ID.match(frag.html)
            assert root_id, frag
            assert root_id.group(1) in inst, frag
            assert frag.target in inst or frag.target in before["instances"], frag
        elif frag.kind == "remove":
            assert frag.target not in inst and frag.target in before["instances"], frag
        elif frag.kind == "insert":
            container_owner = frag.target.split("--")[0]
            assert container_owner in inst, frag
        elif frag.kind == "page":
            assert frag.target == conv["id"]

    if conv["stack"]:
        assert conv["painted"] == conv["stack"][-1], "the page must show the top frame"
    for iid in conv["stack"]:
        assert iid in inst
        assert inst[iid]["kind"] == "frame"
    reachable: set[str] = set()
    for frame in conv["stack"]:
        reachable.update(cv.subtree(inst, frame))
    assert reachable == set(inst), f"orphans: {set(inst) - reachable}"
    for iid, rec in inst.items():
        if rec["parent"] is not None:
            assert rec["parent"] in inst, (iid, rec)
        else:
            assert conv["stack"] and iid == conv["stack"][0]
        if rec.get("prev") is not None:
            assert rec["prev"] in inst, (iid, rec)
        for child in rec.get("children", {}).values():
            assert child in inst
            assert inst[child]["parent"] == iid
        for group in rec.get("keyed", {}).values():
            assert set(group["iids"]) == set(group["order"])
            for key in group["order"]:
                assert group["iids"][key] in inst
                assert inst[group["iids"][key]]["parent"] == iid
    assert len(conv["history"]) <= conv["history_limit"]


steps = st.lists(
    st.tuples(st.sampled_from(EVENTS), st.integers(min_value=0, max_value=50)),
    min_size=0,
    max_size=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_walks_keep_the_conversation_sound(walk: list[tuple[str, int]]) -> None:
    h = Harness(Parent(1), history_limit=8, raise_errors=False)
    check_invariants(h.conversation, h, h.fragments, set())
    for name, pick in walk:
        if h.ended:
            break
        targets = displayed(h.conversation)
        target = targets[pick % len(targets)]
        before = h.conversation
        ids_before = set(before["instances"])
        frags = h.back() if name == "back_it" and pick % 2 else h.dispatch(name, target=target)
        removed = ids_before - set(h.conversation["instances"])
        check_invariants(before, h, frags, removed)
        visible = displayed(h.conversation)
        for frag in frags:
            if frag.kind == "page":
                assert _ROOT_ID.match(frag.html).group(1) == h.conversation["stack"][-1]
            elif frag.kind == "morph":
                assert _ROOT_ID.match(frag.html).group(1) in visible, frag
        if name == "raise_it" and h.conversation is before:
            assert [f.kind for f in frags] in (["error"], ["page"])
            assert "stube-error" in frags[0].html


@settings(max_examples=100, deadline=None)
@given(steps)
def test_events_to_any_live_instance_keep_the_conversation_sound(walk: list[tuple[str, int]]) -> None:
    """Stale tabs and timers can reach instances that are not on the page (lower frames)."""
    h = Harness(Parent(1), history_limit=8, raise_errors=False)
    for name, pick in walk:
        if h.ended:
            break
        conv = h.conversation
        targets = [x for frame in conv["stack"] for x in cv.subtree(conv["instances"], frame)]
        target = targets[pick % len(targets)]
        before = h.conversation
        ids_before = set(before["instances"])
        frags = h.deliver(target, name)
        check_invariants(before, h, frags, ids_before - set(h.conversation["instances"]))
