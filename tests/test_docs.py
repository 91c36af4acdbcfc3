"""The documentation site builds strictly, and its examples run against today's stube.

A fenced block opened with ```` ```{.python .run} ```` is *runnable*: the
blocks of one page run in order in one namespace (a page reads like a session),
so later blocks may use what earlier ones defined and check it with
``assert``. Plain ```` ```python ```` blocks are illustrations and are not run
(they may need a server, a Redis or a user's own templates).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import stube

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

RUNNABLE = re.compile(r"^```\{\.python \.run\}[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
FENCE = re.compile(r"^```", re.MULTILINE)


def runnable_blocks(page: Path) -> list[str]:
    return RUNNABLE.findall(page.read_text(encoding="utf-8"))


PAGES_WITH_EXAMPLES = sorted(p.name for p in DOCS.glob("*.md") if runnable_blocks(p))


NO_MKDOCS = importlib.util.find_spec("mkdocs") is None


@pytest.mark.skipif(NO_MKDOCS, reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_site_builds_strictly(tmp_path: Path) -> None:
    # --strict turns every warning into a failure: a reference to a name that no longer
    # exists, a broken link between pages, a page missing from the nav.
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**_env(), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for page in ("index.html", "tutorial/index.html", "reference/components/index.html", "reference/ui/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    # The API reference really rendered the objects (not an empty page).
    ref = (tmp_path / "site" / "reference" / "stores" / "index.html").read_text(encoding="utf-8")
    assert 'id="stube.RedisStore"' in ref and 'id="stube.FileStore"' in ref


def _env() -> dict[str, str]:
    # The checkout's stube first, whatever is installed (the reference imports it).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_every_public_name_has_a_reference_entry() -> None:
    documented = set()
    for page in (DOCS / "reference").glob("*.md"):
        documented |= set(re.findall(r"^::: stube\.(?:ui\.)?(\w+)$", page.read_text(encoding="utf-8"), re.MULTILINE))
    missing = sorted(set(stube.__all__) - documented - {"ui"})
    assert not missing, f"add '::: stube.NAME' lines to a page under docs/reference/ for: {missing}"


def test_the_tutorial_has_runnable_examples() -> None:
    assert len(runnable_blocks(DOCS / "tutorial.md")) >= 4


def test_runnable_blocks_are_well_formed() -> None:
    # An unclosed fence would silently swallow the rest of a page's examples.
    for page in DOCS.glob("*.md"):
        assert len(FENCE.findall(page.read_text(encoding="utf-8"))) % 2 == 0, page.name


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES)
def test_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here,
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # tempfile.mkdtemp() included
    namespace: dict[str, object] = {"__name__": f"docs_{Path(page).stem}"}
    for i, block in enumerate(runnable_blocks(DOCS / page), 1):
        code = compile(block, f"docs/{page} (runnable block {i})", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own examples
