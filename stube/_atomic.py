"""One atomic, durable file write and a group-committed folder ``fsync``, for both file backends.

A write goes to a temporary file in the target's folder, is flushed and
``fsync``ed, renamed over the target, and the folder is ``fsync``ed (a rename
is durable only once its folder is). A crash therefore leaves the old or the
new content, never half of one, and a write that returned survives a power
cut. Any failure raises: a write that did not become durable is never
reported as done.
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["DirSync", "write_atomic"]

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


class DirSync:
    """Group commit of a folder's ``fsync``: one call covers every rename made before it started.

    Concurrent writers each take a ticket after their rename; a writer whose
    ticket is already covered by a finished sync returns at once, so N
    concurrent saves cost far fewer than N folder syncs. A failed sync raises
    for its caller and covers nothing.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._syncing = threading.Lock()
        self._issued = 0  # tickets handed out (one per rename or unlink)
        self._covered = 0  # every ticket up to this one is durable

    def __call__(self) -> None:
        with self._mutex:
            self._issued += 1
            ticket = self._issued
        with self._syncing:
            if self._covered >= ticket:
                return  # a sync that started after our rename has finished
            with self._mutex:
                target = self._issued
            fd = os.open(self.path, _DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._covered = target


def write_atomic(path: str, data: bytes, *, tmp: str, sync_dir: DirSync | None,
                 durable: bool = True, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` through the temporary file ``tmp`` (same folder).

    ``sync_dir`` syncs the folder after the rename (``None`` or
    ``durable=False``: no fsyncs at all, for throwaway data). The temporary
    file is removed on any failure. A missing folder is created (``0700``).
    """
    try:
        fd = os.open(tmp, _CREATE, mode)
    except FileNotFoundError:  # the folder was removed under us
        os.makedirs(os.path.dirname(tmp), mode=0o700, exist_ok=True)
        fd = os.open(tmp, _CREATE, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable and sync_dir is not None:
        sync_dir()
