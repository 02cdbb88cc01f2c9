"""Test configuration shared by every tier (see DESIGN.md "Test tiers")."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

HAS_DISPLAY = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
if sys.platform.startswith("linux") and not HAS_DISPLAY:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_REAL_DATA = Path(
    os.environ.get("MIDSTANCE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data" / "real")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hardware", action="store_true", help="run tests that need real devices")
    parser.addoption("--soak", action="store_true", help="run long soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_hw = pytest.mark.skip(reason="needs real hardware; run with --hardware")
    skip_soak = pytest.mark.skip(reason="soak test; run with --soak")
    for item in items:
        if "hardware" in item.keywords and not config.getoption("--hardware"):
            item.add_marker(skip_hw)
        if "soak" in item.keywords and not config.getoption("--soak"):
            item.add_marker(skip_soak)


@pytest.fixture(autouse=True)
def isolated_user_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own user data folder: tests never touch the real one."""
    folder = tmp_path_factory.mktemp("midstance-data")
    monkeypatch.setenv("MIDSTANCE_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The recordings from other labs (../shared/data/real). Missing is a failure on CI."""
    if not SHARED_REAL_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real recordings not found at {SHARED_REAL_DATA}")
        pytest.skip(f"real recordings not found at {SHARED_REAL_DATA}")
    return SHARED_REAL_DATA


def _load_double(name: str):
    """A module of ``tests/doubles`` (tests cannot import each other under importlib mode)."""
    if name not in sys.modules:
        path = Path(__file__).with_name("doubles") / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def prerendered_camera():
    """``tests/doubles/prerendered_camera.py``: the simulated camera serving frames rendered
    once, on the real-time trigger timeline (``KIND``, ``factory`` for the session controller),
    so that the renderer's CPU cost cannot decide a real-time test."""
    return _load_double("prerendered_camera")
