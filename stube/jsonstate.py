"""Validated copies of JSON values.

Component state, payloads stored in conversations and stash values must be
plain JSON: ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, ``list``
and ``dict`` with ``str`` keys. :func:`json_copy` checks that and returns a
fresh copy in one walk, so stored state never aliases a live object.

Strings (values and keys) must be valid Unicode: a lone surrogate such as
``"\\ud800"`` cannot be encoded as UTF-8, so once in a conversation it would
make every later render and save of it fail.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import StateError

_SURROGATE = re.compile("[\ud800-\udfff]")
_search = _SURROGATE.search

HINT = "state must be str, int, float, bool, None, list, or dict with str keys"


class _Slow(Exception):
    """The fast walk met something it does not handle; the labelled walk decides."""


def _encodable(text: str) -> bool:
    """False for text holding a lone surrogate (``isascii`` is O(1), so ASCII costs nothing)."""
    return text.isascii() or _SURROGATE.search(text) is None


def _fast(value: Any) -> Any:
    t = type(value)
    if t is str:
        if value.isascii() or _search(value) is None:  # _encodable, inlined: this is the hot path
            return value
        raise _Slow
    if t is int or t is bool or value is None:
        return value
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or not (k.isascii() or _search(k) is None):
                raise _Slow
            tv = type(v)
            if tv is int or tv is bool or v is None or (tv is str and v.isascii()):
                out[k] = v  # scalars inline: a component's state is mostly flat
            else:
                out[k] = _fast(v)
        return out
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
        copied: dict[str, Any] = _fast(attrs)
        return copied
    except _Slow:
        pass
    out = {}
    for k, v in attrs.items():
        key = _key(k, owner)
        out[key] = _labelled(v, f"{owner}.{key}" if key.isidentifier() else f"{owner}[{key!r}]")
    return out


def _key(k: Any, where: str) -> str:
    """A dict key as plain ``str`` characters, or a :class:`StateError`."""
    if not isinstance(k, str):
        raise StateError(f"{where}: dict key {k!r} is a {type(k).__name__}, not str ({HINT})")
    key = k if type(k) is str else str.__str__(k)  # the characters, not a subclass's __str__ ("Color.BLUE")
    if not _encodable(key):
        raise StateError(f"{where}: dict key {key!r} holds a lone surrogate, which is not valid Unicode text "
                         f"({HINT})")
    return key


def _text(value: str, where: str) -> str:
    if not _encodable(value):
        raise StateError(f"{where}: text holding a lone surrogate is not valid Unicode ({HINT})")
    return value


def _labelled(value: Any, where: str) -> Any:
    t = type(value)
    if t is str:
        return _text(value, where)
    if t is int or t is bool or value is None:
        return value
    if t is dict:
        out = {}
        for k, v in value.items():
            key = _key(k, where)
            out[key] = _labelled(v, f"{where}[{key!r}]")
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
        return _text(str.__str__(value), where)  # the characters (a (str, Enum) member's __str__ is its name)
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


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``==``, but ``1``, ``1.0`` and ``True`` differ (they render and serialise differently)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return len(a) == len(b) and all(k in b and same_json(v, b[k]) for k, v in a.items())
    if type(a) is list:
        return len(a) == len(b) and all(map(same_json, a, b))
    return bool(a == b)
