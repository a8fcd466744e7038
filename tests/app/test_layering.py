"""The core must stay Qt-free: `app/` never imports PySide6 or the `ui` package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import app

APP_DIR = Path(app.__file__).parent
FORBIDDEN = ("PySide6", "ui", "shiboken6")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_in_app_imports_qt_or_ui() -> None:
    offenders = []
    for path in APP_DIR.rglob("*.py"):
        for name in _imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(APP_DIR.parent)} imports {name}")
    assert offenders == []


def test_importing_every_app_module_loads_no_qt() -> None:
    modules = sorted(
        ".".join(path.relative_to(APP_DIR.parent).with_suffix("").parts)
        for path in APP_DIR.rglob("*.py")
        if "migrations" not in path.parts and path.name != "__main__.py"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_checker_would_notice_a_qt_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from PySide6.QtWidgets import QWidget\nimport ui.main\n", encoding="utf-8")
    assert {"PySide6.QtWidgets", "ui.main"} <= _imported_modules(bad)
