"""The transaction: a working copy of a conversation while one event folds.

A :class:`Txn` replaces records, never mutates them, and remembers each
replaced record once (its old value): that undo log becomes the step's
history entry, so ``back()`` costs what the step changed. What to repaint is
collected in a :class:`PaintPlan` through named operations; ``stube.paint``
turns the plan into fragments once the fold is over (painting is deferred, so
an instance changed three times renders once).

:class:`Env`, :class:`Command` and :class:`StashWrite` live here because the
transaction carries them; ``stube.kernel`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import conversation as cv
from . import effects as fx
from .component import Component, _registry, lookup
from .fragments import HISTORY, Fragment
from .render import Templates


@dataclass(slots=True)
class Command:
    """An asynchronous effect for the runtime: ``after``, ``io``, ``subscribe``, ... or a stash write."""

    kind: str
    iid: str
    effect: Any


@dataclass(slots=True)
class StashWrite:
    """Stashed attributes of one view that changed (``vsn`` is the view's shape version)."""

    view: str
    changes: dict[str, Any]
    vsn: int


class Env:
    """What the kernel needs from its host.

    ``stash`` is the browser session's stash, preloaded as ``{view: {"vsn",
    "data"}}`` (``None`` disables stash recovery); ``live`` is a per-host dict
    where flows keep their continuations; ``backtrack`` gives every step a
    browser history entry. ``debug`` puts exception text in
    error banners (otherwise they show a generic message and an error id).
    """

    def __init__(self, templates: Templates | None = None, *, app: Any = None,
                 history_limit: int = cv.DEFAULT_HISTORY_LIMIT,
                 stash: Mapping[str, Mapping[str, Any]] | None = None,
                 live: dict[Any, Any] | None = None, debug: bool = False, backtrack: bool = False) -> None:
        self.templates = templates or Templates()
        self.app = app
        self.history_limit = history_limit
        self.stash = stash
        self.live = live if live is not None else {}
        self.debug = debug
        #: Each step gets a browser history entry (``STEP`` fragments): Back and Forward travel.
        self.backtrack = backtrack

    def with_stash(self, stash: Mapping[str, Mapping[str, Any]] | None) -> Env:
        """The same environment with another session's stash preloaded."""
        return Env(self.templates, app=self.app, history_limit=self.history_limit,
                   stash=stash, live=self.live, debug=self.debug, backtrack=self.backtrack)


class PaintPlan:
    """What one fold must repaint, written through named operations and read by ``stube.paint``."""

    __slots__ = ("auto", "forced", "own", "placed", "extras", "banners", "explicit_history")

    def __init__(self) -> None:
        self.auto: dict[str, None] = {}       # state changed: re-render unless it painted itself
        self.forced: dict[str, None] = {}     # structure changed: re-render
        self.own: set[str] = set()            # sent its own markup (patch, keyed fragments)
        self.placed: list[tuple[Fragment, str | None]] = []
        self.extras: list[Fragment] = []
        self.banners: dict[str, Fragment] = {}
        self.explicit_history = False

    def changed(self, iid: str) -> None:
        """``iid``'s state changed: re-render it unless it painted itself."""
        self.auto[iid] = None

    def restructure(self, iid: str) -> None:
        """``iid``'s children changed: re-render it whatever else it sent."""
        self.forced[iid] = None

    def painted_itself(self, iid: str) -> None:
        """``iid`` sent explicit markup (a patch, keyed inserts): no automatic re-render."""
        self.own.add(iid)

    def place(self, frag: Fragment, fill: str | None = None) -> None:
        """A structural fragment (insert, remove, slot swap); ``fill`` is the instance rendered into it."""
        self.placed.append((frag, fill))

    def send(self, frag: Fragment) -> None:
        """A fragment that goes out as it is (patch, script, history)."""
        self.extras.append(frag)

    def set_history(self, frag: Fragment) -> None:
        """An explicit ``history()`` effect: the root's ``url()`` projection stays silent this step."""
        self.extras.append(frag)
        self.explicit_history = True

    def banner(self, iid: str, frag: Fragment) -> None:
        self.banners[iid] = frag

    def drop(self, iid: str) -> None:
        """``iid`` left the conversation: nothing of its own to re-render."""
        self.auto.pop(iid, None)
        self.forced.pop(iid, None)

    def wanted(self) -> list[str]:
        """Instances to re-render, forced ones first (before the display and ancestor filters)."""
        forced, own = self.forced, self.own
        if not forced and not own:
            return list(self.auto)
        return [*forced, *(iid for iid in self.auto if iid not in own and iid not in forced)]


#: How the kernel folds one effect: ``fold(tx, effect, origin)``.
Fold = Callable[["Txn", Any, str], None]


class Txn:
    """A working copy of ``base`` while one event folds (see the module docstring).

    ``folds`` maps effect types to their fold (the kernel's ``_FOLD``), so that
    lifecycle hooks and keyed lists fold their effects without importing the kernel.
    """

    def __init__(self, conv: dict[str, Any], env: Env, folds: Mapping[type, Fold] | None = None) -> None:
        self.env = env
        self.folds: Mapping[type, Fold] = folds or {}
        self.base = conv
        self.rewound = False
        #: Form fields the event lifted, ``{iid: {field: value}}`` (kept in the history entry).
        self.lifted: dict[str, dict[str, Any]] | None = None
        # _load(conv), inlined: one transaction per event.
        self.conv = dict(conv)
        self.instances: dict[str, dict[str, Any]] = conv["instances"]
        self._own_instances = False
        self.stack: list[str] = conv["stack"][:]  # a slice is exactly its size (list() over-allocates)
        self.conv["stack"] = self.stack
        self.undo_i: dict[str, dict[str, Any] | None] = {}
        self.undo_t: dict[str, Any] = {}
        self.plan = PaintPlan()
        self.commands: list[Command] = []
        self.removed: list[str] = []
        self.touched = False

    def _load(self, conv: dict[str, Any]) -> None:
        """Start the working copy (and everything derived from it) at ``conv``."""
        self.conv = dict(conv)
        self.instances = conv["instances"]
        self._own_instances = False
        self.stack = conv["stack"][:]
        self.conv["stack"] = self.stack
        self.undo_i = {}
        self.undo_t = {}
        self.plan = PaintPlan()
        self.commands = []
        self.removed = []
        self.touched = False

    def rewind_to(self, restored: dict[str, Any]) -> None:
        """Continue from ``restored`` (the step before ``base``): no new history entry is made."""
        before = set(self.instances)
        self._load(restored)
        self.rewound = True
        self.touched = True
        self.removed = [iid for iid in before if iid not in self.instances]

    # -- records --

    def get(self, iid: str) -> dict[str, Any] | None:
        return self.instances.get(iid)

    def put(self, iid: str, rec: dict[str, Any]) -> None:
        if not self._own_instances:  # _own(), inlined: every changing event writes once
            self.instances = dict(self.instances)
            self.conv["instances"] = self.instances
            self._own_instances = True
        if iid not in self.undo_i:
            self.undo_i[iid] = self.instances.get(iid)
        self.instances[iid] = rec
        self.touched = True

    def delete(self, iid: str) -> None:
        if iid in self.instances:
            self._own()
            if iid not in self.undo_i:
                self.undo_i[iid] = self.instances[iid]
            del self.instances[iid]
            self.touched = True

    def _own(self) -> None:
        """Copy the shared instances dict once, on the first write (copy-on-write)."""
        if not self._own_instances:
            self.instances = dict(self.instances)
            self.conv["instances"] = self.instances
            self._own_instances = True

    def set_top(self, key: str, value: Any) -> None:
        if self.conv.get(key) != value:
            if key not in self.undo_t:
                self.undo_t[key] = self.base.get(key)
            self.conv[key] = value

    def new_iid(self) -> str:
        return cv.new_iid(self.instances)

    def cls_of(self, iid: str) -> type[Component]:
        name = self.instances[iid]["type"]
        cls = _registry.get(name)  # lookup(), inlined (it raises for an unknown name)
        return cls if cls is not None else lookup(name)

    def created(self) -> list[str]:
        """Instances this fold created (hosts release what they started if it is abandoned)."""
        return [i for i, old in self.undo_i.items() if old is None]

    @property
    def ended(self) -> bool:
        return bool(self.conv.get("ended"))

    # -- the FlowHost protocol (context.flow_host) --

    @property
    def cid(self) -> str:
        return self.conv["id"]  # type: ignore[no-any-return]

    @property
    def live(self) -> dict[Any, Any]:
        return self.env.live

    def record(self, iid: str) -> dict[str, Any] | None:
        return self.instances.get(iid)

    # -- reading the working value --

    def displayed(self, iid: str) -> bool:
        """Is the instance part of what the page shows (the top frame's visible tree)?"""
        return cv.displayed(self.conv, iid)

    def ancestors(self, iid: str) -> Iterator[str]:
        rec = self.instances.get(iid)
        while rec is not None and rec["kind"] != "frame":
            iid = rec["parent"]
            yield iid
            rec = self.instances.get(iid)

    # -- folding --

    def fold(self, effects: Iterable[fx.Effect], origin: str, *, after_rewind: bool = False) -> None:
        """Fold ``effects`` in order; stop once the conversation ended or rewound.

        ``after_rewind`` keeps folding a rewound step (the side effects of the
        ``wakeup`` hooks of the frame rewound to).
        """
        for eff in effects:
            if self.conv.get("ended") or (self.rewound and not after_rewind):
                return
            self.folds[type(eff)](self, eff, origin)

    def history(self, url: str, mode: str) -> None:
        """The root's ``url()`` projection moved: tell the browser unless a ``history()`` effect did."""
        if not self.plan.explicit_history:
            self.plan.send(Fragment(HISTORY, html=url, mode=mode))

    # -- the result --

    def result(self, *, record: bool = True) -> dict[str, Any]:
        """The next conversation value, with this step's undo entry in its history when ``record``."""
        conv = self.conv
        moved = self.stack != self.base["stack"]
        changed = self.touched or moved or self.undo_t
        if not changed and not self.rewound:
            # Nothing the user can undo happened; keep the value (but note the painted frame).
            if conv.get("painted") == self.base.get("painted"):
                return self.base
            return conv
        if moved:
            conv["stack"] = self.stack[:]  # pushes over-allocate: the value keeps an exact copy
        conv["version"] = self.base.get("version", 0) + 1
        if record and not self.rewound:
            entry = self.history_entry()
            limit = conv.get("history_limit", cv.DEFAULT_HISTORY_LIMIT)  # cv.history_limit(), inlined
            if type(limit) is not int:
                limit = cv.DEFAULT_HISTORY_LIMIT
            if limit > 0:
                past: list[dict[str, Any]] = self.base.get("history") or []  # absent: no steps yet
                # One new list, exactly its size (a copy then ``append`` would over-allocate).
                conv["history"] = (past[len(past) - limit + 1:] if len(past) >= limit else past) + [entry]
            conv["step"] = conv["version"]  # a new step: its label is unique in this conversation
            conv.pop("future", None)        # it branches: the steps Back left behind are gone
        return conv

    def history_entry(self) -> dict[str, Any]:
        """The undo log: replaced records, the old stack, the top-level keys ``back()`` restores."""
        step = self.base.get("step", 0)  # cv.step_of(), inlined: once per event
        entry: dict[str, Any] = {"v": step if isinstance(step, int) else 0}
        if self.lifted:
            entry["f"] = self.lifted
        if self.undo_i:
            entry["i"] = self.undo_i
        if self.stack != self.base["stack"]:
            entry["s"] = list(self.base["stack"])
        undo_t = {k: v for k, v in self.undo_t.items() if k in ("last_url", "ended", "result")}
        if undo_t:
            entry["t"] = undo_t
        return entry
