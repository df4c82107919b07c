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


def test_server_imports_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"server", "__future__"}
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_roots(path) - allowed)
        for path in (REPO / "server").rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}


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
