"""A FileStore killed mid-write never leaves a half-written conversation."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stube.store import TMP_SUFFIX, FileStore, check_conversation
from tests import store_writer

pytestmark = pytest.mark.slow

WRITER = Path(store_writer.__file__)


def check_complete(path: Path) -> int:
    """Parse one stored file and check its note is whole; returns its version."""
    conv = json.loads(path.read_bytes())
    assert check_conversation(conv, path.stem) is None
    [note] = conv["instances"][conv["stack"][-1]]["state"]["notes"]
    assert note == store_writer.note_for(conv["version"]), f"{path.name}: torn note"
    return conv["version"]


def test_sigkill_mid_write_leaves_only_complete_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random()
    folder = tmp_path / "conversations"
    mid_write = rounds = 0
    # Several rounds; keep going (up to a bound) until a kill has landed mid-write a couple of times.
    while rounds < 4 or (mid_write < 2 and rounds < 15):
        rounds += 1
        round_no = rounds
        proc = subprocess.Popen([sys.executable, str(WRITER), str(folder), str(round_no)],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.02, 0.8))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        mid_write += any(p.name.endswith(TMP_SUFFIX) for p in folder.iterdir())  # killed mid-write
        files = sorted(folder.glob("*.json"))
        assert len(files) == store_writer.CONVERSATIONS
        versions = {p.stem: check_complete(p) for p in files}
        assert all(v > 1000 * round_no for v in versions.values())  # this round's writes landed

        caplog.clear()
        caplog.set_level(logging.WARNING, logger="stube.store")
        loaded = asyncio.run(FileStore(folder).load_all())
        assert {cid: c["version"] for cid, c in loaded.items()} == versions
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        # Leftover temp files of the killed writer are gone: one file per conversation, nothing else.
        assert sorted(os.listdir(folder)) == [p.name for p in files]
    # The writer was caught mid-write (a temp file left behind) at least once, or the test proves little.
    assert mid_write > 0
