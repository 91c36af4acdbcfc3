"""The conversation kernel: fold one event into the next conversation value.

``run(conv, event, env)`` rebuilds the target component from its state, runs
the handler, folds the effects it returns into a new conversation value, and
renders what changed into fragments. It is pure in the sense that matters: it
touches no network, no clock (``touched`` belongs to the runtime), and no
global state; asynchronous effects come back as *commands* for the runtime
(or a Harness) to execute. A handler that raises leaves the conversation
exactly as it was and yields an error-banner fragment for that instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from markupsafe import Markup, escape

from . import conversation as cv
from . import effects as fx
from . import fragments as fr
from .component import HOOKS, Component, as_embed, build, capture_json, is_event, lookup
from .context import ambient, flow_host, host_flows, unhost_flows
from .errors import EffectError, UnknownEvent, error_message
from .fragments import Fragment
from .jsonstate import is_json, json_copy
from .payload import bind
from .render import RenderState, Templates, Urls, render_instance

log = logging.getLogger("stube")


# -- inputs and outputs ---------------------------------------------------------


@dataclass(slots=True)
class Event:
    """One event for one instance.

    ``payload`` becomes keyword arguments (converted from strings when
    ``convert``), ``fields`` are lifted onto the instance first, ``args`` are
    positional (an ``io`` result, a published message). ``internal`` events
    (timers, pub/sub, io, dispatch_to) may reach any public method; browser
    events only reach ``@event`` methods.
    """

    iid: str
    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    internal: bool = False
    convert: bool = False


@dataclass(slots=True)
class Command:
    """An asynchronous effect for the runtime: ``after``, ``io``, ``subscribe``, ... or a stash write."""

    kind: str
    iid: str
    effect: Any


@dataclass(slots=True)
class StashWrite:
    view: str
    changes: dict[str, Any]
    vsn: int


class Env:
    """What the kernel needs from its host.

    ``stash`` is the browser session's stash, preloaded as ``{view: {"vsn",
    "data"}}`` (``None`` disables stash recovery); ``live`` is a per-host dict
    where flows keep their continuations.
    """

    def __init__(self, templates: Templates | None = None, *, app: Any = None,
                 history_limit: int = cv.DEFAULT_HISTORY_LIMIT,
                 stash: Mapping[str, Mapping[str, Any]] | None = None,
                 live: dict[Any, Any] | None = None) -> None:
        self.templates = templates or Templates()
        self.app = app
        self.history_limit = history_limit
        self.stash = stash
        self.live = live if live is not None else {}

    def with_stash(self, stash: Mapping[str, Mapping[str, Any]] | None) -> Env:
        env = Env(self.templates, app=self.app, history_limit=self.history_limit,
                  stash=stash, live=self.live)
        return env


@dataclass(slots=True)
class Outcome:
    """The result of one fold."""

    conversation: dict[str, Any]
    fragments: list[Fragment] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    #: Instance ids that left the conversation (timers and subscriptions of theirs are void).
    removed: list[str] = field(default_factory=list)
    #: The exception a failed handler raised (the conversation is unchanged).
    error: BaseException | None = None
    #: The conversation's version before the fold (set by the runtime; pages apply folds in order).
    since: int | None = None

    @property
    def changed(self) -> bool:
        """The fold succeeded (its handler did not raise)."""
        return self.error is None

    @property
    def ended(self) -> bool:
        return bool(self.conversation.get("ended"))

    def __iter__(self):  # ``conv, fragments = run(...)``
        yield self.conversation
        yield self.fragments


# -- the transaction -----------------------------------------------------------

_SIDE_EFFECTS = (fx.Patch, fx.ExecuteScript, fx.History, fx.Io, fx.After, fx.Subscribe,
                 fx.Unsubscribe, fx.DispatchTo)


def as_effects(result: Any, where: str) -> list[fx.Effect]:
    if result is None:
        return []
    if isinstance(result, fx.Effect):
        return [result]
    if isinstance(result, (list, tuple)):
        for item in result:
            if not isinstance(item, fx.Effect):
                raise TypeError(f"{where} returned {item!r} in its list; return effects such as call(...) or answer(...)")
        return list(result)
    raise TypeError(f"{where} returned {result!r}; return None, an effect, or a list of effects")


def current_txn() -> Txn | None:
    """The transaction running a handler or hook right now (``None`` outside one)."""
    host = flow_host()
    return host if isinstance(host, Txn) else None


class Txn:
    """A working copy of a conversation while one event folds.

    Records are replaced, never mutated; every record replaced is remembered
    once (its old value) so the step can be undone by ``back()``.
    """

    def __init__(self, conv: dict[str, Any], env: Env) -> None:
        self.env = env
        self.base = conv
        self.conv = dict(conv)
        self.instances: dict[str, dict] = conv["instances"]
        self._own_instances = False
        self.stack: list[str] = list(conv["stack"])
        self.conv["stack"] = self.stack
        self.undo_i: dict[str, dict | None] = {}
        self.undo_t: dict[str, Any] = {}
        self.auto: dict[str, None] = {}       # state changed: re-render unless it rendered itself
        self.forced: dict[str, None] = {}     # structure changed: re-render
        self.emitted: set[str] = set()        # rendered something explicitly (patch, keyed)
        self.structural: list[tuple[Fragment, str | None]] = []
        self.extras: list[Fragment] = []
        self.banners: dict[str, Fragment] = {}
        self.commands: list[Command] = []
        self.removed: list[str] = []
        self.explicit_history = False
        self.rewound = False
        self.touched = False

    # -- records --

    def get(self, iid: str) -> dict | None:
        return self.instances.get(iid)

    # -- the FlowHost protocol (context.flow_host) --

    @property
    def cid(self) -> str:
        return self.conv["id"]  # type: ignore[no-any-return]

    @property
    def live(self) -> dict[Any, Any]:
        return self.env.live

    def record(self, iid: str) -> dict[str, Any] | None:
        return self.instances.get(iid)

    def put(self, iid: str, rec: dict) -> None:
        if not self._own_instances:
            self.instances = dict(self.instances)
            self.conv["instances"] = self.instances
            self._own_instances = True
        if iid not in self.undo_i:
            self.undo_i[iid] = self.instances.get(iid)
        self.instances[iid] = rec
        self.touched = True

    def delete(self, iid: str) -> None:
        if iid in self.instances:
            if not self._own_instances:
                self.instances = dict(self.instances)
                self.conv["instances"] = self.instances
                self._own_instances = True
            if iid not in self.undo_i:
                self.undo_i[iid] = self.instances[iid]
            del self.instances[iid]
            self.touched = True

    def set_top(self, key: str, value: Any) -> None:
        if self.conv.get(key) != value:
            if key not in self.undo_t:
                self.undo_t[key] = self.base.get(key)
            self.conv[key] = value

    def new_iid(self) -> str:
        return cv.new_iid(self.instances)

    def cls_of(self, iid: str) -> type[Component]:
        return lookup(self.instances[iid]["type"])

    # -- calling user code --

    def invoke(self, iid: str, fn: Callable[..., Any], args: tuple = (), kwargs: Mapping[str, Any] | None = None,
               *, keep: bool = True, prepare: Callable[[Component], None] | None = None) -> list[fx.Effect]:
        rec = self.instances[iid]
        cls = lookup(rec["type"])
        obj = build(cls, rec["state"], iid, copy=True)
        if prepare is not None:
            prepare(obj)
        token = host_flows(self)
        try:
            result = fn(obj, *args, **(kwargs or {}))
        finally:
            unhost_flows(token)
        if keep:
            self.commit(iid, obj)
        if result is None:  # the common case: skip building the error label
            return []
        return as_effects(result, f"{cls.__qualname__}.{getattr(fn, '__name__', 'handler')}")

    def commit(self, iid: str, obj: Component) -> None:
        rec = self.instances.get(iid)
        if rec is None:
            return
        state = capture_json(obj)
        old = rec["state"]
        # 1 == 1.0 == True, yet they render and serialise differently: a top-level retype counts.
        if state != old or any(type(v) is not type(old[k]) for k, v in state.items()):
            cls = type(obj)
            if cls.stash and self.env.stash is not None:
                changes = {k: state[k] for k in cls.stash
                           if k in state and state.get(k) != rec["state"].get(k)}
                if changes:
                    self.commands.append(Command("stash", iid, StashWrite(cls._stube_type, changes, cls.stash_vsn)))
            self.put(iid, {**rec, "state": state})
            self.auto[iid] = None

    def fold(self, effects: Iterable[fx.Effect], origin: str) -> None:
        for eff in effects:
            if self.conv.get("ended") or self.rewound:
                return
            _FOLD[type(eff)](self, eff, origin)

    # -- instances --

    def instantiate(self, embed: Component, *, parent: str | None, kind: str, slot: str | None = None,
                    resume: str | None = None, on_error: str | None = None, prev: str | None = None,
                    iid: str | None = None) -> tuple[str, list[str]]:
        cls = type(embed)
        state = capture_json(embed)
        if cls.stash and self.env.stash is not None:
            state = self._recover_stash(embed, state)
        iid = iid or self.new_iid()
        rec: dict[str, Any] = {"type": cls._stube_type, "state": state, "parent": parent, "kind": kind}
        if slot is not None:
            rec["slot"] = slot
        if resume:
            rec["resume"] = resume
        if on_error:
            rec["on_error"] = on_error
        if prev:
            rec["prev"] = prev
        self.put(iid, rec)
        created = [iid]
        if "children" in cls._stube_hooks:
            obj = build(cls, state, iid, copy=True)
            kids = cls.children(obj) or {}
            children = {}
            for name, child in kids.items():
                child_iid, sub = self.instantiate(as_embed(child), parent=iid, kind="eager", slot=fx.slot_name(name))
                children[name] = child_iid
                created.extend(sub)
            if children:
                self.put(iid, {**self.instances[iid], "children": children})
        return iid, created

    def _recover_stash(self, embed: Component, state: dict[str, Any]) -> dict[str, Any]:
        cls = type(embed)
        stored = self.env.stash.get(cls._stube_type) if self.env.stash else None
        if not stored:
            return state
        data = stored.get("data") or {}
        if stored.get("vsn", 1) != cls.stash_vsn:
            try:  # stashed preferences are disposable: a failing migration must not break the page
                migrated = cls.migrate_stash(embed, stored.get("vsn", 1), json_copy(data))
            except Exception:
                log.exception("%s.migrate_stash failed; the stashed values were discarded", cls.__qualname__)
                migrated = None
            data = migrated if isinstance(migrated, dict) else {}
            full = {k: state[k] for k in cls.stash if k in state}
            full.update({k: v for k, v in data.items() if k in cls.stash and is_json(v)})
            self.commands.append(Command("stash", "", StashWrite(cls._stube_type, json_copy(full), cls.stash_vsn)))
        out = dict(state)
        for key in cls.stash:
            if key in data and is_json(data[key]):
                out[key] = json_copy(data[key])
        return out

    def start_all(self, created: list[str]) -> None:
        for iid in created:
            if iid in self.instances and not self.conv.get("ended") and not self.rewound:
                cls = self.cls_of(iid)
                if "start" in cls._stube_hooks:
                    self.fold(self.invoke(iid, cls.start), iid)

    def wake_tree(self, iid: str, *, side_only: bool = False) -> None:
        for x in cv.subtree(self.instances, iid, include_prev=False):
            if x in self.instances:
                cls = self.cls_of(x)
                if "wakeup" in cls._stube_hooks:
                    effects = self.invoke(x, cls.wakeup)
                    if side_only:  # during a rewind: re-arm timers/io/subscriptions, nothing structural
                        rewound, self.rewound = self.rewound, False
                        try:
                            self.fold([e for e in effects if isinstance(e, _SIDE_EFFECTS)], x)
                        finally:
                            self.rewound = rewound
                    else:
                        self.fold(effects, x)

    def remove_tree(self, iid: str, *, include_prev: bool = True, stop: bool = True) -> None:
        order = cv.subtree(self.instances, iid, include_prev)
        if stop:
            for x in reversed(order):
                rec = self.instances.get(x)
                if rec is None:
                    continue
                try:
                    cls = lookup(rec["type"])
                except LookupError:
                    continue
                if "stop" in cls._stube_hooks:
                    effects = self.invoke(x, cls.stop, keep=False)
                    side = [e for e in effects if isinstance(e, _SIDE_EFFECTS)]
                    if len(side) != len(effects):
                        log.warning("%s.stop() may only return side effects (patch, script, io, "
                                    "unsubscribe, ...); the rest were ignored", cls.__qualname__)
                    self.fold(side, x)
        for x in order:
            self.delete(x)
            self.removed.append(x)
            self.auto.pop(x, None)
            self.forced.pop(x, None)
        gone = set(order)
        for i, frame in enumerate(self.stack):
            rec = self.instances.get(frame)
            if i and rec is not None and rec["parent"] in gone:
                # Its caller left under it (a keyed item or slot child removed while its dialog
                # is open; a keyed rebuild reuses the id for another type): the answer now just
                # returns to the frame below, with nobody left to resume.
                new = {k: v for k, v in rec.items() if k not in ("resume", "on_error")}
                new["parent"] = self.stack[i - 1]
                self.put(frame, new)

    def displayed(self, iid: str) -> bool:
        """Is the instance part of what the page shows (the top frame's visible tree)?"""
        return cv.displayed(self.conv, iid)

    def ancestors(self, iid: str) -> Iterable[str]:
        rec = self.instances.get(iid)
        while rec is not None and rec["kind"] != "frame":
            iid = rec["parent"]
            yield iid
            rec = self.instances.get(iid)

    # -- ending --

    def finish_conversation(self, value: Any) -> None:
        for frame in list(reversed(self.stack)):
            if frame in self.instances:
                self.remove_tree(frame)
        self.stack.clear()
        self.set_top("ended", True)
        self.set_top("result", json_copy(value) if is_json(value) else repr(value))

    def banner(self, iid: str, error: Any, phase: str) -> None:
        message = error_message(error)
        log.error("stube component error cid=%s iid=%s phase=%s: %s", self.conv["id"], iid, phase, message)
        self.banners[iid] = Fragment(fr.ERROR, target=iid, html=banner_html(self.conv["id"], iid, phase, message),
                                     owner=iid)

    # -- output --

    def render_state(self) -> RenderState:
        return RenderState(self.instances, self.conv["id"], Urls(self.conv.get("base") or ""), self.env.templates)

    def project_url(self) -> None:
        if not self.stack:
            return
        root = self.stack[0]
        cls = self.cls_of(root)
        if "url" not in cls._stube_hooks:
            return
        mode, url = url_of(cls, build(cls, self.instances[root]["state"], root, copy=False))
        if url is None or url == self.conv.get("last_url"):
            return
        self.set_top("last_url", url)
        if not self.explicit_history:
            self.extras.append(Fragment(fr.HISTORY, html=url, mode=mode))

    def paint(self) -> list[Fragment]:
        """Render what changed: the whole page if the top frame changed, else each dirty instance."""
        if self.conv.get("ended"):
            return [*self.extras, Fragment(fr.CLOSE, target=self.conv["id"])]
        if not self.stack:
            return list(self.extras)
        top = self.stack[-1]
        rs = self.render_state()
        out: list[Fragment] = []
        if self.conv.get("painted") != top:
            banner = self.banners.get(top)
            html = banner.html if banner else render_instance(rs, top)
            out.append(Fragment(fr.PAGE, target=self.conv["id"], html=str(html), owner=top))
            self.set_top("painted", top)
            out.extend(b for iid, b in self.banners.items() if iid != top and self.displayed(iid))
            out.extend(self.extras)
            return out
        want = dict(self.forced)
        for iid in self.auto:
            if iid not in self.emitted:
                want[iid] = None
        render = [iid for iid in want if iid in self.instances and iid not in self.banners and self.displayed(iid)]
        chosen = set(render)
        render = [iid for iid in render if not any(a in chosen for a in self.ancestors(iid))]
        covered = set(render)
        # Instances whose whole markup already went out with a structural fragment (a keyed
        # insert, a slot swap): what their own start() did inside them is in that markup.
        filled: set[str] = set()

        def inside_filled(x: str) -> bool:
            return x in filled or any(a in filled for a in self.ancestors(x))

        for frag, fill in self.structural:
            owner = frag.owner
            if owner in covered or any(a in covered for a in self.ancestors(owner)):
                continue
            if owner not in self.instances or not self.displayed(owner) or inside_filled(owner):
                continue
            if frag.kind == fr.REMOVE and frag.target in self.undo_i and self.undo_i[frag.target] is None:
                continue  # created and removed within this step: its insert was dropped, it never showed
            if fill is not None:
                if fill not in self.instances:
                    continue
                frag.html = str(render_instance(rs, fill))
                filled.add(fill)
            out.append(frag)
        for iid in render:
            if inside_filled(iid):
                continue
            out.append(Fragment(fr.MORPH, target=iid, html=str(render_instance(rs, iid)), owner=iid))
        out.extend(b for b in self.banners.values() if self.displayed(b.target))
        out.extend(self.extras)
        return out

    def outcome(self, *, record: bool = True) -> Outcome:
        fragments = self.paint()
        conv = self.conv
        changed = self.touched or self.stack != self.base["stack"] or self.undo_t
        if not changed and not self.rewound:
            # Nothing the user can undo happened; keep the value (but note the painted frame).
            if conv.get("painted") == self.base.get("painted"):
                conv = self.base
        else:
            if record and not self.rewound:
                entry: dict[str, Any] = {}
                if self.undo_i:
                    entry["i"] = self.undo_i
                if self.stack != self.base["stack"]:
                    entry["s"] = list(self.base["stack"])
                undo_t = {k: v for k, v in self.undo_t.items() if k in ("last_url", "ended", "result")}
                if undo_t:
                    entry["t"] = undo_t
                limit = conv.get("history_limit", self.env.history_limit)
                if limit > 0:
                    past = self.base["history"]
                    history = past[len(past) - limit + 1:] if len(past) >= limit else past[:]
                    history.append(entry)  # one copy of the (shared) list, not two
                    conv["history"] = history
            conv["version"] = self.base.get("version", 0) + 1
        return Outcome(conv, fragments, self.commands, self.removed)


# -- effect folds ----------------------------------------------------------------


def _check_receivers(tx: Txn, origin: str, *names: str | None) -> None:
    """A resume/on_error name must be a method of the caller: fail when calling, not at the answer."""
    rec = tx.get(origin)
    if rec is None:
        raise EffectError("call() from an instance that no longer exists")
    cls = lookup(rec["type"])
    for name in names:
        if name is None:
            continue
        fn = getattr(cls, name, None)
        if not callable(fn) or name in HOOKS or (name.startswith("_") and not name.startswith("_stube_")):
            raise EffectError(f"{cls.__qualname__} has no method {name!r} to receive the answer")


def _fold_call(tx: Txn, eff: fx.Call, origin: str) -> None:
    _check_receivers(tx, origin, eff.resume, eff.on_error)
    child, created = tx.instantiate(eff.embed, parent=origin, kind="frame",
                                    resume=eff.resume, on_error=eff.on_error)
    tx.stack.append(child)
    tx.start_all(created)


def _fold_call_in_slot(tx: Txn, eff: fx.CallInSlot, origin: str) -> None:
    prec = tx.get(origin)
    if prec is None:
        raise EffectError("call_in_slot() from an instance that no longer exists")
    _check_receivers(tx, origin, eff.resume, eff.on_error)
    prev = prec.get("children", {}).get(eff.slot)
    child, created = tx.instantiate(eff.embed, parent=origin, kind="slot", slot=eff.slot, prev=prev,
                                    resume=eff.resume, on_error=eff.on_error)
    prec = tx.get(origin)
    tx.put(origin, {**prec, "children": {**prec.get("children", {}), eff.slot: child}})
    if prev is not None:
        tx.structural.append((Fragment(fr.MORPH, target=prev, owner=origin), child))
    else:
        tx.forced[origin] = None
    tx.start_all(created)


def _fold_answer(tx: Txn, eff: fx.Answer | fx.AnswerError, origin: str) -> None:
    is_error = isinstance(eff, fx.AnswerError)
    value = eff.error if is_error else eff.value
    rec = tx.get(origin)
    if rec is None:
        return
    kind = rec["kind"]
    if kind == "frame":
        if not tx.stack or tx.stack[-1] != origin:
            raise EffectError("only the top frame can answer; this frame has another frame above it")
        tx.remove_tree(origin)
        tx.stack.pop()
        if not tx.stack:
            tx.finish_conversation({"error": error_message(value)} if is_error else value)
            return
        _deliver(tx, rec, value, is_error)
    elif kind == "slot":
        parent, slot, prev = rec["parent"], rec["slot"], rec.get("prev")
        occupant = (tx.get(parent) or {}).get("children", {}).get(slot)
        if occupant != origin:
            # A displaced occupant (reached by a stale tab or a timer) answering would orphan
            # the child that displaced it; like a lower frame, it must wait its turn.
            raise EffectError("only the current occupant of a slot can answer; this one was "
                              "displaced by a later call_in_slot()")
        tx.remove_tree(origin, include_prev=False)
        prec = tx.get(parent)
        if prec is None:
            return
        children = dict(prec.get("children", {}))
        if prev is not None:
            children[slot] = prev
        else:
            children.pop(slot, None)
        new = {**prec, "children": children}
        if not children:
            del new["children"]
        tx.put(parent, new)
        tx.forced[parent] = None
        _deliver(tx, rec, value, is_error)
    else:
        what = "a children() slot" if kind == "eager" else "a keyed list"
        raise EffectError(
            f"{rec['type']} lives in {what} and cannot answer; only instances started with call() "
            "or call_in_slot() answer. Tell the parent with dispatch_to() instead."
        )


def _deliver(tx: Txn, child: dict, value: Any, is_error: bool) -> None:
    caller = child.get("parent")
    if caller is None or caller not in tx.instances:
        return
    name = child.get("on_error") if is_error else child.get("resume")
    if name is None:
        if is_error:
            tx.banner(caller, value, "answer_error")
        else:
            tx.forced[caller] = None
        return
    cls = tx.cls_of(caller)
    fn = getattr(cls, name, None)
    if not callable(fn) or name in HOOKS:
        raise EffectError(f"{cls.__qualname__} has no method {name!r} to receive the answer")
    tx.fold(tx.invoke(caller, fn, (value,)), caller)


def _fold_replace(tx: Txn, eff: fx.Replace, origin: str) -> None:
    """Seaside's ``become:``: the emitting instance is swapped for another where it stands."""
    rec = tx.get(origin)
    if rec is None:
        raise EffectError("replace() from an instance that no longer exists")
    kind = rec["kind"]
    parent = rec["parent"]
    prec = tx.get(parent) if parent is not None else None
    # Swapping a lower frame or a displaced occupant would orphan what sits above it.
    if kind == "frame" and tx.stack[-1:] != [origin]:
        raise EffectError("only the top frame can be replaced; this frame has another frame above it")
    if kind in ("slot", "eager") and (prec or {}).get("children", {}).get(rec.get("slot")) != origin:
        raise EffectError("only the current occupant of a slot can be replaced")
    key = None
    if kind == "keyed":
        group = (prec or {}).get("keyed", {}).get(rec.get("slot"), {})
        key = next((k for k, iid in group.get("iids", {}).items() if iid == origin), None)
        if key is None:
            raise EffectError("replace() from a keyed child that is no longer in its list")
    tx.remove_tree(origin, include_prev=False)
    new, created = tx.instantiate(eff.embed, parent=parent, kind=kind, slot=rec.get("slot"),
                                  resume=rec.get("resume"), on_error=rec.get("on_error"), prev=rec.get("prev"))
    if kind == "frame":
        tx.stack[tx.stack.index(origin)] = new
    else:
        prec = tx.get(parent)
        if kind == "keyed":
            from .keyed import spec

            slot = rec["slot"]
            group = prec["keyed"][slot]
            group = {**group, "iids": {**group["iids"], key: new}, "embeds": {**group["embeds"], key: spec(eff.embed)}}
            tx.put(parent, {**prec, "keyed": {**prec["keyed"], slot: group}})
        else:
            tx.put(parent, {**prec, "children": {**prec.get("children", {}), rec["slot"]: new}})
        tx.structural.append((Fragment(fr.MORPH, target=origin, owner=parent), new))
    tx.start_all(created)


def _fold_keyed(tx: Txn, eff: fx.SetKeyedChildren, origin: str) -> None:
    from .keyed import reconcile

    reconcile(tx, origin, eff.slot, eff.pairs, rerender_parent=eff.rerender_parent)


class _FirstTag(HTMLParser):
    """The attributes of the first start tag (a real parser: quoted values may hold anything)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.attrs is None:
            self.attrs = dict(attrs)

    handle_startendtag = handle_starttag


def _patch_target(html: str) -> str | None:
    parser = _FirstTag()
    parser.feed(html)
    parser.close()
    return (parser.attrs or {}).get("id") or None


def _fold_patch(tx: Txn, eff: fx.Patch, origin: str) -> None:
    target = _patch_target(eff.html) if eff.html.lstrip().startswith("<") else None
    if not target:
        raise EffectError("patch() HTML needs an id on its top element, e.g. <div id=\"toast\">...")
    tx.extras.append(Fragment(fr.PATCH, target=target, html=eff.html, owner=origin))
    tx.emitted.add(origin)


def _fold_history(tx: Txn, eff: fx.History, origin: str) -> None:
    tx.extras.append(Fragment(fr.HISTORY, html=eff.url, mode="push" if eff.push else "replace"))
    tx.explicit_history = True


def _fold_script(tx: Txn, eff: fx.ExecuteScript, origin: str) -> None:
    tx.extras.append(Fragment(fr.SCRIPT, html=eff.js, owner=origin))


def _command(kind: str) -> Callable[[Txn, Any, str], None]:
    def fold(tx: Txn, eff: Any, origin: str) -> None:
        tx.commands.append(Command(kind, origin, eff))
    return fold


def _fold_back(tx: Txn, eff: fx.Back, origin: str) -> None:
    base = tx.base
    if not base["history"]:
        return
    rewind_into(tx, base)


def rewind_into(tx: Txn, base: dict[str, Any]) -> None:
    """Replace the transaction's working value with the step before ``base``."""
    restored = cv.undo(base, base["history"][-1])
    restored["history"] = base["history"][:-1]
    # The browser still shows the newer URL: compare against it, so project_url() re-syncs it.
    restored["last_url"] = base.get("last_url")
    before = set(tx.instances)
    Txn.__init__(tx, restored, tx.env)
    tx.base = base
    tx.rewound = True
    tx.touched = True
    tx.removed = [iid for iid in before if iid not in tx.instances]
    tx.set_top("painted", None)
    if tx.stack:
        tx.wake_tree(tx.stack[-1], side_only=True)
        tx.rewound = True
    elif not tx.conv.get("ended"):
        tx.finish_conversation(None)


def _fold_end(tx: Txn, eff: fx.End, origin: str) -> None:
    tx.finish_conversation(eff.value)


_FOLD: dict[type, Callable[[Txn, Any, str], None]] = {
    fx.Call: _fold_call,
    fx.CallInSlot: _fold_call_in_slot,
    fx.Answer: _fold_answer,
    fx.AnswerError: _fold_answer,
    fx.Replace: _fold_replace,
    fx.SetKeyedChildren: _fold_keyed,
    fx.Patch: _fold_patch,
    fx.History: _fold_history,
    fx.ExecuteScript: _fold_script,
    fx.Io: _command("io"),
    fx.After: _command("after"),
    fx.Subscribe: _command("subscribe"),
    fx.Unsubscribe: _command("unsubscribe"),
    fx.DispatchTo: _command("dispatch_to"),
    fx.Back: _fold_back,
    fx.End: _fold_end,
}


# -- helpers ---------------------------------------------------------------------


def banner_html(cid: str, iid: str, phase: str, message: str) -> str:
    return (
        f'<div id="{iid}" class="stube-error" role="alert" data-stube-error="true">'
        f"<!-- stube error: cid={cid} iid={iid} phase={phase} -->"
        f'<strong class="stube-error-title">Component error</strong> '
        f'<span class="stube-error-message">{escape(message)}</span></div>'
    )


def url_of(cls: type[Component], obj: Component) -> tuple[str, str | None]:
    value = cls.url(obj)
    if value is None:
        return "replace", None
    if isinstance(value, str):
        return "replace", value
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] in ("push", "replace") \
            and isinstance(value[1], str):
        return value[0], value[1]
    raise EffectError(f"{cls.__qualname__}.url() returned {value!r}; return a str, ('push', url), "
                      "('replace', url) or None")


def resolve(cls: type[Component], event: Event) -> tuple[Callable[..., Any], bool]:
    """The method an event reaches, and whether it is the ``handle`` catch-all."""
    name = event.name
    if not isinstance(name, str) or not name.isidentifier() or name in HOOKS or (
            name.startswith("_") and not (event.internal and name.startswith("_stube_"))):
        raise UnknownEvent(f"{cls.__qualname__} has no event {name!r}")
    fn = getattr(cls, name, _MISSING)
    if fn is _MISSING:
        if "handle" in cls._stube_hooks:
            return cls.handle, True
        raise UnknownEvent(f"{cls.__qualname__} has no event {name!r}")
    if is_event(fn) or (event.internal and callable(fn) and not isinstance(fn, type)):
        return fn, False
    raise UnknownEvent(f"{cls.__qualname__}.{name} is not an @event")


_MISSING = object()


# -- entry points ------------------------------------------------------------------


def boot(root: Component | type[Component], env: Env, *, cid: str | None = None, owner: str | None = None,
         principal: Any = None, mount: str | None = None, base: str = "") -> Outcome:
    """Mint a conversation around ``root``: instantiate, run ``start`` hooks, render the first page."""
    conv = cv.empty(cid, owner=owner, principal=principal, history_limit=env.history_limit,
                    mount=mount, base=base)
    with ambient(env.app, principal, conv["id"]):
        tx = Txn(conv, env)
        iid, created = tx.instantiate(as_embed(root), parent=None, kind="frame")
        tx.stack.append(iid)
        try:
            tx.start_all(created)
            if tx.stack:
                cls = tx.cls_of(tx.stack[0])
                if "url" in cls._stube_hooks:
                    _, url = url_of(cls, build(cls, tx.instances[tx.stack[0]]["state"], tx.stack[0], copy=False))
                    tx.set_top("last_url", url)
            out = tx.outcome(record=False)
        except Exception as exc:
            log.exception("stube component error cid=%s iid=%s phase=start", conv["id"], iid)
            fallback = Txn(conv, env)
            fallback.instantiate(as_embed(root), parent=None, kind="frame", iid=iid)
            fallback.stack.append(iid)
            fallback.banner(iid, exc, "start")
            out = fallback.outcome(record=False)
            out.error = exc
    out.conversation["history"] = []
    return out


def run(conv: dict[str, Any], event: Event, env: Env) -> Outcome:
    """Fold one event. Unknown instance: nothing changes. Unknown event name: :class:`UnknownEvent`."""
    if conv.get("ended"):
        return Outcome(conv)
    rec = conv["instances"].get(event.iid)
    if rec is None:
        return Outcome(conv)
    cls = lookup(rec["type"])
    fn, catch_all = resolve(cls, event)
    if catch_all:
        kwargs = bind(fn, event.payload, convert=event.convert, skip=2)
        args: tuple = (event.name, *event.args)
    else:
        kwargs = bind(fn, event.payload, convert=event.convert) if event.payload or not event.args else {}
        args = event.args
    fields = cls.fields
    lifted = {k: v[-1] if isinstance(v, list) and v else v for k, v in event.fields.items() if k in fields} \
        if fields and event.fields else None

    def prepare(obj: Component) -> None:
        if lifted:
            obj.__dict__.update(lifted)

    with ambient(env.app, conv.get("principal"), conv["id"]):
        tx = Txn(conv, env)
        try:
            tx.fold(tx.invoke(event.iid, fn, args, kwargs, prepare=prepare), event.iid)
            if not tx.rewound and not tx.conv.get("ended"):
                tx.project_url()
            elif tx.rewound and tx.stack:
                tx.project_url()
            return tx.outcome()
        except Exception as exc:
            return failed(conv, env, event.iid, exc, "handle", tx)


def failed(conv: dict[str, Any], env: Env, iid: str, exc: BaseException, phase: str,
           abandoned: Txn | None = None) -> Outcome:
    """The conversation unchanged, plus an error banner for ``iid``.

    Instances the abandoned fold created are reported as removed, so hosts
    release what they started (a flow's greenlet) instead of leaking it.
    """
    log.error("stube component error cid=%s iid=%s phase=%s", conv["id"], iid, phase, exc_info=exc)
    html = banner_html(conv["id"], iid, phase, error_message(exc))
    tx = Txn(conv, env)
    if tx.stack and tx.stack[-1] == iid and conv.get("painted") != iid:
        frag = Fragment(fr.PAGE, target=conv["id"], html=html, owner=iid)
    else:
        frag = Fragment(fr.ERROR, target=iid, html=html, owner=iid)
    created = [i for i, old in abandoned.undo_i.items() if old is None] if abandoned is not None else []
    return Outcome(conv, [frag], removed=created, error=exc)


def dispatch(conv: dict[str, Any], event: Event, env: Env | None = None) -> tuple[dict[str, Any], list[Fragment]]:
    """``(conversation', fragments)`` for one event: the contract's pure entry point."""
    out = run(conv, event, env or Env())
    return out.conversation, out.fragments


def rewind(conv: dict[str, Any], env: Env) -> Outcome:
    """Go back one step (the ``back_button``): no handler, no new history entry."""
    if conv.get("ended") or not conv["history"]:
        return Outcome(conv)
    with ambient(env.app, conv.get("principal"), conv["id"]):
        tx = Txn(conv, env)
        try:
            rewind_into(tx, conv)
            tx.project_url()
            return tx.outcome(record=False)
        except Exception as exc:
            return failed(conv, env, cv.top(conv) or "", exc, "back", tx)


def wake(conv: dict[str, Any], env: Env) -> Outcome:
    """A restored conversation becomes live: ``wakeup`` hooks, then the whole top frame repaints."""
    if conv.get("ended") or not conv["stack"]:
        return Outcome(conv)
    with ambient(env.app, conv.get("principal"), conv["id"]):
        tx = Txn(conv, env)
        try:
            tx.set_top("painted", None)
            tx.wake_tree(tx.stack[-1])
            return tx.outcome(record=False)
        except Exception as exc:
            return failed(conv, env, cv.top(conv) or "", exc, "wakeup", tx)


def stop_all(conv: dict[str, Any], env: Env) -> Outcome:
    """Shutdown: run every ``stop`` hook (top frame first, children first) without ending."""
    if conv.get("ended"):
        return Outcome(conv)
    with ambient(env.app, conv.get("principal"), conv["id"]):
        tx = Txn(conv, env)
        for frame in reversed(conv["stack"]):
            for x in reversed(cv.subtree(tx.instances, frame)):
                rec = tx.get(x)
                try:
                    cls = lookup(rec["type"])
                except LookupError:
                    continue  # a type this process does not know has no stop hook to run
                try:
                    if "stop" in cls._stube_hooks:
                        effects = tx.invoke(x, cls.stop, keep=False)
                        tx.fold([e for e in effects if isinstance(e, _SIDE_EFFECTS)], x)
                except Exception:
                    log.exception("stop hook failed during shutdown cid=%s iid=%s", conv["id"], x)
        return Outcome(conv, list(tx.extras), tx.commands)


def finish(conv: dict[str, Any], env: Env, value: Any = None) -> Outcome:
    """End a conversation from outside (the reaper, the host): ``stop`` hooks, then ``ended``."""
    if conv.get("ended"):
        return Outcome(conv)
    with ambient(env.app, conv.get("principal"), conv["id"]):
        tx = Txn(conv, env)
        try:
            tx.finish_conversation(value)
        except Exception:
            log.exception("stop hooks failed while ending cid=%s", conv["id"])
            tx = Txn(conv, env)
            tx.stack.clear()
            tx.set_top("ended", True)
        return tx.outcome(record=False)


def render_page(conv: dict[str, Any], env: Env) -> Markup:
    """The top frame's full HTML (what the conversation's container shows)."""
    iid = cv.top(conv)
    if iid is None:
        return Markup("")
    with ambient(env.app, conv.get("principal"), conv["id"]):
        rs = RenderState(conv["instances"], conv["id"], Urls(conv.get("base") or ""), env.templates)
        try:
            return render_instance(rs, iid)
        except Exception as exc:
            log.error("stube component error cid=%s iid=%s phase=render", conv["id"], iid, exc_info=exc)
            return Markup(banner_html(conv["id"], iid, "render", error_message(exc)))
