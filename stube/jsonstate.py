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


def json_copy(value: Any, where: str = "value") -> Any:
    """Return a deep copy of ``value``, raising :class:`StateError` if it is not JSON."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                if isinstance(k, str):
                    k = str(k)
                else:
                    raise StateError(f"{where}: dict key {k!r} is a {type(k).__name__}, not str ({HINT})")
            out[k] = json_copy(v, f"{where}[{k!r}]")
        return out
    if t is list:
        return [json_copy(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if t is float:
        if not math.isfinite(value):
            raise StateError(f"{where}: {value!r} is not a finite number ({HINT})")
        return value
    # Subclasses of the JSON scalars (Markup, IntEnum, StrEnum) round-trip as the base type.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return json_copy(float(value), where)
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
