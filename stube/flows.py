"""Flows: straight-line code over call/answer (greenlets or generators). Placeholder seam."""

from __future__ import annotations

from typing import Any


def live_continuations(conv: dict[str, Any]) -> list[tuple[str, str]]:
    """``(iid, flow type name)`` for every instance holding a live, unserialisable continuation."""
    return []
