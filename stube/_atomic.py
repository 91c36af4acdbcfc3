"""One atomic, durable file write and a group-committed folder ``fsync``, for both file backends.

A write goes to a temporary file in the target's folder, is flushed and
``fsync``ed, renamed over the target, and the folder is ``fsync``ed (a rename
is durable only once its folder is). A crash therefore leaves the old or the
new content, never half of one, and a write that returned survives a power
cut. Any failure raises: a write that did not become durable is never
reported as done. :func:`write_atomic_many` does the same for several files
of one folder at once, on one thread, with one folder ``fsync``.
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["DirSync", "write_atomic", "write_atomic_many"]

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


def write_atomic_many(writes: list[tuple[str, str, bytes]], *, sync_dir: DirSync,
                      mode: int = 0o600) -> list[BaseException | None]:
    """Each ``(path, tmp, data)`` as :func:`write_atomic` would, together; per write, its error or ``None``.

    Every temporary file is written first, then each is ``fsync``ed (the
    kernel has all their data in hand from the first sync on), then renamed,
    and one folder sync covers every rename. One thread does it all:
    concurrent saves share the folder sync without a thread, a hand-off and a
    GIL round trip per system call each. A write whose step fails gets its exception (its temporary
    file removed); when the folder sync fails, every renamed one does.
    """
    errors: list[BaseException | None] = [None] * len(writes)
    fds: list[int] = [-1] * len(writes)
    try:
        _write_many(writes, mode, errors, fds)
    except BaseException:  # interrupted: nothing of it is reported, nothing is left open or half-named
        for k, fd in enumerate(fds):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(writes[k][1])
        raise
    renamed = [k for k, e in enumerate(errors) if e is None]
    if renamed:
        try:
            sync_dir()
        except Exception as exc:
            for k in renamed:
                errors[k] = exc
    return errors


def _write_many(writes: list[tuple[str, str, bytes]], mode: int, errors: list[BaseException | None],
                fds: list[int]) -> None:
    for k, (_, tmp, data) in enumerate(writes):
        try:
            try:
                fd = os.open(tmp, _CREATE, mode)
            except FileNotFoundError:  # the folder was removed under us
                os.makedirs(os.path.dirname(tmp), mode=0o700, exist_ok=True)
                fd = os.open(tmp, _CREATE, mode)
            fds[k] = fd
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except Exception as exc:
            errors[k] = exc
    for k, fd in enumerate(fds):
        if fd >= 0 and errors[k] is None:
            try:
                os.fsync(fd)
            except Exception as exc:
                errors[k] = exc
    for k, fd in enumerate(fds):
        path, tmp, _ = writes[k]
        try:
            if fd >= 0:
                fds[k] = -1
                os.close(fd)
            if errors[k] is None:
                os.replace(tmp, path)
        except Exception as exc:
            errors[k] = exc
        if errors[k] is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
