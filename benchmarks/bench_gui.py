"""The live window's cost while the simulated lab streams at full rate (2000 Hz force, two
640×480 cameras at 250 fps, real-time pace): refresh rate, camera frames drawn per second, time
spent in a refresh, CPU use of the process, and dropped frames/samples — with a peer run of the
same session without the window in the same process as the baseline.

    python benchmarks/bench_gui.py [--seconds 20] [--refresh-hz 40]

Figures depend on the machine and its load; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def dropped(status) -> int:
    """Items the devices reported lost plus frames the witness/counters say are missing."""
    return sum(d.dropped for d in status.devices)


def run_session(seconds: float, with_window: bool, refresh_hz: float) -> dict:
    from PySide6.QtCore import QSettings, QTimer

    from app.qt.launch import application
    from app.qt.main_window import MainWindow
    from app.session_controller import SessionController
    from drivers.config import simulated_config

    app = application()
    controller = SessionController(simulated_config("healthy"))
    window = None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if with_window:
        settings = QSettings(
            os.path.join(tempfile.mkdtemp(), "gui.ini"), QSettings.Format.IniFormat
        )
        window = MainWindow(
            controller, settings=settings, refresh_hz=refresh_hz, ask=lambda *_: True
        )
        window.resize(1600, 1000)
        window.show()
        window.connect_session()
    else:
        controller.connect()
    QTimer.singleShot(round(seconds * 1000), app.quit)
    app.exec()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    status = controller.status()
    out = {
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_pct": 100.0 * cpu / wall,
        "dropped": dropped(status),
        "daq_items": next(d.items for d in status.devices if not d.view),
        "banners": [b.text for b in status.banners],
        "stances": len(controller.stances()),
    }
    if window is not None:
        out["refresh_hz"] = window.refresh_count / wall
        out["refresh_ms"] = 1000.0 * window.refresh_seconds / max(1, window.refresh_count)
        out["frames_drawn_hz"] = {v: w.frames_shown / wall for v, w in window.live.items()}
        window.close()
    else:
        controller.close()
    return out


def views_only(frames: int = 120) -> dict:
    """Update and synchronously repaint the per-tick views (two live cameras, GRF, COP) from
    simulated-lab data with no acquisition running: the display's own cost per refresh."""
    import numpy as np

    from app.qt.force_views import CopView, GrfView
    from app.qt.launch import application
    from app.qt.theme import DARK
    from app.qt.video_views import CameraView
    from drivers.sim import LabSetup, SimulatedLab, preset

    app = application()
    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=1, duration_s=20)
    cams = {v: CameraView(v, v, DARK) for v in ("sagittal", "posterior")}
    grf, cop = GrfView(DARK), CopView(DARK)
    for widget, size in ((cams["sagittal"], (480, 360)), (cams["posterior"], (480, 360)),
                         (grf, (620, 260)), (cop, (620, 260))):  # fmt: skip
        widget.resize(*size)
        widget.show()
    cop.set_outline([lab.plate_configs()[0]["corners_m"]])
    rate = lab.setup.daq_rate_hz
    images = {v: [lab.frame(v, k) for k in range(0, 250, 2)] for v in cams}
    markers = {
        v: [dict(zip(t.names, map(tuple, t.pixels), strict=True))
            for t in (lab.frame_truth(v, k) for k in range(0, 250, 2))]
        for v in cams
    }  # fmt: skip
    app.processEvents()
    started = time.perf_counter()
    for i in range(frames):
        start = int((5.0 + i / 40.0) * rate)
        t = (start + np.arange(int(5 * rate))) / rate
        fz = lab.true_forces(start, len(t))["belt"][:, 2]
        xy = lab.true_cop(start, len(t))[:, :2]
        for v, view in cams.items():
            j = i % len(images[v])
            view.show_frame(images[v][j], markers[v][j])
            view.repaint()
        grf.show_force(t, fz, [], 700.0)
        grf.repaint()
        cop.show_cop(t, xy, [])
        cop.repaint()
    per_frame = (time.perf_counter() - started) / frames
    return {"ms": 1000.0 * per_frame, "fps": 1.0 / per_frame}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--refresh-hz", type=float, default=40.0)
    args = parser.parse_args()
    os.environ["MIDSTANCE_DATA_DIR"] = tempfile.mkdtemp(prefix="midstance-bench-gui-")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    peer = run_session(args.seconds, with_window=False, refresh_hz=args.refresh_hz)
    gui = run_session(args.seconds, with_window=True, refresh_hz=args.refresh_hz)
    print(f"session of {args.seconds:g} s, simulated lab at full rate, real-time pace")
    print(f"{'':28}{'no window':>12}{'window':>12}")
    for key, fmt in (("cpu_pct", "{:.0f} %"), ("dropped", "{:d}"), ("stances", "{:d}")):
        print(f"{key:28}{fmt.format(peer[key]):>12}{fmt.format(gui[key]):>12}")
    print(f"{'DAQ samples delivered':28}{peer['daq_items']:>12,}{gui['daq_items']:>12,}")
    print(
        f"window refresh rate           {gui['refresh_hz']:.1f} Hz (timer {args.refresh_hz:g} Hz)"
    )
    print(f"time inside one refresh       {gui['refresh_ms']:.1f} ms")
    for view, hz in gui["frames_drawn_hz"].items():
        print(f"{view + ' frames drawn':28}  {hz:.1f} /s")
    views = views_only()
    print(
        f"views only: update + paint    {views['ms']:.1f} ms per refresh (≤ {views['fps']:.0f} fps)"
    )
    ratio = gui["cpu_pct"] / max(peer["cpu_pct"], 1e-9)
    print(f"CPU with window / without     ×{ratio:.2f}")
    print(f"banners with window: {gui['banners'] or 'none'}")


if __name__ == "__main__":
    main()
