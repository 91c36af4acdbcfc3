"""File upload: a multipart form posted as an event, with or without JavaScript.

``upload("received")`` gives the form its attributes; the event's payload
carries the form fields and a ``files`` list, each file as ``{"name",
"filename", "content_type", "size", "path"}``. The temporary file is removed
right after the handler returns, so the handler reads what it needs now.

The demo keeps only what the page shows (name, type, size, a short text
preview read at upload time), never a path to reopen later. It opens a path
only when it is a temporary file stube's multipart parser wrote for this very
request: a regular file named ``stube-upload-*`` directly in the system temp
folder, of the size the parser recorded. stube never lets a client-sent
``files`` value reach a handler over HTTP; this check is the demo's own
second line, so that copying the demo cannot reintroduce a file-disclosure
hole.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from stube import Component, event

PREVIEW = 500
KEEP = 20
#: The name prefix of the temporary files stube's multipart parser writes.
UPLOAD_PREFIX = "stube-upload-"
TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript",
           "application/x-yaml", "application/toml")


def is_textual(content_type: str, filename: str) -> bool:
    return content_type.startswith(TEXTUAL) or filename.lower().endswith(
        (".txt", ".md", ".csv", ".json", ".py", ".toml", ".yaml", ".yml", ".html", ".css", ".js"))


def is_parser_upload(path: str) -> bool:
    """True for the path of a temporary file stube's multipart parser wrote (not a symlink)."""
    if not path or not os.path.isabs(path):
        return False
    p = Path(path)
    if not p.name.startswith(UPLOAD_PREFIX) or os.path.realpath(p.parent) != os.path.realpath(tempfile.gettempdir()):
        return False
    try:
        info = os.lstat(p)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()


def preview(path: str, size: int, content_type: str, filename: str) -> str | None:
    """The first :data:`PREVIEW` characters of an uploaded text file, or ``None``."""
    if not is_textual(content_type, filename) or not is_parser_upload(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if os.fstat(fh.fileno()).st_size != size:
            return None  # not the file the parser described
        raw = fh.read(PREVIEW * 4)
    return raw.decode("utf-8", errors="replace")[:PREVIEW]


def _size(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class FileUpload(Component):
    """Keeps a short list of what was received (names and previews, never the bytes or a path)."""

    name = "demo.file-upload"
    template = "demos/file_upload.html"

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.uploads = 0

    @event
    def received(self, files: list | None = None, note: str = "", **_: Any) -> None:
        """The form's ``upload("received")`` event (also reachable with no files: nothing happens)."""
        note = (note or "").strip()[:200]
        got = []
        for f in files or []:
            if not isinstance(f, dict) or not f.get("filename"):
                continue  # an empty file input still sends one part without a name
            filename = Path(str(f["filename"])).name[:200]
            content_type = str(f.get("content_type") or "application/octet-stream")[:100]
            size = _size(f.get("size"))
            got.append({
                "filename": filename,
                "content_type": content_type,
                "size": size,
                "note": note,
                "preview": preview(str(f.get("path") or ""), size, content_type, filename),
            })
        if got:
            self.received = (got + self.received)[:KEEP]
            self.uploads += 1
