"""PNG screenshots of the live window's main states on the simulated lab (for the clinician's
guide and for checking the layout): idle, recording with live data, the midstance freeze-frames,
and the error banner after a camera is unplugged mid-recording.

The run uses a temporary data folder, so its demo recording never enters the session library.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from drivers.base import DeviceLost

WINDOW_SIZE = (1600, 1000)


def _pump(app, seconds: float) -> None:
    """Let the window run (timers, painting) for ``seconds`` of wall time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)


def unplug_camera(controller, camera: str) -> None:
    """Make a simulated camera fail as if its cable were pulled (demo and training)."""
    device = controller.camera_streams[camera].device

    def lost(out, timeout_s):
        raise DeviceLost(
            camera,
            "the camera stopped answering (cable unplugged?)",
            "Check the camera's cable and power, then connect again.",
        )

    device._read = lost


def take_screenshots(
    out_dir: Path,
    preset: str = "valgus-left",
    theme: str = "dark",
    width: int | None = None,
    size: tuple[int, int] = WINDOW_SIZE,
) -> list[Path]:
    """Write the PNGs into ``out_dir``; ``size`` is the window's size (a small screen can be
    checked), ``width`` scales the whole-window shots down (docs)."""
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtGui import QImage

    from app.qt.launch import application
    from app.qt.main_window import MainWindow
    from app.session_controller import SessionController
    from drivers.config import simulated_config

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="midstance-screens-") as scratch:
        os.environ["MIDSTANCE_DATA_DIR"] = scratch
        app = application()
        settings = QSettings(str(Path(scratch) / "gui.ini"), QSettings.Format.IniFormat)
        controller = SessionController(simulated_config(preset))
        window = MainWindow(controller, settings=settings, theme=theme, ask=lambda *_: True)
        window.resize(*size)
        window.show()
        window.connect_session()

        def shoot(name: str, widget=None) -> None:
            _pump(app, 0.3)
            path = out_dir / f"{name}.png"
            pixmap = (widget or window).grab()
            image = pixmap.toImage()
            if width and widget is None and image.width() > width:
                image = image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
                # documentation copies: 256 colours keep a whole-window shot under 300 KB
                image = image.convertToFormat(QImage.Format.Format_Indexed8)
            image.save(str(path))
            written.append(path)

        _pump(app, 2.0)
        shoot("idle")
        bar = window.bar
        bar.subject_id.setText("DEMO-01")
        bar.mass.setValue(62.0)
        bar.leg.setValue(90.0)
        bar.pain.setCurrentIndex(bar.pain.findData("right"))
        bar.speed.setValue(3.0)
        bar.select_protocol("running-assessment")
        bar.select_step("baseline")
        window.start_recording()
        _pump(app, 9.0)
        shoot("recording")
        shoot("freeze-sagittal", window.freeze["sagittal"])
        shoot("freeze-posterior", window.freeze["posterior"])
        unplug_camera(controller, "sagittal")
        _pump(app, 2.0)
        shoot("error-banner")
        window.close()
    return written
