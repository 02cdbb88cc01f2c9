"""The layer order of DESIGN.md, checked by walking every module's imports (AST)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("app", "drivers", "analysis", "data", "protocols")
# package → the packages of ours it may import (besides itself)
ALLOWED = {
    "analysis": set(),
    "data": {"analysis"},
    "drivers": {"analysis"},
    "protocols": {"drivers", "data", "analysis"},
    "app": {"protocols", "drivers", "data", "analysis"},
}
QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6")
VENDOR_SDKS = ("nidaqmx", "pypylon")


def _modules() -> list[Path]:
    return sorted(p for pkg in OURS for p in (ROOT / pkg).rglob("*.py"))


def _imports(path: Path, root: Path = ROOT) -> list[tuple[str, int, bool]]:
    """(module imported, line, at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports inside `if TYPE_CHECKING:` count as top level too
        if isinstance(node, ast.If | ast.Try):
            top_level.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((name, node.lineno, id(node) in top_level))
    return found


def test_every_package_imports_only_lower_layers():
    violations = []
    for path in _modules():
        rel = path.relative_to(ROOT)
        owner = rel.parts[0]
        in_qt = rel.parts[:2] == ("app", "qt")
        for module, line, at_top in _imports(path):
            top = module.split(".")[0]
            if top in OURS and top != owner and top not in ALLOWED[owner]:
                violations.append(f"{rel}:{line} imports {module} ({owner} may not import {top})")
            # Commands that open a window import app.qt inside a function; nothing else may,
            # so importing the core never loads Qt.
            lazy_in_command = not at_top and rel.parts[:2] == ("app", "commands")
            if module.startswith("app.qt") and not in_qt and not lazy_in_command:
                violations.append(
                    f"{rel}:{line} imports {module} (outside app.qt only app.commands may, "
                    "and only inside a function)"
                )
    assert not violations, "\n".join(violations)


def test_qt_is_imported_only_in_app_qt():
    violations = []
    for path in _modules():
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("app", "qt"):
            continue
        for module, line, _ in _imports(path):
            if module.split(".")[0] in QT_MODULES:
                violations.append(f"{rel}:{line} imports {module}")
    assert not violations, "\n".join(violations)


def test_vendor_sdks_are_imported_lazily():
    violations = []
    for path in _modules():
        for module, line, at_top in _imports(path):
            if module.split(".")[0] in VENDOR_SDKS and at_top:
                rel = path.relative_to(ROOT)
                violations.append(f"{rel}:{line} imports {module} at import time")
    assert not violations, "\n".join(violations)


def test_the_walk_resolves_relative_and_lazy_imports(tmp_path):
    """The checker itself works: relative imports resolve, lazy ones are told apart."""
    package = tmp_path / "drivers" / "camera"
    package.mkdir(parents=True)
    module = package / "fake.py"
    module.write_text("from ..base import Device\nimport numpy\ndef f():\n    import pypylon\n")
    found = _imports(module, root=tmp_path)
    assert ("drivers.base", 1, True) in found
    assert ("numpy", 2, True) in found
    assert ("pypylon", 4, False) in found


def test_the_command_line_starts_without_loading_qt_or_vendor_sdks():
    """`midstance --help` builds every subcommand's parser; none of that may load Qt or an SDK."""
    code = (
        "import sys, app.cli; app.cli.build_parser(); "
        "heavy = ('PySide6', 'pyqtgraph', 'nidaqmx', 'pypylon'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
