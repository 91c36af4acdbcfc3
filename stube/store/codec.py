"""The conversation codec: compact JSON out, plain JSON in, and the shape check of what was read.

Shared by every store so that a conversation stored by one backend reads the
same in any other, and nothing read back is ever evaluated or constructed.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Mapping
from typing import Any

from .. import conversation as cv

__all__ = ["Encoder", "check_conversation", "decode", "encode", "require_cid", "valid_cid"]


_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # json.dumps builds one per call


def encode(conv: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes; NaN and infinities are refused rather than written as non-JSON."""
    return _ENCODE(conv).encode("ascii")


class Encoder:
    """:func:`encode` for a store that writes the same conversations again and again.

    History entries never change once written (each event appends one and the
    oldest falls off), yet they are most of a conversation's JSON. The encoder
    remembers each conversation's encoded entries by identity and encodes only
    the new one: a save costs what the step changed, not the history's length.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[list[Any], list[bytes]]] = {}  # per conversation: entries, their JSON

    def encode(self, conv: Mapping[str, Any]) -> bytes:
        history = conv.get("history")
        if not history:
            self._entries.pop(conv["id"], None)
            return encode(conv)
        old = self._entries.get(conv["id"])
        start, kept = kept_run(old[0], history) if old is not None else (0, 0)
        if old is None:
            datas = [encode(entry) for entry in history]
        elif kept:  # the usual step: the oldest entries fell off, a new one came
            datas = old[1][start:start + kept] + [encode(entry) for entry in history[kept:]]
        else:  # anything else: match what can be matched (the old list keeps its ids from reuse)
            known = dict(zip(map(id, old[0]), old[1], strict=True))
            datas = [known.get(id(entry)) or encode(entry) for entry in history]
        self._entries[conv["id"]] = (list(history), datas)
        head = encode({k: v for k, v in conv.items() if k != "history"})
        return b"%s,\"history\":[%s]}" % (head[:-1], b",".join(datas))

    def forget(self, cid: str) -> None:
        self._entries.pop(cid, None)


def kept_run(old: list[Any], new: list[Any]) -> tuple[int, int]:
    """``(start, n)``: the longest run ``new[:n]`` that is ``old[start:start + n]``, entry by entry, by identity.

    ``(0, 0)`` when ``new`` does not start with an entry of ``old``. A history
    step is the usual case (the oldest entries fell off, one came): compared in
    C, on ids (both lists hold their entries, so no id is reused meanwhile).
    """
    if not new or not old:
        return 0, 0
    ids = list(map(id, old))
    try:
        start = ids.index(id(new[0]))
    except ValueError:
        return 0, 0
    n = min(len(old) - start, len(new))
    if ids[start:start + n] == list(map(id, new[:n])):
        return start, n
    kept = 1
    while kept < n and old[start + kept] is new[kept]:
        kept += 1
    return start, kept


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def decode(raw: bytes | str) -> Any:
    """Parse stored JSON (UTF-8). Plain JSON parsing: nothing is ever evaluated or constructed."""
    if not isinstance(raw, str):
        raw = raw.decode("utf-8")
    return _DECODER.decode(raw)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many fresh objects that are all kept.

    Loading thousands of conversations otherwise triggers repeated full
    collections over everything loaded so far (half of the load time).
    Only used by ``load_all``, which runs once, before serving.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def valid_cid(cid: Any) -> bool:
    """A well-formed conversation id, matched in full (``$`` alone would accept a trailing newline)."""
    return isinstance(cid, str) and cv.CID_RE.fullmatch(cid) is not None


def require_cid(cid: Any) -> str:
    """``cid`` if it is a well-formed conversation id, else ``ValueError`` (nothing is touched)."""
    if not valid_cid(cid):
        raise ValueError(f"not a conversation id: {cid!r}")
    return str(cid)


def check_conversation(value: Any, cid: str | None = None) -> str | None:
    """Why ``value`` is not a restorable conversation (stored under ``cid``), or ``None`` if it is."""
    if not isinstance(value, dict):
        return f"not a JSON object but {type(value).__name__}"
    got = value.get("id")
    if not valid_cid(got):
        return f"id {got!r} is not a conversation id"
    if cid is not None and got != cid:
        return f"id {got!r} does not match its name {cid!r}"
    fmt = value.get("format")
    if type(fmt) is not int or not 1 <= fmt <= cv.FORMAT:
        return f"unsupported format {fmt!r}"
    version = value.get("version")
    if type(version) is not int or version < 0:
        return f"version {version!r} is not a non-negative int"
    stack, instances = value.get("stack"), value.get("instances")
    if not isinstance(stack, list) or not all(isinstance(i, str) for i in stack):
        return "stack is not a list of instance ids"
    if not isinstance(instances, dict) or not all(isinstance(r, dict) for r in instances.values()):
        return "instances is not an object of records"
    missing = [i for i in stack if i not in instances]
    if missing:
        return f"stack names unknown instances {missing[:3]}"
    if not isinstance(value.get("history"), list):
        return "history is not a list"
    return None
