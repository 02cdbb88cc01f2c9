"""pyproject lists every package explicitly; a package directory missing from it would be left
out of installs and bundles, so this test names it."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

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
    """What the repository holds at its top level (untracked caches and venvs do not count)."""
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
        ".gitignore",
    }
    listing = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listing.returncode != 0:
        pytest.skip("not a git checkout")
    tracked = {line.split("/", 1)[0] for line in listing.stdout.splitlines()}
    assert tracked - allowed == set(), f"unexpected top-level entries: {sorted(tracked - allowed)}"
