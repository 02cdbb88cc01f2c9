"""GUI tier: pytest-qt on the offscreen platform (tests/conftest.py sets it), the simulated lab,
window settings in a temporary INI file, and a window factory that always closes its window."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from drivers.config import parse_config

pytestmark = pytest.mark.gui


def sim_lab_config(duration_s: float = 40.0, preset: str = "valgus-left", **setup):
    """A small simulated lab (320×240 frames keep the 2-core machine responsive)."""
    setup = {"image_width": 320, "image_height": 240, **setup}
    raw = {
        "lab": {"name": "GUI test lab", "treadmill": "single-belt"},
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": 250.0},
            {"name": "posterior", "kind": "sim.camera", "view": "posterior", "rate_hz": 250.0},
        ],
        "simulation": {"preset": preset, "seed": 5, "duration_s": duration_s, "setup": setup},
    }
    return parse_config(raw)


@pytest.fixture
def sim_config():
    return sim_lab_config


@pytest.fixture
def gui_settings(tmp_path):
    """Window layout and theme go to a temporary INI file, never the user's settings."""
    return QSettings(str(tmp_path / "midstance-gui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, gui_settings):
    """``make_window(controller, **kw)``: a shown MainWindow, closed with its session at the end."""
    from app.qt.main_window import MainWindow

    windows = []

    def make(controller, **kw):
        kw.setdefault("settings", gui_settings)
        kw.setdefault("ask", lambda title, text: True)
        window = MainWindow(controller, **kw)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        if not window.closed:
            window.close()
