"""Fixtures for the installer tests: the installer folder's scripts are not a package, so they are
loaded from their files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"


def load_installer_module(name: str) -> ModuleType:
    """Import ``installer/<name>.py`` by path (it is a script folder, not a package)."""
    path = INSTALLER / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"midstance_installer_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def installer_dir() -> Path:
    return INSTALLER


@pytest.fixture(scope="session")
def smoke_module() -> ModuleType:
    return load_installer_module("smoke")


@pytest.fixture(scope="session")
def build_module() -> ModuleType:
    return load_installer_module("build")
