"""Starting the window: the Qt application, the session controller on the configured lab (or the
simulated lab when none is configured), and an orderly shutdown that closes the recording."""

from __future__ import annotations

import os
import sys
from typing import Any

from PySide6.QtWidgets import QApplication


def application() -> QApplication:
    """The one QApplication (offscreen when there is no display on Linux)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Midstance")
    app.setOrganizationName("Midstance")
    return app


def lab_config(config_path: str | None, preset: str | None) -> Any:
    """The hardware configuration file, or the simulated lab (with the runner preset)."""
    from drivers.config import load_config, simulated_config

    if config_path:
        return load_config(config_path)
    return simulated_config(preset or "healthy")


def has_display() -> bool:
    """False on a Linux machine with no desktop session (and no platform chosen explicitly)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_window(config_path: str | None = None, preset: str | None = None) -> int:
    """Open the live window and run until it is closed; returns the exit code."""
    from analysis.errors import MidstanceError
    from app.qt.main_window import MainWindow
    from app.session_controller import SessionController

    if not has_display():
        raise MidstanceError(
            "there is no display to open the live window on (no DISPLAY or WAYLAND_DISPLAY)",
            subject="midstance gui",
            remedy="Run it in the lab PC's desktop session; for images of the window without a "
            "display use 'midstance screenshot --out DIR'.",
        )
    app = application()
    controller = SessionController(lab_config(config_path, preset))
    window = MainWindow(controller)
    window.show()
    window.connect_session()
    code = app.exec()
    if not window.closed:
        window.close()
    return int(code)
