"""pyproject lists every package explicitly; a package directory missing from it would be left
out of installs and bundles, so this test names it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_directory_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("app", "drivers", "analysis", "data", "protocols")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), f"add to pyproject [tool.setuptools] packages: {found - listed}"
    assert listed - found == set(), f"listed but missing on disk: {listed - found}"


def test_top_level_layout_is_the_agreed_one():
    allowed = {
        "pyproject.toml",
        "README.md",
        "app",
        "drivers",
        "protocols",
        "data",
        "analysis",
        "tests",
        "installer",
        ".ci",
        "benchmarks",
        "docs",
        ".git",
        ".gitignore",
    }
    tracked = {
        p.name
        for p in ROOT.iterdir()
        if not p.name.startswith((".venv", ".ruff_cache", ".pytest_cache"))
    }
    stray = {
        name
        for name in tracked - allowed
        if not name.endswith(".egg-info") and name not in {"__pycache__", "build", "dist"}
    }
    assert not stray, f"unexpected top-level entries: {sorted(stray)}"
