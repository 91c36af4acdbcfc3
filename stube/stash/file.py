"""``FileStashStore``: one durable file per session, compare-and-set under ``flock``."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._atomic import DirSync, write_atomic
from .base import _JSON, _KEY, CORRUPT, StashConflict, _check_key, _empty_state, _new_version, _stale

__all__ = ["FileStashStore"]

log = logging.getLogger("stube.stash")


class FileStashStore:
    """One ``<key>.json`` file per session in ``directory``; atomic and durable.

    A save writes a temp file in the same folder, fsyncs it, renames it over
    the old one and fsyncs the folder, so a crash leaves the old or the new
    state, never half of one. Compare-and-set reads the version stored in the
    file while holding an ``fcntl.flock`` on a lock file (one of 256 stripes
    under ``.locks/``), which excludes other threads and other processes
    alike. Blocking file work runs in a worker thread, off the event loop.
    ``durable=False`` skips the fsyncs (benchmarks, throwaway data).
    """

    persistent = True

    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.directory = Path(directory)
        self.durable = durable
        self._locks = self.directory / ".locks"
        self._locks.mkdir(parents=True, exist_ok=True)
        self._sync_dir = DirSync(os.fspath(self.directory))

    def path(self, key: str) -> Path:
        """The file holding ``key``."""
        return self.directory / f"{_check_key(key)}.json"

    # -- async API --

    async def load(self, key: str) -> tuple[dict[str, Any], str] | None:
        return await asyncio.to_thread(self._load, key)

    async def save(self, key: str, state: dict[str, Any], expected: str | None, *,
                   ttl: float | None = None) -> str:
        version = _new_version()
        body = _JSON({"v": version, "state": state}).encode()  # encoding fails before the disk is touched
        await asyncio.to_thread(self._save, key, body, expected)
        return version

    async def delete(self, key: str, expected: str) -> bool:
        return await asyncio.to_thread(self._delete, key, expected)

    async def sweep(self, cutoff_ms: int) -> int:
        return await asyncio.to_thread(self._sweep, cutoff_ms)

    async def check(self) -> None:
        """Raise unless a durable write to the folder works now."""
        await asyncio.to_thread(self._probe)

    async def aclose(self) -> None:
        pass

    def _probe(self) -> None:
        tmp = os.path.join(self.directory, f".tmp-{secrets.token_hex(6)}.json")
        write_atomic(tmp, b"{}", tmp=tmp + ".w", sync_dir=self._sync_dir, durable=self.durable)
        os.unlink(tmp)

    # -- blocking internals --

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        fd = os.open(self._locks / f"{key[:2]}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _read(self, path: Path) -> tuple[dict[str, Any], str] | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            state, version = doc["state"], doc["v"]
            if not isinstance(state, dict) or not isinstance(version, str):
                raise ValueError("not a stash document")
        except (ValueError, KeyError, TypeError):
            log.warning("stash file %s is corrupt or foreign; it reads as empty", path.name)
            return _empty_state(), CORRUPT
        return state, version

    def _load(self, key: str) -> tuple[dict[str, Any], str] | None:
        return self._read(self.path(key))

    def _save(self, key: str, body: bytes, expected: str | None) -> None:
        path = self.path(key)
        with self._locked(key):
            current = self._read(path)
            if (current[1] if current else None) != expected:
                raise StashConflict(f"stash {key[:12]}: version changed")
            write_atomic(os.fspath(path), body, sync_dir=self._sync_dir, durable=self.durable,
                         tmp=os.path.join(self.directory, f".tmp-{secrets.token_hex(6)}.json"))

    def _delete(self, key: str, expected: str) -> bool:
        path = self.path(key)
        with self._locked(key):
            current = self._read(path)
            if current is None or current[1] != expected:
                return False
            path.unlink()
            if self.durable:
                self._sync_dir()
        return True

    def _sweep(self, cutoff_ms: int) -> int:
        gone = 0
        cutoff_s = cutoff_ms / 1000
        with os.scandir(self.directory) as entries:
            for entry in entries:
                name = entry.name
                try:
                    mtime = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if name.startswith(".tmp-"):
                    if mtime < time.time() - 3600:  # left behind by a crash mid-save
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)
                    continue
                if not name.endswith(".json") or not _KEY.match(name[:-5]) or mtime >= cutoff_s:
                    continue  # a file written after the cutoff cannot hold an older last_seen_at
                key = name[:-5]
                with self._locked(key):
                    current = self._read(Path(entry.path))
                    if current is not None and _stale(current[0], cutoff_ms):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
                        gone += 1
        return gone
