"""What a request carried: an event's body read under a cap, parsed as a form, turned into a
payload; and the version a reconnecting SSE stream has seen.

``read_body(request, cap, headers)`` → ``parse_form(body, headers, cap)`` → ``to_payload(query, fields, uploads)``.
Upload descriptors (``{"name", "filename", "content_type", "size", "path"}``)
come only from the multipart parser: a client-sent ``files`` key (query,
urlencoded field, ``hx-vals``, a text part) is dropped, so no payload can name
a file on the server. :class:`Uploads` deletes the temporary files when the
event is over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote_plus

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.formparsers import FormParser, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from .payload import Raw, Signature
from .responses import Refused

log = logging.getLogger("stube.http")

#: The payload key reserved for uploads; whatever a client sends under it is dropped.
FILES = "files"
_MULTIPART = "multipart/form-data"
_URLENCODED = "application/x-www-form-urlencoded"
_VERSION = re.compile(r"[0-9]{1,18}")
#: A small urlencoded body of plain ``name=value`` pairs (under 1,000 fields: 4 KB holds fewer).
_PAIR = rb"[A-Za-z0-9_.~%+\-]+=[A-Za-z0-9_.~%+\-]*"
_PAIRS = re.compile(_PAIR + rb"(?:&" + _PAIR + rb")*")
#: Posted keys that belong to the machinery, not to the page's author (htmx's and stube's own).
_MACHINERY_PREFIXES = ("hx-", "hx_", "htmx", "stube", "_stube")
#: (component type, input name) pairs already warned about; bounded so a debug server cannot grow
#: without end on random input names (past the bound nothing more is warned).
_WARNED: set[tuple[str, str]] = set()
_WARNED_MAX = 4096


@dataclass(slots=True)
class Uploads:
    """The uploaded files of one request; leaving the ``with`` block deletes them."""

    files: list[dict[str, Any]] = field(default_factory=list)

    def __enter__(self) -> Uploads:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for f in self.files:
            with contextlib.suppress(OSError):
                os.unlink(f["path"])

    def keep(self, key: str, upload: UploadFile) -> None:
        """Copy one uploaded part to a temporary file of our own (the parser's goes away)."""
        fd, path = tempfile.mkstemp(prefix="stube-upload-")
        with os.fdopen(fd, "wb") as out:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, out)
            size = out.tell()
        self.files.append({"name": key, "filename": upload.filename,
                           "content_type": upload.content_type or "application/octet-stream",
                           "size": size, "path": path})


@dataclass(slots=True)
class Form:
    """What an event request carried: ``payload`` for the handler, ``fields`` to lift, ``uploads``."""

    payload: dict[str, Any]
    fields: dict[str, Any]
    uploads: Uploads


def cap_for(headers: Headers, max_body: int, max_upload: int) -> int:
    return max_upload if headers.get("content-type", "").startswith(_MULTIPART) else max_body


async def read_body(request: Request, cap: int, headers: Mapping[str, str]) -> bytes:
    """The whole body, or :class:`Refused` 413 past ``cap`` bytes (400 if the client went away).

    ``headers``: the request's headers (a dict the caller read once, or ``request.headers``).
    """
    declared = headers.get("content-length", "")
    if declared == "0":
        return b""  # htmx posts most events without a body: nothing to stream
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise Refused(413, f"request body over {cap} bytes")
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise Refused(413, f"request body over {cap} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refused(400, "client disconnected before the body was complete") from None
    return b"".join(chunks)


async def parse_form(body: bytes, headers: Headers, cap: int) -> tuple[dict[str, Any], Uploads]:
    """Form fields (repeated keys become lists) and the uploaded files of ``body``."""
    uploads = Uploads()
    if not body:
        return {}, uploads
    ctype = headers.get("content-type", "")

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body
        yield b""

    parser: FormParser | MultiPartParser
    if ctype.startswith(_MULTIPART):
        parser = MultiPartParser(headers, stream(), max_files=1000, max_fields=1000, max_part_size=cap)
    elif ctype.startswith(_URLENCODED):
        parser = FormParser(headers, stream(), max_fields=1000, max_part_size=cap)
    else:
        raise Refused(400, f"unsupported content type {ctype!r}")
    try:
        form: FormData = await parser.parse()
    except Exception as exc:
        raise Refused(400, f"malformed form body: {exc}") from None
    fields: dict[str, Any] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if value.filename:  # an empty file input still sends one part without a name
                    uploads.keep(key, value)
            elif key != FILES:
                _add(fields, key, value)
    except BaseException:
        uploads.close()  # copied so far: nobody will see them
        raise
    finally:
        await form.close()
    return fields, uploads


def to_payload(query: Iterable[tuple[str, str]], fields: dict[str, Any], uploads: Uploads, *,
               wants_files: bool) -> dict[str, Any]:
    """Query string first, then form fields; ``files`` only ever the parsed uploads."""
    payload: dict[str, Any] = {}
    for key, value in query:
        if key != FILES:
            _add(payload, key, value)
    for key, value in fields.items():
        payload.setdefault(key, value)
    if uploads.files or wants_files:
        payload[FILES] = Raw(list(uploads.files))
    return payload


async def read_form(request: Request, *, max_body: int, max_upload: int, wants_files: bool,
                    headers: Mapping[str, str] | None = None) -> Form:
    """Everything an event request carried, under the size caps.

    An event's body is usually empty or a few ``name=value`` pairs (``hx-vals``):
    those are split here, the way Starlette's parser would, without building one.
    """
    found = headers if headers is not None else request.headers
    ctype = found.get("content-type", "")
    cap = max_upload if ctype.startswith(_MULTIPART) else max_body
    body = await read_body(request, cap, found)
    fields: dict[str, Any]
    if not body:
        fields, uploads = {}, Uploads()
    elif len(body) <= 4096 and ctype.startswith(_URLENCODED) and _PAIRS.fullmatch(body):
        fields, uploads = {}, Uploads()
        for pair in body.decode("latin-1").split("&"):
            key, _, value = pair.partition("=")
            key = unquote_plus(key)
            if key in fields:
                _add(fields, key, unquote_plus(value))
            elif key != FILES:
                fields[key] = unquote_plus(value)
    else:
        fields, uploads = await parse_form(body, request.headers, cap)  # the parsers want Starlette's Headers
    if request.scope.get("query_string") or uploads.files or wants_files:
        payload = to_payload(request.query_params.multi_items(), fields, uploads, wants_files=wants_files)
    else:
        payload = dict(fields)  # what to_payload() makes of fields alone
    return Form(payload, fields, uploads)


def check_fields(form: Form, lifted: Iterable[str], cap: int) -> None:
    """400 when a field the component lifts (its ``fields``) is over ``cap`` bytes."""
    for key in lifted:
        value = form.fields.get(key)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and len(v.encode("utf-8", "surrogatepass")) > cap:
                raise Refused(400, f"field {key!r} is over {cap} bytes")


def warn_unlisted(cls: type[Any], fields: Iterable[str], sig: Signature) -> None:
    """Debug aid: log once per component type and input name a posted input that nothing reads.

    An input neither lifted (``cls.fields``) nor taken by the handler is silently
    dropped; in debug mode this names it, so a missing ``fields = ("draft",)`` is
    found in the log instead of by a user. Handlers taking ``**payload`` read every key.
    """
    if sig.var_keyword:
        return
    taken = {p.name for p in sig.params}
    lifted = cls.fields or ()
    for key in fields:
        if key in lifted or key in taken or key == FILES or key.lower().startswith(_MACHINERY_PREFIXES):
            continue
        seen = (cls._stube_type, key)
        if seen in _WARNED or len(_WARNED) >= _WARNED_MAX:
            continue
        _WARNED.add(seen)
        log.warning("posted input %r is dropped: %s does not list it in fields (and the handler "
                    "does not take it); add fields = (%r, ...) to lift it onto self",
                    key, cls._stube_type, key)


def _add(target: dict[str, Any], key: str, value: Any) -> None:
    if key in target:
        existing = target[key]
        target[key] = existing + [value] if isinstance(existing, list) else [existing, value]
    else:
        target[key] = value


def seen_version(last_event_id: str | None, initial: str | None) -> int:
    """The newest version a reconnecting page has applied (``a-b`` or ``s-v`` ids); 400 if garbled."""
    for value in (last_event_id, initial):
        if value:
            tail = value.rsplit("-", 1)[-1]
            if not _VERSION.fullmatch(tail):
                raise Refused(400, "malformed stream version")
            return int(tail)
    return 0
