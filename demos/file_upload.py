"""File upload: a multipart form posted as an event, with or without JavaScript.

``upload("received")`` gives the form its attributes; the event's payload
carries the form fields and a ``files`` list, each file as ``{"name",
"filename", "content_type", "size", "path"}``. The temporary file is removed
right after the handler returns, so the handler reads what it needs now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stube import Component, event

PREVIEW = 500
KEEP = 20
TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript",
           "application/x-yaml", "application/toml")


def is_textual(content_type: str, filename: str) -> bool:
    return content_type.startswith(TEXTUAL) or filename.lower().endswith(
        (".txt", ".md", ".csv", ".json", ".py", ".toml", ".yaml", ".yml", ".html", ".css", ".js"))


def preview(path: str, content_type: str, filename: str) -> str | None:
    """The first :data:`PREVIEW` characters of a text file, or ``None``."""
    if not path or not is_textual(content_type, filename):
        return None
    try:
        with open(path, "rb") as fh:
            raw = fh.read(PREVIEW * 4)
    except OSError:
        return None
    return raw.decode("utf-8", errors="replace")[:PREVIEW]


class FileUpload(Component):
    """Keeps a short list of what was received (names and previews, never the bytes)."""

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
            filename = Path(str(f["filename"])).name
            content_type = str(f.get("content_type") or "application/octet-stream")
            got.append({
                "filename": filename,
                "content_type": content_type,
                "size": int(f.get("size") or 0),
                "note": note,
                "preview": preview(str(f.get("path") or ""), content_type, filename),
            })
        if got:
            self.received = (got + self.received)[:KEEP]
            self.uploads += 1
