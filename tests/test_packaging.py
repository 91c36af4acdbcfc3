"""The wheel: an installed stube works outside this repository, with its own templates.

Builds the wheel, installs it into a fresh virtualenv in a temporary folder
and renders a component that includes a template stube ships, from a working
directory outside the repository, so nothing can be imported from the
checkout by accident.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

SMOKE = textwrap.dedent(
    """
    import stube
    from stube import Component, event
    from stube.testing import Harness


    class Hello(Component):
        name = "smoke/hello"
        template_string = '<main {{ root() }}>{% include "stube/_smoke.html" %}</main>'

        def __init__(self):
            self.message = "from the wheel"

        @event
        def shout(self):
            self.message = self.message.upper()


    h = Harness(Hello())
    h.dispatch("shout")
    print(stube.__file__)
    print(h.html().replace(h.top.iid, "IID"))
    """
)


def run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with an environment that cannot see the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_wheel_installs_into_a_fresh_venv_and_renders_with_its_own_templates(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist)], cwd=tmp_path)
    [wheel] = dist.glob("stube-*.whl")

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"stube/__init__.py", "stube/kernel.py", "stube/testing.py", "stube/templates/stube/_smoke.html",
            "stube/py.typed", "stube/flows/__init__.py", "stube/store/sqlite.py", "stube/stash/actor.py"} <= names
    assert any(n.startswith("stube/static/") for n in names)
    assert not any(n.split("/")[0] in ("tests", "bench", "demos", "templates", "static") for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp_path)

    script = tmp_path / "smoke.py"
    script.write_text(SMOKE)
    out = run([str(python), str(script)], cwd=tmp_path).stdout.splitlines()
    assert Path(out[0]).resolve().is_relative_to(venv.resolve()), out[0]
    assert out[1:] == [
        '<main id="IID" data-stube-component="smoke/hello" class="stube-c-smoke-hello">'
        '<p class="stube-smoke">stube templates installed: FROM THE WHEEL</p></main>'
    ]
