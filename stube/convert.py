"""Converting one wire value to a parameter's annotation, strictly.

Wire values come from strangers: numbers are ASCII digits of bounded length
and finite; JSON is bounded in depth and size and its elements are checked
against ``list[X]`` / ``dict[str, X]`` (the walk, :class:`_Walk`); no string
may hold a lone surrogate. Anything else is a :class:`~stube.errors.BadPayload`.
Binding a whole payload to a handler is ``stube.payload``.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import types
import typing
from typing import Any, NoReturn

from .errors import BadPayload

_EMPTY = inspect.Parameter.empty

#: Deepest JSON nesting a ``list``/``dict`` parameter accepts (``[[1]]`` is depth 2).
MAX_DEPTH = 32
#: Most JSON values (containers, keys' values and scalars) in one parameter.
MAX_ITEMS = 50_000
#: Longest number (in characters) an ``int`` or ``float`` accepts.
MAX_NUMBER = 64

_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}


class Raw:
    """A payload value that is already Python (uploaded file lists): passed through unconverted."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _last(value: Any) -> Any:
    if isinstance(value, Raw):
        return value.value
    return value[-1] if isinstance(value, list) and value else value


# -- conversion, one function per type family --------------------------------------------------


def convert_value(value: Any, annotation: Any, name: str = "value") -> Any:
    """Convert a form-encoded value to ``annotation`` (raises :class:`BadPayload`)."""
    if isinstance(value, Raw):
        return value.value
    if annotation is _EMPTY or annotation is Any or annotation is str:
        return _text(_last(value), name)
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, annotation, name)
    if origin is typing.Literal:
        return _literal(_last(value), annotation, name)
    target = origin or annotation
    if target is list or target is dict:
        return _container(value, annotation, target, name)
    raw = _last(value)
    if not isinstance(raw, str):
        return _checked(raw, name)
    return _scalar(raw, target, name)


def _union(value: Any, annotation: Any, name: str) -> Any:
    """``X | None`` is ``None`` for an empty value; otherwise the first member that converts."""
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
    raise BadPayload("; ".join(errors) or f"{name}: cannot convert {_show(value)}")


def _literal(raw: Any, annotation: Any, name: str) -> Any:
    options = typing.get_args(annotation)
    for option in options:
        if str(option) == raw or option == raw:
            return option
    raise BadPayload(f"{name}: {_show(raw)} is not one of {options}")


def _container(value: Any, annotation: Any, target: type, name: str) -> Any:
    """A ``list`` (repeated form keys, or JSON) or a ``dict`` (JSON), elements checked."""
    if isinstance(value, list) and target is list:
        items: Any = value
    else:
        raw = _last(value)
        if not isinstance(raw, str):
            items = raw
        else:
            try:
                items = _loads(raw, name)
            except _NotJson:
                if target is dict:
                    raise BadPayload(f"{name}: {_show(raw)} is not JSON") from None
                items = [raw]  # one ticked checkbox of several: a form sends a single value
            if target is list and not isinstance(items, list):
                items = [raw]
    if not isinstance(items, target):
        raise BadPayload(f"{name}: expected a JSON {target.__name__}")
    return _Walk(name).value(items, annotation, 0)


def _scalar(raw: str, target: Any, name: str) -> Any:
    """A ``bool``, ``int`` or ``float`` from its form text, or ``target(raw)`` for other classes."""
    if target is bool:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        _invalid(raw, "bool", name)
    if target is int:
        return _int(raw, name)
    if target is float:
        return _float(raw, name)
    text = _text(raw, name)
    if isinstance(target, type):
        try:
            return target(text)
        except Exception:
            raise BadPayload(f"{name}: cannot convert {_show(raw)} to {target.__name__}") from None
    return text


def _int(raw: str, name: str) -> int:
    """ASCII ``-?[0-9]+`` only: no ``1_000``, no padding, no other scripts' digits."""
    if len(raw) > MAX_NUMBER or not _INT.fullmatch(raw):
        _invalid(raw, "int", name)
    return int(raw)


def _float(raw: str, name: str) -> float:
    """ASCII decimal notation only, and finite (no ``nan``, ``inf`` or ``1e400``)."""
    if len(raw) > MAX_NUMBER or not _FLOAT.fullmatch(raw):
        _invalid(raw, "float", name)
    number = float(raw)
    if not math.isfinite(number):
        _invalid(raw, "float", name)
    return number


def _text(value: Any, name: str) -> Any:
    """``value`` unchanged, unless it is a string holding a lone surrogate."""
    if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
        raise BadPayload(f"{name}: text with a lone surrogate (not valid Unicode)")
    return value


def _checked(value: Any, name: str) -> Any:
    """A value that arrived as Python rather than text: checked as JSON if it looks like it."""
    if isinstance(value, (list, dict)):
        return _Walk(name).value(value, Any, 0)
    if isinstance(value, float) and not math.isfinite(value):
        _invalid(repr(value), "number", name)
    return _text(value, name)


def _invalid(raw: str, kind: str, name: str) -> NoReturn:
    raise BadPayload(f"{name}: {_show(raw)} is not a valid {kind}")


def _show(value: Any) -> str:
    """A short printable form of a value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


# -- JSON -------------------------------------------------------------------------------------


class _NotJson(Exception):
    """The text is not JSON at all (a list parameter then takes it as one value)."""


def _loads(raw: str, name: str) -> Any:
    """``json.loads`` bounded in depth, refusing NaN, Infinity, overflowing floats and huge ints."""
    if raw.count("[") + raw.count("{") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise BadPayload(f"{name}: JSON nested deeper than {MAX_DEPTH}")

    def constant(text: str) -> NoReturn:
        raise BadPayload(f"{name}: {text} is not a finite number")

    def number(text: str) -> float:
        value = float(text) if len(text) <= MAX_NUMBER else math.inf
        if not math.isfinite(value):
            raise BadPayload(f"{name}: {_show(text)} is not a valid float")
        return value

    def integer(text: str) -> int:
        if len(text) > MAX_NUMBER:
            raise BadPayload(f"{name}: {_show(text)} is not a valid int")
        return int(text)

    try:
        return json.loads(raw, parse_constant=constant, parse_float=number, parse_int=integer)
    except BadPayload:
        raise
    except RecursionError:  # unreachable after the depth check; kept so no input can be a 500
        raise BadPayload(f"{name}: JSON nested too deeply") from None
    except ValueError:
        raise _NotJson from None


def _depth(raw: str) -> int:
    """The deepest bracket nesting of JSON text, ignoring brackets inside strings."""
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", raw))
    depth = deepest = 0
    for ch in brackets:
        depth += 1 if ch in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break
    return deepest


class _Walk:
    """Checks a decoded JSON value against an annotation: depth, size, element types, text."""

    __slots__ = ("count", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def value(self, value: Any, annotation: Any, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_ITEMS:
            raise BadPayload(f"{self.name}: more than {MAX_ITEMS} JSON values")
        if annotation is _EMPTY or annotation is Any or annotation is object:
            return self.untyped(value, depth)
        origin = typing.get_origin(annotation)
        if origin is typing.Union or origin is types.UnionType:
            return self.union(value, annotation, depth)
        if origin is typing.Literal:
            return _literal(value, annotation, self.name)
        target = origin or annotation
        if target is list:
            return self.array(value, typing.get_args(annotation), depth)
        if target is dict:
            return self.mapping(value, typing.get_args(annotation), depth)
        return self.scalar(value, target)

    def untyped(self, value: Any, depth: int) -> Any:
        if isinstance(value, list):
            return self.array(value, (), depth)
        if isinstance(value, dict):
            return self.mapping(value, (), depth)
        if isinstance(value, float) and not math.isfinite(value):
            _invalid(repr(value), "number", self.name)
        return _text(value, self.name)

    def union(self, value: Any, annotation: Any, depth: int) -> Any:
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            count = self.count
            try:
                return self.value(value, arg, depth)
            except BadPayload as exc:
                self.count = count
                errors.append(str(exc))
        raise BadPayload("; ".join(errors) or f"{self.name}: cannot convert {_show(value)}")

    def array(self, value: Any, args: tuple[Any, ...], depth: int) -> list[Any]:
        if not isinstance(value, list):
            raise BadPayload(f"{self.name}: expected a list, got {_show(value)}")
        if depth >= MAX_DEPTH:
            raise BadPayload(f"{self.name}: JSON nested deeper than {MAX_DEPTH}")
        item = args[0] if args else Any
        return [self.value(v, item, depth + 1) for v in value]

    def mapping(self, value: Any, args: tuple[Any, ...], depth: int) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise BadPayload(f"{self.name}: expected a dict, got {_show(value)}")
        if depth >= MAX_DEPTH:
            raise BadPayload(f"{self.name}: JSON nested deeper than {MAX_DEPTH}")
        key_type, item = args if len(args) == 2 else (str, Any)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise BadPayload(f"{self.name}: dict key {_show(k)} is not a str")
            out[self.key(k, key_type)] = self.value(v, item, depth + 1)
        return out

    def key(self, key: str, key_type: Any) -> str:
        _text(key, self.name)
        if typing.get_origin(key_type) is typing.Literal:
            return typing.cast(str, _literal(key, key_type, self.name))
        if key_type is str or key_type is Any or key_type is _EMPTY:
            return key
        raise BadPayload(f"{self.name}: JSON object keys are str, not {key_type!r}")

    def scalar(self, value: Any, target: Any) -> Any:
        """An element of a typed container: the JSON type must match (form text is converted)."""
        if isinstance(value, str):
            return _scalar(value, target, self.name)
        if target is bool:
            ok = isinstance(value, bool)
        elif target is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif target is float:
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            ok = isinstance(value, float) and math.isfinite(value)
        elif target is str:
            ok = False  # strings were handled above
        elif target is type(None) or target is None:
            ok = value is None
        else:
            ok = isinstance(target, type) and isinstance(value, target) and not isinstance(value, (list, dict))
        if not ok:
            raise BadPayload(f"{self.name}: {_show(value)} is not a valid {getattr(target, '__name__', target)}")
        return value
