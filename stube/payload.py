"""Binding event payloads to handler parameters.

Inside a :class:`~stube.testing.Harness` payload values arrive as given. Over
the wire they arrive form-encoded (``str``, or a list of ``str`` for repeated
keys) and are converted to each parameter's annotation: ``int``, ``float``,
``bool``; ``list`` and ``dict`` decoded from JSON; unannotated parameters get
``str``. Keys the handler does not take are dropped; a missing required one
is a :class:`~stube.errors.BadPayload`.
"""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import BadPayload

_EMPTY = inspect.Parameter.empty


class Raw:
    """A payload value that is already Python (uploaded file lists): passed through unconverted."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    annotation: Any
    required: bool


@dataclass(frozen=True, slots=True)
class Signature:
    params: tuple[Param, ...]
    var_keyword: bool


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
    for i, p in enumerate(sig.parameters.values()):
        if i < skip and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        params.append(Param(p.name, hints.get(p.name, p.annotation), p.default is _EMPTY))
    return Signature(tuple(params), var_kw)


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
    """Keyword arguments for ``fn`` from ``payload`` (converted when ``convert``)."""
    sig = signature(fn, skip)
    kwargs: dict[str, Any] = {}
    for p in sig.params:
        if p.name in payload:
            value = payload[p.name]
            kwargs[p.name] = convert_value(value, p.annotation, p.name) if convert else value
        elif p.required:
            raise BadPayload(f"{getattr(fn, '__qualname__', fn)} needs {p.name!r} in the payload")
    if sig.var_keyword:
        taken = {p.name for p in sig.params}
        for k, v in payload.items():
            if k not in taken:
                kwargs[k] = _last(v) if convert else v
    return kwargs


def _last(value: Any) -> Any:
    if isinstance(value, Raw):
        return value.value
    return value[-1] if isinstance(value, list) and value else value


def convert_value(value: Any, annotation: Any, name: str = "value") -> Any:
    """Convert a form-encoded value to ``annotation`` (raises :class:`BadPayload`)."""
    if isinstance(value, Raw):
        return value.value
    if annotation is _EMPTY or annotation is Any or annotation is str:
        return _last(value)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(annotation)
        if type(None) in args and _last(value) in ("", None):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert_value(value, arg, name)
            except BadPayload as exc:
                errors.append(str(exc))
        raise BadPayload("; ".join(errors) or f"{name}: cannot convert {value!r}")
    if origin is typing.Literal:
        raw = _last(value)
        for option in typing.get_args(annotation):
            if str(option) == raw or option == raw:
                return option
        raise BadPayload(f"{name}: {raw!r} is not one of {typing.get_args(annotation)}")
    target = origin or annotation
    if target is list or target is dict:
        if isinstance(value, list) and target is list:
            items = value
        else:
            raw = _last(value)
            if not isinstance(raw, str):
                items = raw
            else:
                try:
                    items = json.loads(raw)
                except ValueError:
                    if target is dict:
                        raise BadPayload(f"{name}: {raw!r} is not JSON") from None
                    items = [raw]  # one ticked checkbox of several: a form sends a single value
                if target is list and not isinstance(items, list):
                    items = [raw]
        if not isinstance(items, target):
            raise BadPayload(f"{name}: expected a JSON {target.__name__}")
        args = typing.get_args(annotation)
        if target is list and args and isinstance(items, list):
            return [convert_value(v, args[0], name) if isinstance(v, str) else v for v in items]
        return items
    raw = _last(value)
    if not isinstance(raw, str):
        return raw
    try:
        if target is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if target is int:
            return int(raw.strip())
        if target is float:
            number = float(raw.strip())
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
    except ValueError:
        raise BadPayload(f"{name}: {raw!r} is not a valid {target.__name__}") from None
    if isinstance(target, type):
        try:
            return target(raw)
        except Exception:
            raise BadPayload(f"{name}: cannot convert {raw!r} to {target.__name__}") from None
    return raw
