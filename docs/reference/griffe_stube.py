"""A griffe extension for stube's API reference (loaded by mkdocs.yml, not part of the package).

Two jobs:

* Names that ``stube`` exports lazily through a module ``__getattr__``
  (``RedisStore``, ``RedisStashStore``: the ``redis`` package stays optional)
  are invisible to static analysis. For every name in ``stube.__all__`` that
  griffe did not find, this adds an alias to wherever the object really lives
  (read from the imported object), so ``::: stube.RedisStore`` keeps resolving
  when modules move.
* Attributes documented Sphinx-style with ``#:`` comments above them
  (``Component.template``, ``Harness.commands``) get those comments as their
  docstrings, which griffe does not read by itself.
* stube's docstrings are written for ``help()`` and use a little reST
  (``:class:`~stube.Harness```, a paragraph ending in ``::``). Markdown shows
  those roles as noise; they become plain inline code here.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`(~?)([^`]+)`")
_LITERAL = re.compile(r"::[ \t]*$", re.MULTILINE)


def _clean(text: str) -> str:
    text = _ROLE.sub(lambda m: "``" + (m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)) + "``", text)
    # "Example::" introduces an indented block: keep one colon; a bare "::" line disappears.
    text = re.sub(r"^[ \t]*::[ \t]*\n", "", text, flags=re.MULTILINE)
    return _LITERAL.sub(":", text)


class StubeDocs(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.path != "stube":
            return
        module = importlib.import_module("stube")
        for name in getattr(module, "__all__", ()):
            if name in pkg.members:
                continue
            obj = getattr(module, name)
            target = f"{obj.__module__}.{obj.__qualname__}"
            pkg.set_member(name, griffe.Alias(name, target, parent=pkg))

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _clean(obj.docstring.value)

    def on_attribute(self, *, attr: griffe.Attribute, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if attr.docstring is not None or not attr.lineno:
            return
        try:
            lines = attr.lines_collection[attr.filepath]  # type: ignore[index]
        except (KeyError, ValueError, TypeError):
            return
        doc: list[str] = []
        i = attr.lineno - 2
        while i >= 0 and lines[i].strip().startswith("#:"):
            doc.insert(0, lines[i].strip()[2:].strip())
            i -= 1
        if doc:
            attr.docstring = griffe.Docstring(_clean("\n".join(doc)), parent=attr)
