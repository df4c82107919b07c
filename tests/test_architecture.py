"""Rules the layout promises: the receiver needs nothing outside the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


# The one module allowed a third-party import, and which: only inside its functions.
POSTGRES_MODULE = "server/store/postgres.py"
POSTGRES_IMPORTS = {"psycopg", "psycopg_pool"}


def top_level_roots(path: Path) -> set[str]:
    """Roots imported when the module is loaded (not inside a function)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return roots


def test_server_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"server", "__future__"}
    offenders = {}
    for path in (REPO / "server").rglob("*.py"):
        name = str(path.relative_to(REPO))
        extra = POSTGRES_IMPORTS if name == POSTGRES_MODULE else set()
        offenders[name] = sorted(imported_roots(path) - allowed - extra)
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}


def test_only_the_postgres_module_imports_psycopg_and_only_lazily() -> None:
    importers = {
        str(path.relative_to(REPO))
        for path in (REPO / "server").rglob("*.py")
        if imported_roots(path) & POSTGRES_IMPORTS
    }
    assert importers == {POSTGRES_MODULE}
    assert top_level_roots(REPO / POSTGRES_MODULE) & POSTGRES_IMPORTS == set()


def test_the_lazy_import_check_sees_a_module_level_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import psycopg\ndef f():\n    import psycopg_pool\n")
    assert top_level_roots(sample) == {"psycopg"}


def test_the_import_check_catches_a_third_party_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import httpx\nfrom textual.app import App\nimport json\n")
    assert imported_roots(sample) - set(sys.stdlib_module_names) == {"httpx", "textual"}


def test_server_starts_in_a_bare_interpreter_without_site_packages(tmp_path: Path) -> None:
    # -S: no site-packages at all, so any third-party import in the serve path would fail.
    result = subprocess.run(
        [sys.executable, "-S", "-m", "server", "init-db", "--db", str(tmp_path / "x.db")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "schema version" in result.stdout
    code = "import server.api.server, server.core.receiver, server.cli; print('ok')"
    check = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert check.stdout.strip() == "ok", check.stderr


# --- layering: api -> core -> {notify -> store -> detect} -> config -> records/errors ---------

# What each part of server/ may import (besides itself and the package root's __version__).
BELOW = ("records", "errors")
ALLOWED: dict[str, set[str]] = {
    "records": set(),
    "errors": set(),
    "config": {*BELOW},
    "detect": {*BELOW, "config"},
    "store": {*BELOW, "config", "detect"},
    "notify": {*BELOW, "config", "detect", "store"},
    "core": {*BELOW, "config", "detect", "store", "notify"},
    "api": {*BELOW, "config", "detect", "store", "notify", "core"},
    "tools": {*BELOW, "config", "detect", "store", "notify", "core"},
    "cli": {*BELOW, "config", "detect", "store", "notify", "core", "api", "tools"},
    "__main__": {"cli"},
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def server_imports(path: Path, root: Path) -> set[str]:
    """Modules of the package under `root` that `path` imports, at any depth of the code
    (function-local imports hide circles too), except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = root.name
    here = module_name(path, root)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join([*here.split(".")[: -node.level], node.module])
            if base.split(".")[0] == package:
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    modules = {module_name(p, root) for p in root.rglob("*.py")}
    return {m for m in found if m in modules and m != here}


def part(module: str) -> str:
    """`server.api.routes` -> `api`; `server.records` -> `records`; `server` -> ``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else ""


def layering_problems(root: Path) -> list[str]:
    """Upward imports and import circles among the modules under `root`."""
    graph = {module_name(p, root): server_imports(p, root) for p in root.rglob("*.py")}
    problems = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            mine, theirs = part(module), part(target)
            if theirs in ("", mine):
                continue
            if theirs not in ALLOWED.get(mine, set()):
                problems.append(f"{module} imports {target}: {mine} may not use {theirs}")
    state: dict[str, int] = {}

    def walk(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycle = [*trail[trail.index(target) :], target] if target in trail else [target]
                problems.append("import circle: " + " -> ".join(cycle))
            elif target not in state:
                walk(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    return problems


def test_server_imports_run_one_way_without_circles() -> None:
    assert layering_problems(REPO / "server") == []


def test_the_layering_check_catches_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    root = tmp_path / "server"
    for folder in ("store", "core", "detect"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "store" / "rows.py").write_text("from server.core.receiver import Receiver\n")
    (root / "core" / "receiver.py").write_text("Receiver = 1\n")
    (root / "detect" / "a.py").write_text("def f():\n    from server.detect import b\n")
    (root / "detect" / "b.py").write_text("from server.detect import a\n")
    problems = layering_problems(root)
    assert "server.store.rows imports server.core.receiver: store may not use core" in problems
    assert any(p.startswith("import circle: server.detect.a -> server.detect.b") for p in problems)
