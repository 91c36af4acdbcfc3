"""Validated copies of JSON values.

Component state, payloads stored in conversations and stash values must be
plain JSON: ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, ``list``
and ``dict`` with ``str`` keys. :func:`json_copy` checks that and returns a
fresh copy in one walk, so stored state never aliases a live object.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import StateError

_SCALARS = (str, int, bool, type(None))

HINT = "state must be str, int, float, bool, None, list, or dict with str keys"


class _Slow(Exception):
    """The fast walk met something it does not handle; the labelled walk decides."""


def _fast(value: Any) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is dict:
        for k in value:
            if type(k) is not str:
                raise _Slow
        return {k: _fast(v) for k, v in value.items()}
    if t is list:
        return [_fast(v) for v in value]
    if t is float and math.isfinite(value):
        return value
    raise _Slow


def json_copy(value: Any, where: str = "value") -> Any:
    """Return a deep copy of ``value``, raising :class:`StateError` if it is not JSON.

    Every dispatch copies the target's state twice, so plain JSON takes a walk
    that builds no error labels; anything else (a bad value, a ``str``
    subclass) is walked again with labels, to convert or to name the culprit.
    """
    try:
        return _fast(value)
    except _Slow:
        pass  # outside the handler, so a StateError does not chain to the internal signal
    return _labelled(value, where)


def copy_attributes(attrs: dict[str, Any], owner: str) -> dict[str, Any]:
    """:func:`json_copy` of an object's attributes; an error names ``owner.attribute``."""
    try:
        return _fast(attrs)
    except _Slow:
        pass
    return {str.__str__(k): _labelled(v, f"{owner}.{k}") for k, v in attrs.items()}


def _labelled(value: Any, where: str) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                if isinstance(k, str):
                    k = str.__str__(k)  # the characters, not a subclass's __str__ ("Color.BLUE")
                else:
                    raise StateError(f"{where}: dict key {k!r} is a {type(k).__name__}, not str ({HINT})")
            out[k] = _labelled(v, f"{where}[{k!r}]")
        return out
    if t is list:
        return [_labelled(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if t is float:
        if not math.isfinite(value):
            raise StateError(f"{where}: {value!r} is not a finite number ({HINT})")
        return value
    # Subclasses of the JSON scalars (Markup, IntEnum, StrEnum) round-trip as the base type.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)  # the characters (a (str, Enum) member's __str__ is its name)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _labelled(float(value), where)
    if isinstance(value, tuple):
        raise StateError(f"{where}: tuples do not survive JSON; use a list ({HINT})")
    raise StateError(f"{where}: a {t.__name__} is not JSON ({HINT})")


def is_json(value: Any) -> bool:
    """True when :func:`json_copy` would accept ``value``."""
    try:
        json_copy(value)
    except StateError:
        return False
    return True
