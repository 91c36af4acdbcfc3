"""The shape of the package: the pure kernel imports nothing from the HTTP layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stube

PACKAGE = Path(stube.__file__).resolve().parent
KERNEL = {"component", "context", "conversation", "convert", "effects", "errors", "folds", "fragments", "helpers",
          "inspector", "jsonstate", "kernel", "keyed", "lifecycle", "paint", "payload", "render", "templates", "txn",
          "urls"}
HTTP_LAYER = {"http", "pages", "forms", "responses", "sessions", "wire", "mounts", "steps", "probes", "rotate",
              "stopping", "runtime", "scheduler", "streams", "livemap", "persist", "holdings", "relay", "bus",
              "store", "redis_store", "stash", "stash_redis"}
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
        "import stube.kernel, stube.keyed, stube.render, stube.txn, stube.lifecycle, stube.paint, stube.folds\n"
        "import stube.helpers, stube.templates, stube.urls, stube.payload, stube.convert\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'redis', 'httpx2'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``stube/flows/live.py`` -> ``flows.live``; a package's ``__init__`` is the package itself."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the stube modules it imports, counting imports inside functions and under TYPE_CHECKING.

    Every ``import`` statement anywhere in the file is an edge: a cycle hidden in a
    function or behind ``TYPE_CHECKING`` is still a cycle for a reader.
    """
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    packages = {module_name(p, root) for p in root.rglob("__init__.py")}
    graph: dict[str, set[str]] = {}

    def resolve(name: str) -> str | None:
        while name and name not in files:  # ``from .x import y`` where x.y is a name, not a module
            name = name.rpartition(".")[0]
        return name if name in files else None

    for module, path in files.items():
        package = module if module in packages else module.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    prefix = ".".join(base + ([node.module] if node.module else []))
                elif node.module and node.module.split(".")[0] == "stube":
                    prefix = node.module.partition(".")[2]
                else:
                    continue
                for alias in node.names:  # ``from . import x``: x may be a module of its own
                    sub = f"{prefix}.{alias.name}" if prefix else alias.name
                    targets.append(sub if sub in files else prefix)
            elif isinstance(node, ast.Import):
                targets = [a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == "stube"]
            for target in targets:
                found = resolve(target)
                if found is not None and found != module:
                    edges.add(found)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_sees_imports_inside_functions_and_under_type_checking(tmp_path: Path) -> None:
    """The graph builder itself, on a small package: lazy, TYPE_CHECKING and subpackage imports are edges."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("def f():\n    from .b import x\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import c\n")
    (tmp_path / "sub" / "__init__.py").write_text("from .c import y\n")
    (tmp_path / "sub" / "c.py").write_text("from .. import a\nfrom stube.b import z\n")
    graph = import_graph(tmp_path)
    assert graph["a"] == {"b"} and graph["b"] == {"sub.c"} and graph["sub"] == {"sub.c"}
    assert graph["sub.c"] == {"a", "b"}
    assert cycles(graph) == [["a", "b", "sub.c"]]


def test_the_kernel_pieces_import_each_other_one_way() -> None:
    graph = import_graph()
    assert {"txn", "lifecycle", "conversation"} <= graph["keyed"]
    assert "render" not in graph["component"], "component must reach the renderer through stube.context"
    assert graph["context"] == set(), "stube.context is the bottom layer: it imports nothing from stube"


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, f"import cycles (counting imports in functions and under TYPE_CHECKING): {found}"


def test_the_kernel_never_imports_the_kernel_module_below_it() -> None:
    """txn, lifecycle, paint and keyed sit under kernel.py: it imports them, never the reverse."""
    graph = import_graph()
    for module in ("txn", "lifecycle", "paint", "keyed", "conversation", "component", "context", "render", "folds",
                   "helpers", "templates", "urls"):
        assert "kernel" not in graph[module], f"stube.{module} imports stube.kernel"


MAX_MODULE_LINES = 450
MAX_CLASS_LINES = 300


def test_no_module_over_450_lines_and_no_class_over_300() -> None:
    """Issue 11's size bound: a module is one concept a reader can hold, a class one job."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        where = path.relative_to(PACKAGE.parent)
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            offenders.append(f"{where}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    offenders.append(f"{where}:{node.lineno} class {node.name}: {size} lines")
    assert not offenders, "over the size bound: " + "; ".join(offenders)


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for name in stube.__all__:
        obj = getattr(stube, name)
        if callable(obj) and not (getattr(obj, "__doc__", None) or "").strip():
            missing.append(name)
    assert not missing, missing


def test_one_htmx_event_stays_within_sixty_stube_calls_and_thirty_module_switches() -> None:
    """The one-pass event path (issue 11), counted by ``scripts/trace_event.py`` under ``sys.setprofile``."""
    root = PACKAGE.parent
    out = subprocess.run([sys.executable, str(root / "scripts" / "trace_event.py"), "--quiet"], cwd=root,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "target met" in out, out
