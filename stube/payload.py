"""Binding event payloads to handler parameters.

Inside a :class:`~stube.testing.Harness` payload values arrive as given. Over
the wire they arrive form-encoded (``str``, or a list of ``str`` for repeated
keys) and are converted to each parameter's annotation: ``int``, ``float``,
``bool``; ``list`` and ``dict`` decoded from JSON; unannotated parameters get
``str``. Keys the handler does not take are dropped; a missing required one
is a :class:`~stube.errors.BadPayload`.

Wire values come from strangers, so conversion is strict: numbers are ASCII
digits of bounded length and finite; JSON is bounded in depth and size and
its elements are checked against ``list[X]`` / ``dict[str, X]``; no string
may hold a lone surrogate (it cannot be encoded, so it would break every later
render of the conversation). Anything else is a ``BadPayload`` (HTTP 400).
Converting one value is ``stube.convert``. Over the wire a ``files`` argument
is only ever what the multipart parser produced: a client-sent ``files``
value binds as ``[]``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .convert import _EMPTY, _INT, MAX_DEPTH, MAX_ITEMS, MAX_NUMBER, Raw, _last, _text, convert_value
from .errors import BadPayload

__all__ = ["FILES", "MAX_DEPTH", "MAX_ITEMS", "MAX_NUMBER", "Param", "Raw", "Signature", "bind",
           "convert_value", "signature"]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    annotation: Any
    required: bool


@dataclass(frozen=True, slots=True)
class Signature:
    params: tuple[Param, ...]
    var_keyword: bool
    #: Positional parameters filled by the kernel (``self``, ``handle``'s ``name``): never from a payload.
    skipped: frozenset[str] = frozenset()


@lru_cache(maxsize=8192)
def signature(fn: Callable[..., Any], skip: int = 1) -> Signature:
    """The bindable parameters of ``fn``, skipping ``self`` (and ``name`` for ``handle``)."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = _parameter_hints(fn, sig)
    params = []
    var_kw = False
    skipped = set()
    for i, p in enumerate(sig.parameters.values()):
        if i < skip and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            skipped.add(p.name)
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        params.append(Param(p.name, hints.get(p.name, p.annotation), p.default is _EMPTY))
    return Signature(tuple(params), var_kw, frozenset(skipped))


def _parameter_hints(fn: Callable[..., Any], sig: inspect.Signature) -> dict[str, Any]:
    """Resolve parameter annotations one by one (a return annotation that only exists for type
    checkers must not turn ``amount: int`` into a string). An unresolvable one is an error."""
    hints: dict[str, Any] = {}
    namespace = getattr(fn, "__globals__", {})
    for p in sig.parameters.values():
        ann = p.annotation
        if isinstance(ann, str):
            try:
                ann = eval(ann, namespace)  # noqa: S307 - the author's own annotation source
            except Exception as exc:
                raise TypeError(f"{getattr(fn, '__qualname__', fn)}: cannot resolve the annotation "
                                f"of {p.name!r} ({ann!r}: {exc})") from None
        hints[p.name] = ann
    return hints


def bind(fn: Callable[..., Any], payload: dict[str, Any], *, convert: bool, skip: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``fn`` from ``payload`` (converted when ``convert``).

    Over the wire (``convert``) a ``files`` argument is only ever what the
    multipart parser produced (a :class:`Raw` list): a client-sent ``files``
    key (form field, query string, ``hx-vals``, text part) is an empty list,
    so no handler can be made to open a path a stranger chose.
    """
    sig = signature(fn, skip)
    kwargs: dict[str, Any] = {}
    if convert and FILES in payload:
        payload = _uploads_only_from_parser(payload)
    for p in sig.params:
        if p.name in payload:
            value = payload[p.name]
            if not convert:
                kwargs[p.name] = value
                continue
            ann = p.annotation
            # The common wire values, converted here exactly as convert_value() would.
            if type(value) is str and value.isascii():
                if ann is int and len(value) <= MAX_NUMBER and _INT.fullmatch(value):
                    kwargs[p.name] = int(value)
                    continue
                if ann is str or ann is _EMPTY or ann is Any:
                    kwargs[p.name] = value
                    continue
            kwargs[p.name] = convert_value(value, ann, p.name)
        elif p.required:
            raise BadPayload(f"{getattr(fn, '__qualname__', fn)} needs {p.name!r} in the payload")
    if sig.var_keyword:
        taken = {p.name for p in sig.params} | sig.skipped
        for k, v in payload.items():
            if k not in taken:
                kwargs[k] = _text(_last(v), k) if convert else v
    return kwargs


#: The payload key that carries uploaded files (see :func:`bind`).
FILES = "files"


def _uploads_only_from_parser(payload: dict[str, Any]) -> dict[str, Any]:
    value = payload.get(FILES)
    if value is None or isinstance(value, Raw):
        return payload
    return {**payload, FILES: Raw([])}
