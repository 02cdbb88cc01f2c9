"""Test configuration shared by every tier (see DESIGN.md "Test tiers")."""

from __future__ import annotations

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
