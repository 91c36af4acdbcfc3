"""Components: the base class, ``@event``, type names and the registry.

A component's *state* is its instance attributes. The kernel keeps only the
type name and a JSON copy of that state in the conversation, and rebuilds an
object from them for every dispatch and render (``__init__`` runs once, when
the embed spec is made). Class-level members (``template``, ``fields``,
hooks, ...) are always read from the class, so a state attribute may share a
name with one of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from .context import rendering
from .jsonstate import copy_attributes, json_copy

log = logging.getLogger("stube")

#: Methods the kernel calls itself; never reachable as events.
HOOKS = frozenset({"start", "stop", "wakeup", "children", "url", "render", "handle", "migrate_stash"})

#: Class-level members the kernel reads itself: an ``@event`` of one of these names is a mistake.
RESERVED = HOOKS | frozenset({"template", "template_string", "fields", "stash", "stash_vsn", "name", "iid",
                              "render_string"})

#: The key under which a live object carries its instance id (never part of state).
IID_KEY = "_stube_iid"

F = TypeVar("F", bound=Callable[..., Any])


def event(fn: F) -> F:
    """Mark a method as an event handler: the only methods the browser can reach.

    ::

        class Counter(Component):
            @event
            def add(self, amount: int):
                self.n += amount
    """
    fn._stube_event = True  # type: ignore[attr-defined]
    return fn


def is_event(fn: Any) -> bool:
    return getattr(fn, "_stube_event", False) is True


def type_name(cls: type) -> str:
    """The name stored in conversations: ``name = "..."`` on the class, else ``module.QualName``."""
    own = cls.__dict__.get("name")
    if isinstance(own, str) and own:
        return own
    return f"{cls.__module__}.{cls.__qualname__}"


def css_class(name: str) -> str:
    """The CSS class every root element carries, derived from the type name."""
    return "stube-c-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


class Registry:
    """Type name -> class for every component class defined in this process.

    Conversations store type names; this is how they become classes again.
    ``generation`` grows with every class added, so callers can cache what they
    derive from the registry.
    """

    __slots__ = ("classes", "generation")

    def __init__(self) -> None:
        self.classes: dict[str, type[Component]] = {}
        self.generation = 0

    def add(self, cls: type[Component]) -> None:
        name = cls._stube_type
        previous = self.classes.get(name)
        if previous is not None and previous is not cls:
            log.debug("component type %s redefined; live instances use the new class", name)
        self.classes[name] = cls
        self.generation += 1

    def find(self, name: str) -> type[Component] | None:
        return self.classes.get(name)

    def lookup(self, name: str) -> type[Component]:
        try:
            return self.classes[name]
        except KeyError:
            raise LookupError(
                f"unknown component type {name!r}: import the module that defines it before "
                "restoring conversations that use it"
            ) from None


#: The process's registry (component classes register themselves when defined).
REGISTRY = Registry()
#: The registry's dict itself (older callers read it directly).
_registry = REGISTRY.classes


def lookup(name: str) -> type[Component]:
    """Resolve a stored type name back to its class.

    Raises ``LookupError`` naming the type when its module was never imported.
    """
    cls = _registry.get(name)  # the registry's dict itself: one call per lookup on the event path
    return cls if cls is not None else REGISTRY.lookup(name)


def find_type(name: str) -> type[Component] | None:
    """The class registered under ``name``, or ``None`` (a type this process does not know)."""
    return REGISTRY.classes.get(name)


def registered() -> dict[str, type[Component]]:
    """A copy of the registry (type name -> class)."""
    return dict(REGISTRY.classes)


def generation() -> int:
    """Grows with every class registered: lets callers cache what they derive from the registry."""
    return REGISTRY.generation


def _check_class(cls: type[Component]) -> None:
    """Mistakes visible in the class body fail at import time, naming class and member."""
    own = cls.__dict__
    where = cls.__qualname__
    for member, value in own.items():
        if is_event(value) or is_event(getattr(value, "__func__", None)):
            if member in RESERVED:
                raise TypeError(f"{where}.{member}: {member!r} is reserved by stube "
                                f"(a hook or class setting), so it cannot be an @event; rename the method")
            if member.startswith("_"):
                raise TypeError(f"{where}.{member}: names starting with '_' are never reachable as events; "
                                "drop @event or rename the method")
    for hook in HOOKS:
        if hook in own and not callable(own[hook]):
            raise TypeError(f"{where}.{hook} is a hook stube calls; define it as a method, not {own[hook]!r}")
    if own.get("template") is not None and own.get("template_string") is not None:
        raise TypeError(f"{where} sets both template and template_string; keep one")
    for setting in ("template", "template_string"):
        if own.get(setting) is not None and not isinstance(own[setting], str):
            raise TypeError(f"{where}.{setting} must be a str, got {own[setting]!r}")
    for setting in ("fields", "stash"):
        if setting in own:
            value = own[setting]
            if isinstance(value, str) or not isinstance(value, (tuple, list, frozenset, set)) \
                    or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{where}.{setting} must be a tuple of attribute names, "
                                f"e.g. ({value!r},), got {value!r}")
    if "_stube_receivers" in own:
        value = own["_stube_receivers"]
        if not isinstance(value, frozenset) or not all(isinstance(v, str) and v.startswith("_") for v in value):
            raise TypeError(f"{where}._stube_receivers must be a frozenset of private method names "
                            f"(public methods need no declaring), got {value!r}")
    if "stash_vsn" in own and (type(own["stash_vsn"]) is not int or own["stash_vsn"] < 1):
        raise TypeError(f"{where}.stash_vsn must be a positive int, got {own['stash_vsn']!r}")


class Component:
    """Base class of every stube component.

    Subclasses set ``template`` (a Jinja2 template name), ``template_string``
    (inline Jinja2 source) or define ``render()``; mark browser-reachable
    methods with :func:`event`; and may define the optional hooks below.
    Handlers and hooks mutate ``self`` and return ``None``, one effect or a
    list of effects.
    """

    #: Jinja2 template name, searched in the app's folders, then stube's own.
    template: ClassVar[str | None] = None
    #: Inline Jinja2 source, an alternative to ``template``.
    template_string: ClassVar[str | None] = None
    #: Form fields lifted onto ``self`` (as strings) before any handler runs.
    fields: ClassVar[tuple[str, ...]] = ()
    #: Attributes kept in the browser session's stash for this view.
    stash: ClassVar[tuple[str, ...]] = ()
    #: Shape version of the stashed attributes; see ``migrate_stash``.
    stash_vsn: ClassVar[int] = 1

    #: Private methods (``_``-names) the kernel may deliver answers, io results and
    #: internal events to, e.g. a flow's resume targets. Never reachable from the browser.
    _stube_receivers: ClassVar[frozenset[str]] = frozenset()
    #: The receiver of an error answer to a call that names no ``on_error`` (``None``: a banner
    #: on the caller). Flows set it, so their child records need not each spell it out.
    _stube_on_error: ClassVar[str | None] = None

    # Filled by __init_subclass__.
    _stube_type: ClassVar[str] = "stube.Component"
    _stube_css: ClassVar[str] = "stube-c-stube-Component"
    _stube_hooks: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_class(cls)
        name = type_name(cls)
        cls._stube_type = name
        cls._stube_css = css_class(name)
        cls._stube_hooks = frozenset(
            h for h in HOOKS if getattr(cls, h, None) is not getattr(Component, h, None)
        )
        REGISTRY.add(cls)

    @property
    def iid(self) -> str | None:
        """This instance's id inside its conversation (``None`` for an embed spec)."""
        return self.__dict__.get(IID_KEY)

    # -- optional hooks (documented here; the kernel calls them through the class) --

    def start(self) -> Any:
        """After instantiation: may return effects (a task component's first ``call``)."""

    def stop(self) -> Any:
        """Just before removal (answer, replace, end, keyed removal). State changes are discarded."""

    def wakeup(self) -> Any:
        """When a restored or rewound frame becomes live again: re-arm timers, resubscribe."""

    def children(self) -> dict[str, Component]:
        """Eager child slots, created with this instance: ``{"slot": Child(...)}``."""
        return {}

    def url(self) -> str | tuple[str, str] | None:
        """Root only: the browser URL as a projection of state.

        Return a string (replace), ``("push", url)``, ``("replace", url)`` or ``None``.
        """
        return None

    def render(self) -> str:  # pragma: no cover - replaced by subclasses
        """Return HTML for this instance (an alternative to ``template``)."""
        raise NotImplementedError

    def handle(self, name: str, **payload: Any) -> Any:  # pragma: no cover - overridden
        """Catch-all for event names that are not attributes of the class."""
        raise NotImplementedError

    def migrate_stash(self, old_vsn: int, data: dict[str, Any]) -> dict[str, Any] | None:
        """Migrate stashed data written under ``old_vsn``; ``None`` discards it."""
        return None

    def render_string(self, source: str, **context: Any) -> Any:
        """Render inline Jinja2 ``source`` for this instance, with every template helper.

        Useful inside ``render()`` to pick between several snippets.
        """
        return rendering("render_string").scope.render_source(self, source, context)

    def __repr__(self) -> str:
        state = ", ".join(f"{k}={v!r}" for k, v in capture(self).items())
        return f"<{type(self)._stube_type} {self.iid or 'spec'} {state}>"


def capture(obj: Component) -> dict[str, Any]:
    """The object's state: its attributes without the framework's own key."""
    d = obj.__dict__
    if IID_KEY in d:
        d = dict(d)
        del d[IID_KEY]
    return d


def capture_json(obj: Component) -> dict[str, Any]:
    """A validated JSON copy of the object's state; the error names class and attribute."""
    d = obj.__dict__
    if IID_KEY in d:  # capture(), inlined: this runs once per event
        d = dict(d)
        del d[IID_KEY]
    return copy_attributes(d, type(obj).__qualname__)


def build(cls: type[Component], state: dict[str, Any], iid: str, *, copy: bool) -> Component:
    """Rebuild a live object from stored state without running ``__init__``.

    ``copy=True`` gives the handler its own containers to mutate; renders share.
    """
    obj = cls.__new__(cls)
    d = json_copy(state) if copy else dict(state)
    d[IID_KEY] = iid
    obj.__dict__ = d
    return obj


def spec_from(type_name: str, state: dict[str, Any]) -> Component:
    """An embed spec rebuilt from a stored type name and state (``__init__`` is not run again)."""
    cls = lookup(type_name)
    obj = cls.__new__(cls)
    obj.__dict__ = json_copy(state)
    return obj


def as_embed(value: Any) -> Component:
    """Accept an embed spec (``Confirm("Delete?")``) or a class (made with no arguments)."""
    if isinstance(value, Component):
        if value.iid is not None:
            raise TypeError(
                f"{value!r} is a live instance; embed a fresh spec (call the class) instead"
            )
        return value
    if isinstance(value, type) and issubclass(value, Component):
        return value()
    raise TypeError(
        f"expected a component spec such as Confirm('Delete?') or a Component class, got {value!r}"
    )
