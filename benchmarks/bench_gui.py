"""The live window's cost while the simulated lab streams at full rate: refresh rate, camera
frames drawn per second, wall and main-thread CPU time inside a refresh and inside painting, CPU
of the process with and without the window, and dropped frames/samples — each workload run once
without the window (the peer baseline) and once with it, in the same process.

    python benchmarks/bench_gui.py [--seconds 10] [--refresh-hz 40] [--workload issue|rendered|both]
                                   [--record]

Workloads:
- ``issue`` (issue #7): two 640×480 cameras at 500 fps and the simulated DAQ at 2 kHz, 16 ch.
  The cameras serve frames rendered once before the clock starts, on the real trigger timeline
  (``_common.LoopedCamera``): rendering the simulated runner costs far more than a real camera's
  transfer, so it is not part of what a lab's machine would pay.
- ``rendered``: the simulated lab as the window runs it out of the box (two 640×480 cameras at
  250 fps rendered live, 2 kHz DAQ).

Pace is real time; live marker tracking and force analysis run on every frame and sample
(tracking in worker processes: their CPU is printed apart, as "child processes CPU", read from
/proc by ``_common.ChildCpu``; "process CPU" is the window's own process).
``--record`` also records to HDF5 during both runs. Wall figures depend on the machine and its
load (printed first); the main-thread CPU figures are the steadier ones. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import ChildCpu, Figure, LoopedCamera, looped_camera_factory, save_figures

WINDOW_SIZE = (1600, 1000)


def issue_config():
    from drivers.config import parse_config

    raw = {
        "lab": {"name": "benchmark"},
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": v, "kind": LoopedCamera.kind, "view": v, "rate_hz": 500.0}
            for v in ("sagittal", "posterior")
        ],
        "simulation": {"preset": "healthy", "setup": {"image_width": 640, "image_height": 480}},
    }
    return parse_config(raw)


def rendered_config():
    from drivers.config import simulated_config

    return simulated_config("healthy", frame_rate_hz=250.0)


WORKLOADS = {
    "issue": ("2 cameras 640x480 at 500 fps (pre-rendered frames) + DAQ 16 ch 2 kHz", issue_config),
    "rendered": ("2 cameras 640x480 at 250 fps rendered live + DAQ 16 ch 2 kHz", rendered_config),
}


class PaintClock:
    """Wall and main-thread CPU time inside every view's paintEvent, per view class: the
    pyqtgraph views and the live cameras (plain widgets painted by one QPainter).

    The window paints inside its refresh (``MainWindow._paint_now``), so the refresh's own
    timing includes these paints; what Qt's event loop paints apart from a refresh (a resize,
    or every paint with ``--paint-after-refresh``) is summed apart, to count each once."""

    def __init__(self) -> None:
        import pyqtgraph as pg

        from app.qt.live_camera import LiveCameraView
        from app.qt.main_window import MainWindow

        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.cpu_outside_refresh = 0.0  # painted by Qt's event loop, not inside a refresh
        self.wall_outside_refresh = 0.0
        self.refresh_code = MainWindow.refresh.__code__
        self.originals = {cls: cls.paintEvent for cls in (pg.GraphicsView, LiveCameraView)}
        for cls, original in self.originals.items():
            cls.paintEvent = self._timed(original)

    def _timed(self, original):
        clock = self

        def timed(view, event):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(view, event)
            finally:
                name = type(view).__name__
                clock.wall[name] += time.perf_counter() - wall
                spent = time.thread_time() - cpu
                clock.cpu[name] += spent
                clock.count[name] += 1
                if not clock.inside_refresh():
                    clock.cpu_outside_refresh += spent
                    clock.wall_outside_refresh += time.perf_counter() - wall

        return timed

    def inside_refresh(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code is self.refresh_code:
                return True
            frame = frame.f_back
        return False

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.count.clear()
        self.cpu_outside_refresh = 0.0
        self.wall_outside_refresh = 0.0

    def close(self) -> None:
        for cls, original in self.originals.items():
            cls.paintEvent = original


def dropped(controller, status) -> dict[str, int]:
    """Items lost anywhere: reported by the devices, missing from the cameras' counters or
    witness, and skipped by the live analysis (tracker and force analysis)."""
    return {
        "device_dropped": sum(d.dropped for d in status.devices),
        "frames_missing": sum(len(v) for v in status.dropped_frames.values()),
        "tracker_missed": sum(t.missed for t in controller.trackers.values()),
        "force_analysis_missed": controller.force.missed if controller.force else 0,
    }


def run_session(
    config,
    seconds: float,
    *,
    with_window: bool,
    refresh_hz: float,
    record: bool,
    paint=None,
    paint_in_refresh: bool = True,
) -> dict:
    from PySide6.QtCore import QSettings, QTimer

    from app.qt.launch import application
    from app.qt.main_window import MainWindow
    from app.session_controller import SessionController

    app = application()
    controller = SessionController(config, device_factory=looped_camera_factory)
    window = None
    if with_window:
        settings = QSettings(
            os.path.join(tempfile.mkdtemp(), "gui.ini"), QSettings.Format.IniFormat
        )
        window = MainWindow(
            controller, settings=settings, refresh_hz=refresh_hz, ask=lambda *_: True
        )
        window.paint_in_refresh = paint_in_refresh
        window.resize(*WINDOW_SIZE)
        window.show()
        window.connect_session()
        window.bar.mass.setValue(70.0)
    else:
        controller.connect()
    if record:
        controller.set_subject({"id": "bench", "body_mass_kg": 70.0})
        controller.start_recording(Path(tempfile.mkdtemp()) / "bench-gui.midstance.h5")
    app.processEvents()  # the first layout and paint are not part of the steady state
    if paint is not None:
        paint.reset()
    if window is not None:
        window.refresh_count, window.refresh_seconds, window.refresh_cpu_seconds = 0, 0.0, 0.0
        window.refresh_cpu_by_view = {}
        shown0 = {v: w.frames_shown for v, w in window.live.items()}
    before = controller.status()
    delivered0 = {d.name: d.items for d in before.devices}
    children = ChildCpu()  # marker-tracking worker processes (and their forkserver) apart
    cpu0, main0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    QTimer.singleShot(round(seconds * 1000), app.quit)
    app.exec()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    workers_cpu, workers = children.seconds()
    main_cpu = time.thread_time() - main0
    status = controller.status()
    session_s = status.elapsed_s - before.elapsed_s
    out = {
        "wall_s": wall,
        "cpu_pct": 100.0 * cpu / wall,
        "workers_cpu_pct": 100.0 * workers_cpu / wall,
        "workers": workers,
        "main_cpu_pct": 100.0 * main_cpu / wall,
        "dropped": dropped(controller, status),
        "session_s": session_s,
        "delivered": {d.name: d.items - delivered0[d.name] for d in status.devices},
        "rates": {d.name: d.rate_hz for d in status.devices},
        "banners": [b.text for b in status.banners],
        "stances": len(controller.stances()),
    }
    if window is not None:
        n = max(1, window.refresh_count)
        out["refresh_hz"] = window.refresh_count / wall
        out["paint_in_refresh"] = window.paint_in_refresh
        out["refresh_ms"] = 1000.0 * window.refresh_seconds / n
        out["refresh_cpu_ms"] = 1000.0 * window.refresh_cpu_seconds / n
        out["refresh_cpu_by_view"] = {
            k: 1000.0 * v / n for k, v in window.refresh_cpu_by_view.items()
        }
        out["frames_drawn_hz"] = {
            v: (w.frames_shown - shown0[v]) / wall for v, w in window.live.items()
        }
        if paint is not None:
            out["paint_ms"] = 1000.0 * sum(paint.wall.values()) / n
            out["paint_cpu_ms"] = 1000.0 * sum(paint.cpu.values()) / n
            # a tick: the refresh (with the painting done inside it) and any painting Qt's
            # event loop did apart from it
            out["tick_cpu_ms"] = out["refresh_cpu_ms"] + 1000.0 * paint.cpu_outside_refresh / n
            out["tick_ms"] = out["refresh_ms"] + 1000.0 * paint.wall_outside_refresh / n
            out["paint_by_view"] = {
                k: (paint.count[k] / wall, 1000 * paint.wall[k] / paint.count[k],
                    1000 * paint.cpu[k] / paint.count[k])
                for k in paint.wall
            }  # fmt: skip
        window.close()
    else:
        if record:
            controller.stop_recording()
        controller.close()
    return out


def views_only(frames: int = 120) -> dict[str, tuple[float, float]]:
    """Update and synchronously repaint each per-tick view (two live cameras, GRF, COP) from
    simulated-lab data with no acquisition running: main-thread CPU ms per refresh for the
    update and the paint of each view — the display's own cost, free of GIL contention.
    The trends (drawn once a second, not per tick) are timed per draw under "trends (per draw)".
    Each view is repainted whole (``viewport().repaint()``): the worst case of a tick. The
    sagittal camera is sized as in a 1600x1000 window, the posterior one as in a 1200x700 one
    (the window's minimum)."""
    import numpy as np

    from app.qt.force_views import CopView, GrfView
    from app.qt.launch import application
    from app.qt.live_camera import LiveCameraView
    from app.qt.theme import DARK
    from app.qt.trend_views import TrendView
    from drivers.sim import LabSetup, SimulatedLab, preset

    app = application()
    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=1, duration_s=20)
    cams = {v: LiveCameraView(v, v, DARK) for v in ("sagittal", "posterior")}
    grf, cop, trends = GrfView(DARK), CopView(DARK), TrendView(DARK)
    # the sagittal view as at 1600x1000 (as large as its freeze-frame), the posterior one as at
    # 1200x700 (a third of the image: a size where per-frame resampling once cost 26 ms)
    for widget, size in ((cams["sagittal"], (334, 250)), (cams["posterior"], (206, 154)),
                         (grf, (620, 260)), (cop, (620, 260)), (trends, (800, 300))):  # fmt: skip
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
    stances = [
        {"index": i, "side": s.side, "contact_s": s.contact_s, "toe_off_s": s.toe_off_s,
         "midstance_s": s.midstance_peak_vgrf_s, "hip_ankle_midstance_m": s.hip_ankle_midstance_m,
         "fppa_midstance_deg": s.fppa_midstance_deg, "pelvic_drop_deg": s.pelvic_drop_deg,
         "valr_BW_s": s.valr_N_s / lab.truth.body_weight_N,
         "vilr_BW_s": s.vilr_N_s / lab.truth.body_weight_N,
         "contact_time_s": s.toe_off_s - s.contact_s, "step_time_s": 0.36}
        for i, s in enumerate(lab.truth.stances)
    ]  # fmt: skip
    trends.add_stances(stances[:60], draw=False)  # a session a minute in
    app.processEvents()
    cost: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def timed(name: str, update, widget) -> None:
        cpu = time.thread_time()
        update()
        mid = time.thread_time()
        # a pyqtgraph scene is drawn on the view's viewport, not the view itself
        getattr(widget, "viewport", lambda: widget)().repaint()
        cost[name][0] += mid - cpu
        cost[name][1] += time.thread_time() - mid

    for i in range(frames):
        start = int((5.0 + i / 40.0) * rate)
        t = (start + np.arange(int(5 * rate))) / rate
        # as the window passes them: the stances analysed so far (toe-off before now) that
        # reach into the 5 s shown
        recent = [s for s in stances if t[0] <= s["toe_off_s"] <= t[-1]]
        fz = lab.true_forces(start, len(t))["belt"][:, 2]
        xy = lab.true_cop(start, len(t))[:, :2]
        for v, view in cams.items():
            j = i % len(images[v])
            caption = f"{v} · live · {i / 40:.1f} s"
            timed(f"camera {v}", lambda v=v, j=j, view=view, c=caption: view.show_frame(
                images[v][j], markers[v][j], c), view)  # fmt: skip
        timed("GRF", lambda t=t, fz=fz, r=recent: grf.show_force(t, fz, r, 700.0), grf)
        timed("COP", lambda t=t, xy=xy, r=recent: cop.show_cop(t, xy, r), cop)
    per_tick = {k: (1000 * u / frames, 1000 * p / frames) for k, (u, p) in cost.items()}
    draws = 20
    for i in range(draws):
        j = 60 + 2 * i
        timed("trends", lambda j=j: trends.add_stances(stances[j : j + 2]), trends)
    update, paint = cost.pop("trends")
    per_tick["trends (per draw)"] = (1000 * update / draws, 1000 * paint / draws)
    return per_tick


def print_workload(name: str, peer: dict, gui: dict, refresh_hz: float, seconds: float) -> None:
    print(f"\n== {WORKLOADS[name][0]}, real-time pace, {seconds:g} s ==")
    print(f"{'':34}{'no window':>12}{'window':>12}")
    print(f"{'process CPU (% of one core)':34}{peer['cpu_pct']:>11.0f}%{gui['cpu_pct']:>11.0f}%")
    workers = f"child processes CPU ({max(peer['workers'], gui['workers'])} seen)"
    print(f"{workers:34}{peer['workers_cpu_pct']:>11.0f}%{gui['workers_cpu_pct']:>11.0f}%")
    print(f"{'main-thread CPU (% of one core)':34}{'':>12}{gui['main_cpu_pct']:>11.0f}%")
    for key in ("device_dropped", "frames_missing", "tracker_missed", "force_analysis_missed"):
        print(f"{key.replace('_', ' '):34}{peer['dropped'][key]:>12,}{gui['dropped'][key]:>12,}")
    for device in gui["delivered"]:
        expected = [round(r["session_s"] * r["rates"][device]) for r in (peer, gui)]
        got = [r["delivered"][device] for r in (peer, gui)]
        cells = [f"{100 * g / max(e, 1):.0f}%" for g, e in zip(got, expected, strict=True)]
        print(f"{device + ' delivered / expected':34}{cells[0]:>12}{cells[1]:>12}")
    print(f"{'stances analysed':34}{peer['stances']:>12}{gui['stances']:>12}")
    print(f"window refresh rate               {gui['refresh_hz']:.1f} Hz (timer {refresh_hz:g} Hz)")
    for view, hz in gui["frames_drawn_hz"].items():
        print(f"{view + ' frames drawn':34}{hz:.1f} /s")
    tick_wall, tick_cpu = gui["tick_ms"], gui["tick_cpu_ms"]
    where = "inside the refresh" if gui["paint_in_refresh"] else "after the refresh, by Qt"
    print(
        f"per refresh: inside refresh       {gui['refresh_ms']:.1f} ms wall, "
        f"{gui['refresh_cpu_ms']:.1f} ms main-thread CPU"
    )
    by_view = ", ".join(f"{k} {v:.1f}" for k, v in gui["refresh_cpu_by_view"].items())
    print(f"  refresh CPU by view (ms): {by_view}")
    print(
        f"per refresh: painting ({where})  {gui['paint_ms']:.1f} ms wall, "
        f"{gui['paint_cpu_ms']:.1f} ms main-thread CPU"
    )
    for view, (hz, wall_ms, cpu_ms) in sorted(gui["paint_by_view"].items()):
        print(f"  paint {view:26}{hz:5.1f} /s  {wall_ms:5.1f} ms wall  {cpu_ms:5.1f} ms CPU each")
    print(
        f"per refresh: the whole tick        {tick_wall:.1f} ms wall, "
        f"{tick_cpu:.1f} ms main-thread CPU"
    )
    ratio = gui["cpu_pct"] / max(peer["cpu_pct"], 1e-9)
    print(f"process CPU with window / without ×{ratio:.2f}")
    if gui["refresh_hz"] < 30.0:
        ceiling = 1000.0 / max(tick_cpu, 1e-9)
        waiting = 100.0 * (1.0 - tick_cpu / max(tick_wall, 1e-9))
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
        print(
            f"below 30 Hz: a refresh + its paint needs {tick_cpu:.1f} ms of main-thread CPU "
            f"(≤ {ceiling:.0f} Hz if it ran alone) but takes {tick_wall:.1f} ms of wall time: "
            f"{waiting:.0f} % of it the main thread was not running."
        )
        # the load average counts this process's own runnable threads and its tracking workers
        # too: what is left of it after their CPU use is the other work competing for the cores
        others = load - (gui["cpu_pct"] + gui["workers_cpu_pct"]) / 100.0
        if others > 0.5:
            print(
                f"  the machine is oversubscribed (load average {load:.1f} on {cores} cores, "
                f"~{others:.1f} of it other work): "
                f"this process got {gui['cpu_pct']:.0f} % of the {100 * cores} % it could use, "
                "so the main thread mostly waited for a core; run again on an idle machine"
            )
        else:
            print(
                f"  the process had CPU to spare ({gui['cpu_pct']:.0f} % of {100 * cores} %; "
                f"load average {load:.1f} on {cores} cores, ~{max(others, 0):.1f} of it other "
                "work): "
                "the main thread mostly waited for the GIL held by the acquisition, tracking "
                "and recording threads (compare --switch-interval 0.0005)"
            )
    print(f"banners with window: {gui['banners'] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--refresh-hz", type=float, default=40.0)
    parser.add_argument("--workload", choices=("issue", "rendered", "both"), default="both")
    parser.add_argument("--record", action="store_true", help="also record to HDF5")
    parser.add_argument("--quick", action="store_true", help="5 s of the issue workload only")
    parser.add_argument("--json", type=Path, help="also write the figures here (run_all.py)")
    parser.add_argument(
        "--switch-interval", type=float, help="sys.setswitchinterval (s) for the whole run"
    )
    parser.add_argument(
        "--paint-after-refresh",
        action="store_true",
        help="let Qt's event loop paint after each refresh (the window paints inside it)",
    )
    parser.add_argument(
        "--compare-paint",
        type=int,
        metavar="N",
        help="only: N alternating window runs painting inside / after the refresh",
    )
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    os.environ["MIDSTANCE_DATA_DIR"] = tempfile.mkdtemp(prefix="midstance-bench-gui-")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"window {WINDOW_SIZE[0]}x{WINDOW_SIZE[1]} offscreen; recording: {args.record}; "
        f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    names = ("issue", "rendered") if args.workload == "both" else (args.workload,)
    if args.quick:
        names, args.seconds = ("issue",), 5.0
    paint = PaintClock()
    if args.compare_paint:
        compare_paint(WORKLOADS[names[0]][1], args, paint)
        return
    figures = []
    for name in names:
        config = WORKLOADS[name][1]
        common = {
            "refresh_hz": args.refresh_hz,
            "record": args.record,
            "paint_in_refresh": not args.paint_after_refresh,
        }
        peer = run_session(config(), args.seconds, with_window=False, **common)
        gui = run_session(config(), args.seconds, with_window=True, paint=paint, **common)
        print_workload(name, peer, gui, args.refresh_hz, args.seconds)
        figures += workload_figures(name, peer, gui, args.seconds)
    paint.close()
    print("\nviews only (no acquisition), main-thread CPU per refresh: update + paint")
    total = 0.0
    for view, (update_ms, paint_ms) in views_only().items():
        print(f"  {view:24}{update_ms:5.2f} + {paint_ms:5.2f} ms")
        if "per draw" in view:
            trends_ms = update_ms + paint_ms
        else:
            total += update_ms + paint_ms
    print(f"  {'all per tick':24}{total:5.2f} ms (≤ {1000 / total:.0f} fps)")
    print(f"  {'trends once a second':24}{trends_ms / 40:5.2f} ms per tick at 40 Hz")
    figures.append(
        Figure("gui", "views only: update + paint per refresh", total, "ms CPU",
               "2 live cameras 640x480, GRF 10 000 samples, COP; no acquisition")
    )  # fmt: skip
    save_figures(args.json, figures)


def compare_paint(config, args, paint: PaintClock) -> None:
    """The window painting inside its refresh against Qt's event loop painting after it,
    alternating in one process (the machine's load changes between runs; compare pairs)."""
    print("\nwindow runs, alternating: paint inside the refresh / after it (Qt's event loop)")
    run_session(config(), 2.0, with_window=True, refresh_hz=args.refresh_hz, record=False)
    for _ in range(args.compare_paint):
        for inside in (True, False):
            load = os.getloadavg()[0]
            gui = run_session(
                config(),
                args.seconds,
                with_window=True,
                refresh_hz=args.refresh_hz,
                record=args.record,
                paint=paint,
                paint_in_refresh=inside,
            )
            print(
                f"  {'inside' if inside else 'after ':6}  load {load:4.1f}  "
                f"refresh {gui['refresh_hz']:5.1f} Hz  tick {gui['tick_ms']:5.1f} ms wall "
                f"{gui['tick_cpu_ms']:4.1f} ms CPU  process CPU {gui['cpu_pct']:3.0f}%",
                flush=True,
            )


def workload_figures(name: str, peer: dict, gui: dict, seconds: float) -> list[Figure]:
    """The headline figures of one workload for ``run_all.py``'s reference table."""
    workload = f"{WORKLOADS[name][0]}, real time, {seconds:g} s, load {os.getloadavg()[0]:.1f}"
    tick_cpu = gui["tick_cpu_ms"]
    lost = sum(gui["dropped"][k] for k in ("device_dropped", "frames_missing"))
    drawn = min(gui["frames_drawn_hz"].values())
    return [
        Figure("gui", f"{name}: window refresh rate", gui["refresh_hz"], "Hz", workload,
               note=f"timer 40 Hz; camera frames drawn {drawn:.1f}/s"),
        Figure("gui", f"{name}: main-thread CPU per refresh + paint", tick_cpu, "ms", workload,
               note=f"wall {gui['tick_ms']:.1f} ms"),
        Figure("gui", f"{name}: process CPU with window", gui["cpu_pct"], "% of a core", workload,
               ratio=gui["cpu_pct"] / max(peer["cpu_pct"], 1e-9), ratio_to="no window",
               note=f"child (tracking) processes {gui['workers_cpu_pct']:.0f} % with the window, "
               f"{peer['workers_cpu_pct']:.0f} % without"),
        Figure("gui", f"{name}: frames/samples lost with window", lost, "items", workload,
               note=f"live tracker skipped {gui['dropped']['tracker_missed']} frames "
               f"(without window {peer['dropped']['tracker_missed']})"),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
