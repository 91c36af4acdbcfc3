"""The persistence packages stay below the kernel: no store or stash module imports flows, kernel or render."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stube

PACKAGE = Path(stube.__file__).parent
FORBIDDEN = {"stube.flows", "stube.kernel", "stube.render"}
MODULES = sorted([*PACKAGE.glob("store/*.py"), *PACKAGE.glob("stash/*.py"),
                  PACKAGE / "_atomic.py", PACKAGE / "_sqlite.py"])


def imported(path: Path, source: str | None = None) -> set[str]:
    """Every module ``path`` imports, anywhere in it (function bodies and TYPE_CHECKING blocks too)."""
    package = "stube." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts[:-1])
    package = package.rstrip(".")
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def test_the_packages_exist() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in MODULES}
    assert {"store/__init__.py", "store/file.py", "store/sqlite.py", "store/redis.py",
            "stash/__init__.py", "stash/file.py", "stash/sqlite.py", "stash/redis.py", "stash/actor.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_persistence_module_imports_flows_kernel_or_render(path: Path) -> None:
    bad = {m for m in imported(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_check_catches_a_function_level_import() -> None:
    source = "def f():\n    from .. import flows\n    from ..kernel import run\n    import stube.render\n"
    assert {"stube.flows", "stube.kernel", "stube.render"} <= imported(PACKAGE / "store" / "file.py", source)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_modules_stay_small(path: Path) -> None:
    source = path.read_text()
    assert source.count("\n") <= 450
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno is not None and node.end_lineno - node.lineno < 300, node.name
