"""The shape of the package: the pure kernel imports nothing from the HTTP layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stube

PACKAGE = Path(stube.__file__).resolve().parent
KERNEL = {"component", "context", "conversation", "effects", "errors", "fragments", "jsonstate",
          "kernel", "keyed", "payload", "render"}
HTTP_LAYER = {"http", "runtime", "sessions", "wire", "store", "redis_store", "stash", "stash_redis"}
THIRD_PARTY_HTTP = {"starlette", "uvicorn", "httpx", "httpx2", "redis", "itsdangerous", "multipart"}


def imports_of(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # from .x import y  /  from . import x
                found.add(node.module.split(".")[0] if node.module else "")
                found.update(a.name for a in node.names if not node.module)
            elif node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def test_kernel_modules_import_nothing_from_the_http_layer() -> None:
    for module in sorted(KERNEL):
        bad = imports_of(module) & (HTTP_LAYER | THIRD_PARTY_HTTP)
        assert not bad, f"stube.{module} imports {sorted(bad)}"


def test_the_kernel_runs_without_starlette_loaded() -> None:
    """Importing the kernel modules on their own pulls in no web framework."""
    code = (
        "import sys, importlib.util, types\n"
        f"pkg = types.ModuleType('stube'); pkg.__path__ = [{str(PACKAGE)!r}]; sys.modules['stube'] = pkg\n"
        "import stube.kernel, stube.keyed, stube.render\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'redis', 'httpx2'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for name in stube.__all__:
        obj = getattr(stube, name)
        if callable(obj) and not (getattr(obj, "__doc__", None) or "").strip():
            missing.append(name)
    assert not missing, missing
