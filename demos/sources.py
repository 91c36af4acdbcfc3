"""Row sources for the reusable list components, named by ``"module:function"``.

Components keep only the *name* of their data source in state (state is
JSON); the function is resolved when the component renders. This is the
Python counterpart of the reference passing a qualified symbol.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=64)
def resolve(name: str) -> Callable[[], list[dict[str, Any]]]:
    """``"demos.paginated_list:contributors"`` -> the function. Only ``demos.*`` modules are allowed."""
    module, _, attr = name.partition(":")
    if not module.startswith("demos.") or not attr.isidentifier():
        raise ValueError(f"row source {name!r} is not a demos.<module>:<function> name")
    fn = getattr(importlib.import_module(module), attr)
    if not callable(fn):
        raise TypeError(f"row source {name!r} is not callable")
    return fn


def rows(name: str) -> list[dict[str, Any]]:
    return resolve(name)()
