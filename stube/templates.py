"""The Jinja2 environment stube renders with: the app's folders first, then stube's own.

:class:`Templates` owns the environment (autoescape on, ``self`` renamed to the
component, the template helpers as globals) and its template caches; a
missing template or an undefined name raises an error that says where.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import jinja2.runtime
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup

from . import context as _context
from .component import Component
from .helpers import back_button, has_slot, keyed, on, root, slot, upload

PACKAGE_DIR = Path(__file__).resolve().parent


def _asset_dir(name: str) -> Path:
    """``templates``/``static`` inside an installed wheel, or beside the package in a checkout."""
    inside = PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    return PACKAGE_DIR.parent / name


TEMPLATES_DIR = _asset_dir("templates")
STATIC_DIR = _asset_dir("static")

#: The name templates use for the component (``self`` is reserved by Jinja2).
SELF = "stube_self"


class SelfIsComponent(Extension):
    """Let templates say ``{{ self.n }}``: Jinja2 reserves ``self``, so rename it at lex time."""

    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        tokens = list(stream)  # compile time only: a template's tokens fit in memory
        for i, token in enumerate(tokens):
            # ``self`` as a name; not an attribute (``x.self``) nor a keyword argument (``f(self=1)``).
            if (token.type == "name" and token.value == "self"
                    and not (i and tokens[i - 1].type == "dot")
                    and not (i + 1 < len(tokens) and tokens[i + 1].type == "assign"
                             and i and tokens[i - 1].type in ("lparen", "comma"))):
                yield Token(token.lineno, "name", SELF)
            else:
                yield token


def resolve_folders(folders: Iterable[str | Path], base: Path) -> list[Path]:
    """``folders`` with the relative ones taken against ``base`` (absolute ones as given).

    Flask's ``root_path`` rule: ``templates=["templates"]`` means the folder
    beside the module that creates the app, whatever the working directory.
    """
    out = []
    for folder in folders:
        path = Path(folder).expanduser()
        out.append(path if path.is_absolute() else base / path)
    return out


class MissingTemplate(jinja2.TemplateNotFound):
    """A template name found in none of the folders; the message lists every folder searched."""

    def __init__(self, name: str, folders: Sequence[Path]) -> None:
        where = ", ".join(str(f) for f in folders)
        super().__init__(name, f"template {name!r} not found in: {where}")
        self.folders = list(folders)


#: The helpers stube puts in every template; none takes Jinja's context.
_HELPERS = frozenset({root, on, slot, has_slot, keyed, back_button, upload})


class _Context(jinja2.runtime.Context):
    """Jinja2's context, calling stube's own helpers straight away.

    ``Context.call`` inspects every callable a template calls for
    ``pass_context`` and friends; a component's template calls ``root()`` and
    ``on()`` on every render, and they take none.
    """

    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's own signature)
        try:
            own = __obj in _HELPERS
        except TypeError:  # an unhashable callable
            own = False
        if not own:
            return super().call(__obj, *args, **kwargs)
        if kwargs:
            kwargs.pop("_block_vars", None)  # what Jinja passes inside loops and blocks, for pass_context
            kwargs.pop("_loop_vars", None)
        return __obj(*args, **kwargs)


class _Environment(jinja2.Environment):
    context_class = _Context


class Templates:
    """A Jinja2 environment: the app's folders first, then stube's own templates.

    ``strict`` makes an undefined name an error (Jinja2's ``StrictUndefined``)
    instead of an empty string, so ``{{ self.itmes }}`` fails naming the
    template, the line and the name. ``auto_reload`` re-reads a template whose
    file changed (a stat per render: for debug, not production). A missing
    template is a :class:`MissingTemplate` listing the folders searched.
    """

    def __init__(self, folders: Sequence[str | Path] = (), *, auto_reload: bool = False,
                 strict: bool = False) -> None:
        self.folders = [Path(f) for f in folders]
        #: Where templates are looked up, in order (absolute, so a message shows what the
        #: working directory made of a relative folder).
        self.searched = [f.absolute() for f in self.folders] + [TEMPLATES_DIR]
        self.auto_reload = auto_reload
        self.strict = strict
        loader = jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader([str(f) for f in self.folders]),
             jinja2.FileSystemLoader(str(TEMPLATES_DIR))]
        )
        self.env = _Environment(
            loader=loader,
            autoescape=True,
            auto_reload=auto_reload,
            extensions=[SelfIsComponent],
            undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
        )
        self.env.globals.update(
            root=root, on=on, slot=slot, has_slot=has_slot, keyed=keyed, back_button=back_button, upload=upload,
            app=_context.app, principal=_context.principal,
            conversation_id=_context.conversation_id,
        )
        self._by_class: dict[type, jinja2.Template | None] = {}
        self._by_source: dict[str, jinja2.Template] = {}
        #: ``on()`` attributes already rendered, by their inputs (see ``on``).
        self.on_cache: dict[Any, tuple[str, str]] = {}

    def for_class(self, cls: type[Component]) -> jinja2.Template | None:
        tmpl = self._by_class.get(cls, False)
        if tmpl is False:
            if cls.template_string is not None:
                tmpl = self.from_string(cls.template_string)
            elif cls.template:
                tmpl = self._flat(self.get(cls.template))
            else:
                tmpl = None
            if not (self.auto_reload and cls.template_string is None):
                self._by_class[cls] = tmpl
        return tmpl  # type: ignore[return-value]

    def _flat(self, tmpl: jinja2.Template) -> jinja2.Template:
        """Let a template read the environment's globals dict directly.

        Jinja2 gives every template a ``ChainMap(own, env.globals)`` and copies
        it, key by key, into each render's context: about half the cost of
        rendering a small component. Ours have no globals of their own, so the
        plain dict is equivalent (and globals added later stay visible).
        """
        g = tmpl.globals
        if isinstance(g, ChainMap) and len(g.maps) == 2 and not g.maps[0] and g.maps[1] is self.env.globals:
            tmpl.globals = self.env.globals
        return tmpl

    def from_string(self, source: str) -> jinja2.Template:
        tmpl = self._by_source.get(source)
        if tmpl is None:
            tmpl = self._flat(self.env.from_string(source))
            if len(self._by_source) < 1024:
                self._by_source[source] = tmpl
        return tmpl

    def get(self, name: str) -> jinja2.Template:
        """The template ``name``; :class:`MissingTemplate` (listing the folders) when there is none."""
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise MissingTemplate(str(exc.name or name), self.searched) from None

    def render(self, tmpl: jinja2.Template, context: Mapping[str, Any]) -> Markup:
        """Render ``tmpl``; an undefined name is re-raised with the template and line it is on."""
        try:
            return Markup(tmpl.render(context))
        except UndefinedName:
            raise  # a child's template: already located
        except jinja2.UndefinedError as exc:
            raise UndefinedName(_located(exc, tmpl)) from exc
        except MissingTemplate:
            raise
        except jinja2.TemplateNotFound as exc:  # an {% include %} or {% extends %} of a missing name
            raise MissingTemplate(str(exc.name or exc), self.searched) from None


class UndefinedName(jinja2.UndefinedError):
    """An undefined name in a template, with the template's name and the line it is on."""


def _located(exc: jinja2.UndefinedError, tmpl: jinja2.Template) -> str:
    """``exc``'s message with the template name and line (from the rewritten traceback)."""
    filename = tmpl.filename or "<template>"
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    name = tmpl.name or "<template_string>"
    return f"{exc} (template {name!r}, line {line if line is not None else '?'})"
