"""The clinician's live window: a thin client of :class:`app.session_controller.SessionController`.

It calls the controller from the GUI thread, polls its snapshots on a QTimer (frames and samples
never travel through signals), and receives small notifications through one bridge QObject.
Each view refreshes inside its own guard: an exception is logged with its traceback, shown once
as a banner, and never reaches acquisition or recording.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGroupBox,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from analysis.errors import MidstanceError
from analysis.provenance import software_version
from app.qt.big_numbers import BigNumbers
from app.qt.bridge import ControllerBridge
from app.qt.devices_panel import BannerStrip, DevicesPanel, ShownBanner, calibration_banners
from app.qt.force_views import (
    GRAVITY,
    CopView,
    ForceHistory,
    GrfView,
    body_weight_from_mass,
)
from app.qt.live_camera import LiveCameraView
from app.qt.procedure_run import ProcedureRunPanel
from app.qt.references import load_lab_ranges
from app.qt.session_bar import SessionBar
from app.qt.theme import apply_theme, theme_named
from app.qt.trend_views import TrendView
from app.qt.video_grid import VideoGrid
from app.qt.video_views import FreezeFrameView

log = logging.getLogger("midstance.gui")
VIEWS = ("sagittal", "posterior")
STATUS_EVERY_S = 0.5  # device panel, clock and banners: a few times a second is enough to read
CALIBRATION_EVERY_S = 30.0
TRENDS_EVERY_S = 1.0  # the six trend plots are the window's costliest paint: redrawn once a second
SUMMARY_LAST_N = 20
WEIGH_SECONDS = 2.0
DEFAULT_SIZE = (1600, 1000)
MINIMUM_SIZE = (1200, 700)  # the window stays usable down to a 1280×720 or 1200×750 screen
TOP_SIZES = (700, 900)  # video column : numbers and force, scaled to the window's width
# the saved divider positions are restored only if saved by this layout: version 1 (before the
# live views were as large as the freeze-frames) kept the video column 1000 px wide in 1600
LAYOUT_VERSION = 2
FAR_LEG_FLAG = "far_leg_not_in_view"  # a stance of the leg the sagittal camera cannot see


def attach_log_file() -> logging.Handler:
    """Log the window's errors to ``midstance.log`` in the user's data folder (as the CLI does)."""
    from data.paths import logs_dir

    handler = logging.FileHandler(logs_dir() / "midstance.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def error_sentence(exc: BaseException) -> str:
    if isinstance(exc, MidstanceError):
        return exc.sentence()
    return f"unexpected {type(exc).__name__}: {exc}. Details are in the log file."


def last_usable(results: list[Any], last_n: int) -> list[Any]:
    """The stances a last-``last_n`` summary uses, found from the end: the summary's cost stays
    the same in the 20th minute as in the first (it does not convert every stance so far)."""
    from analysis.force_metrics import EXCLUDING_FLAGS

    wanted = {"L": last_n, "R": last_n}
    picked = []
    for r in reversed(results):
        if not any(wanted.values()):
            break
        if wanted.get(r.side, 0) and not EXCLUDING_FLAGS.intersection(r.flags or ()):
            wanted[r.side] -= 1
            picked.append(r)
    return picked[::-1]


class MainWindow(QMainWindow):
    """See the module docstring. ``ask`` answers yes/no questions (tests replace it)."""

    def __init__(
        self,
        controller: Any,
        *,
        settings: QSettings | None = None,
        theme: str | None = None,
        refresh_hz: float = 40.0,
        procedures: dict[str, Any] | None = None,
        ask: Callable[[str, str], bool] | None = None,
        owns_controller: bool = True,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.settings = settings if settings is not None else QSettings("Midstance", "Midstance")
        self.theme = theme_named(theme or str(self.settings.value("theme", "dark")))
        self.ask = ask or self._ask_with_dialog
        self.owns_controller = owns_controller
        self.setWindowTitle(f"Midstance {software_version()} — live session")
        self.log_handler = attach_log_file()
        if procedures is None:
            from protocols.loader import scan_library

            procedures, _problems = scan_library()
        self.bridge = ControllerBridge(self)
        self.bridge.notified.connect(self._on_notification)
        self.bridge.job_done.connect(self._on_job_done)

        self.bar = SessionBar(procedures)
        self.procedure_panel = ProcedureRunPanel(controller, procedures)
        self.procedure_panel.run_ended.connect(lambda _s: self._take_status(controller.status()))
        self.banners = BannerStrip(self.theme)
        self.live = {v: LiveCameraView(v, f"{v.capitalize()} · live", self.theme) for v in VIEWS}
        self.freeze = {
            v: FreezeFrameView(v, f"{v.capitalize()} · midstance", self.theme) for v in VIEWS
        }
        self.numbers = BigNumbers(self.theme, SUMMARY_LAST_N)
        self.grf = GrfView(self.theme)
        self.cop = CopView(self.theme)
        self.trends = TrendView(self.theme)
        self.devices = DevicesPanel(self.theme)
        self._scene_views = (self.grf, self.cop, self.trends, *self.freeze.values())
        self.paint_in_refresh = True  # see _paint_now (the benchmark compares both)
        self._build_layout()
        self._build_actions()
        self._connect_bar()

        # state seen by the views
        self.stances: list[dict[str, Any]] = []
        self.stance_results: list[Any] = []  # the controller's StanceResult objects
        self.saved_summary: dict | None = None  # the last saved file's numbers, after a stop
        self.camera_of_view: dict[str, str] = {}
        self.shown_frame: dict[str, int] = {}
        self.status = None
        self.recording_started_s: float | None = None
        self.view_errors: dict[str, str] = {}
        self.action_error: ShownBanner | None = None
        self.calibration: tuple[list[ShownBanner], str] = ([], "never")
        self._calibration_checked = -math.inf
        self._zeroed = False  # plates zeroed in this session (the calibration banners change)
        self.busy = ""  # a background job in progress ("zero", "stop")
        self.job_thread = None
        self.refresh_count = 0
        self.refresh_seconds = 0.0  # wall time spent inside refresh (for the benchmark)
        self.refresh_cpu_seconds = 0.0  # the GUI thread's CPU time inside refresh
        self.refresh_cpu_by_view: dict[str, float] = {}  # ... and per view (for the benchmark)
        self._status_taken = -math.inf  # monotonic time of the last status poll
        self._force_end_s: float | None = None  # newest force sample drawn
        self.force_history = ForceHistory()
        self._force_mass: float | None = None  # body mass the force was drawn with
        self._trends_drawing = False  # a redraw spread over ticks (one plot each) is under way
        self._trends_drawn = -math.inf  # monotonic time the last redraw started
        self.closed = False
        try:
            self.numbers.set_ranges(load_lab_ranges())
        except MidstanceError as exc:
            self.show_error(exc)
            from app.qt.references import DEFAULT_RANGES

            self.numbers.set_ranges(DEFAULT_RANGES)

        controller.add_listener(self.bridge.post)
        self.timer = QTimer(self)
        self.timer.setInterval(max(5, round(1000.0 / refresh_hz)))
        self.timer.timeout.connect(self.refresh)
        self.apply_theme(self.theme.name)
        self._restore_layout()

    # -- building ----------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        # each camera live beside its freeze-frame, the two the same size (app/qt/video_grid.py)
        self.video = VideoGrid({v: (self.live[v], self.freeze[v]) for v in VIEWS})
        # the GRF and the COP side by side: the GRF wants width, the plate seen from above is
        # long and narrow; stacked, each got a sliver of height on a 1200×750 screen
        self.force_row = QSplitter(Qt.Orientation.Horizontal)
        self.force_row.addWidget(self.grf)
        self.force_row.addWidget(self.cop)
        self.force_row.setStretchFactor(0, 3)
        self.force_row.setStretchFactor(1, 1)
        self.force_row.setSizes([400, 220])
        self.grf.setMinimumSize(240, 110)
        self.cop.setMinimumSize(150, 110)
        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.addWidget(self.numbers)  # it asks for the height its text needs
        self.right.addWidget(self.force_row)
        self.right.setSizes([300, 240])  # the numbers first: their range notes wrap to 2 lines
        self.top = QSplitter(Qt.Orientation.Horizontal)
        self.top.addWidget(self.video)
        self.top.addWidget(self.right)
        # the video column about as wide as its two 4:3 panes per row need at the default size
        # (wider only adds margins around them); the numbers and the force get the rest
        self.top.setSizes(list(TOP_SIZES))
        devices_box = QGroupBox("Devices")
        QVBoxLayout(devices_box).addWidget(self.devices)
        self.bottom = QSplitter(Qt.Orientation.Horizontal)
        self.bottom.addWidget(self.trends)
        self.bottom.addWidget(devices_box)
        procedure_box = QGroupBox("Procedure")
        scroll = QScrollArea()  # never adds to the window's minimum height
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.procedure_panel)
        QVBoxLayout(procedure_box).addWidget(scroll)
        self.bottom.addWidget(procedure_box)
        self.bottom.setSizes([800, 440, 500])
        self.main = QSplitter(Qt.Orientation.Vertical)
        self.main.addWidget(self.top)
        self.main.addWidget(self.bottom)
        for splitter in (self.top, self.main):  # a divider dragged too far never hides the video
            splitter.setCollapsible(0, False)
        self.main.setSizes([600, 340])  # the trends' two rows of plots keep readable height
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.bar)
        layout.addWidget(self.banners)
        layout.addWidget(self.main, 1)
        self.setCentralWidget(central)

    def _build_actions(self) -> None:
        session = self.menuBar().addMenu("&Session")
        self.record_action = QAction("Record", self, shortcut=QKeySequence("F5"))
        self.stop_action = QAction("Stop", self, shortcut=QKeySequence("F6"))
        self.mark_action = QAction("Mark", self, shortcut=QKeySequence("F7"))
        self.zero_action = QAction("Zero plates", self)
        for action, slot in (
            (self.record_action, self.start_recording),
            (self.stop_action, self.stop_recording),
            (self.mark_action, self.mark),
            (self.zero_action, self.zero_plates),
        ):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            session.addAction(action)
        view = self.menuBar().addMenu("&View")
        group = QActionGroup(self)
        self.theme_actions = {}
        for name in ("dark", "light"):
            action = QAction(f"{name.capitalize()} theme", self, checkable=True)
            action.triggered.connect(lambda _c=False, n=name: self.apply_theme(n))
            group.addAction(action)
            view.addAction(action)
            self.theme_actions[name] = action

    def _connect_bar(self) -> None:
        bar = self.bar
        bar.record_requested.connect(self.start_recording)
        bar.stop_requested.connect(self.stop_recording)
        bar.mark_requested.connect(self.mark)
        bar.zero_requested.connect(self.zero_plates)
        bar.weigh_requested.connect(self.weigh_on_plate)
        bar.subject_edited.connect(self.apply_subject)
        # the mass the force is drawn with, read from the bar when it is edited, not every tick
        # (reading the bar is several Qt calls)
        self.body_mass_kg: float | None = None
        bar.mass.valueChanged.connect(
            lambda _v: setattr(self, "body_mass_kg", bar.subject().get("body_mass_kg"))
        )
        bar.treadmill_edited.connect(self._treadmill_changed)

    # -- starting and stopping ---------------------------------------------------------------------
    def connect_session(self) -> None:
        """Connect the devices (live view starts) and the refresh timer."""
        try:
            status = self.controller.connect()
        except MidstanceError as exc:
            self.show_error(exc)
            return
        self._take_status(status)
        plates = getattr(getattr(self.controller, "setup", None), "plates", None) or []
        self.cop.set_outline(
            [p.corners_m for p in plates if getattr(p, "corners_m", None) is not None]
        )
        self.timer.start()

    def start_recording(self) -> None:
        if self.busy or self.status is None or self.status.state != "connected":
            return
        step = self.bar.current_step()
        step_id = step.id if step is not None and step.kind == "acquisition" else None
        try:
            self.controller.set_subject(self.bar.subject())
            self.controller.start_recording(
                protocol=self.bar.procedure_name() or None, step=step_id
            )
            self.recording_started_s = self.controller.status().elapsed_s
            self.controller.mark(self.bar.treadmill_text())
        except MidstanceError as exc:
            self.show_error(exc)
            return
        self.clear_action_error()
        self.saved_summary = None
        self._show_live_numbers()
        self.bar.set_recording(True)
        self._take_status(self.controller.status())

    def stop_recording(self) -> None:
        if self.procedure_panel.acquiring:  # the procedure's recording: the runner stops it
            self.procedure_panel.buttons["stop"].click()
            return
        if self.busy or self.status is None or self.status.state != "recording":
            return
        self.busy = "stop"
        self.bar.stop.setEnabled(False)
        self.bar.state.setText("Closing the file…")
        self.job_thread = self.bridge.run_in_background("stop", self.controller.stop_recording)

    def mark(self) -> None:
        if self.status is None or self.status.state != "recording":
            return
        try:
            self.controller.mark(f"mark at {time.strftime('%H:%M:%S')}")
        except MidstanceError as exc:
            self.show_error(exc)
            return
        self.statusBar().showMessage("Mark placed", 3000)

    def zero_plates(self) -> None:
        if self.busy or self.status is None or self.status.state != "connected":
            return
        self.busy = "zero"
        self.bar.zero.setEnabled(False)
        self.statusBar().showMessage("Zeroing: keep the plate unloaded…")
        self.job_thread = self.bridge.run_in_background("zero", self.controller.zero_plates)

    def weigh_on_plate(self) -> None:
        """Body mass from the mean Fz of the last seconds, if the load is steady (standing)."""
        try:
            window = self.controller.force_window(WEIGH_SECONDS)
            fz = window.F[:, 2]
            mean = float(fz.mean()) if len(fz) else math.nan
            if not (len(fz) and mean > 200.0 and float(fz.std()) < 0.03 * mean):
                raise MidstanceError(
                    "the plate force is not steady, so no body mass can be taken from it",
                    subject="weighing",
                    remedy="Stop the belt, ask the runner to stand still on the plate for two "
                    "seconds, then press Weigh again, or type the mass.",
                )
        except MidstanceError as exc:
            self.show_error(exc)
            return
        self.bar.mass.setValue(mean / GRAVITY)
        self.statusBar().showMessage(f"Weighed: {mean / GRAVITY:.1f} kg", 5000)

    def apply_subject(self) -> None:
        try:
            self.controller.set_subject(self.bar.subject())
        except MidstanceError as exc:
            self.show_error(exc)
            return
        self.clear_action_error()

    def _treadmill_changed(self) -> None:
        if self.status is not None and self.status.state == "recording":
            try:
                self.controller.mark(self.bar.treadmill_text())
            except MidstanceError as exc:
                self.show_error(exc)

    # -- notifications and jobs (GUI thread) -----------------------------------------------------
    def _on_notification(self, kind: str, payload: dict) -> None:
        if kind == "device-error":
            log.error("device error: %s", payload)
            self._take_status(self.controller.status())
        elif kind in ("recording-started", "recording-stopped", "status", "recorder-behind"):
            self._take_status(self.controller.status())

    def _on_job_done(self, name: str, result: object, error: object) -> None:
        self.busy = ""
        if error is not None:
            self.show_error(error)
        elif name == "zero":
            self.statusBar().showMessage("Plates zeroed", 5000)
            self.clear_action_error()
        elif name == "stop":
            self.statusBar().showMessage(f"Saved {result}", 10000)
            self.bar.advance_step()
            self.recording_started_s = None
            self.guarded("numbers", lambda: self._show_saved_numbers(str(result)))
        self._take_status(self.controller.status())

    # -- polling -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """One tick: video, force and COP if new data came; trends and numbers only when a
        stance arrived; the device panel, clock and banners every ``STATUS_EVERY_S``."""
        started, cpu = time.perf_counter(), time.thread_time()
        self.refresh_count += 1
        if time.monotonic() - self._status_taken >= STATUS_EVERY_S:
            self._status_taken = time.monotonic()
            self.guarded("devices", lambda: self._take_status(self.controller.status()))
        self.guarded("force", self._refresh_force)
        self.guarded("video", self._refresh_video)
        self.guarded("stances", self._refresh_stances)
        if self.paint_in_refresh:
            self.guarded("paint", self._paint_now)
        self.refresh_seconds += time.perf_counter() - started
        self.refresh_cpu_seconds += time.thread_time() - cpu

    def _paint_now(self) -> None:
        """Paint what this tick changed before returning to Qt's event loop.

        Left to the event loop, one tick's drawing is ~20 separate calls from Qt into Python
        (each plot item's ``boundingRect`` as its scene processes it, each view's
        ``paintEvent``), and each must first win the interpreter lock back from the
        acquisition threads. Here the scenes' pending item updates and the window's pending
        update request are handled inside this call, which already holds the lock."""
        for view in self._scene_views:
            QCoreApplication.sendPostedEvents(view.scene(), QEvent.Type.MetaCall)
        QCoreApplication.sendPostedEvents(self, QEvent.Type.UpdateRequest)

    def guarded(self, view: str, work: Callable[[], None]) -> None:
        """Run one view's refresh; a failure is logged and shown once, acquisition goes on."""
        cpu = time.thread_time()
        try:
            work()
        except Exception as exc:
            if view not in self.view_errors:
                log.exception("the %s view failed to refresh", view)
                self.view_errors[view] = error_sentence(exc)
                self._show_banners()
        finally:
            spent = time.thread_time() - cpu
            self.refresh_cpu_by_view[view] = self.refresh_cpu_by_view.get(view, 0.0) + spent

    def _take_status(self, status: Any) -> None:
        self.status = status
        self.camera_of_view = {d.view: d.name for d in status.devices if d.view}
        recording = status.state == "recording"
        if not self.busy:
            self.bar.set_recording(recording, connected=status.state in ("connected", "recording"))
        self.bar.set_simulated(status.simulated)
        recorded = None
        if recording and self.recording_started_s is not None:
            recorded = status.elapsed_s - self.recording_started_s
        if self.busy != "stop":
            self.bar.show_clock(status.state, recorded, status.recording_path)
        now = time.monotonic()
        zeroed = status.plate_zero_age_s is not None
        if now - self._calibration_checked > CALIBRATION_EVERY_S or zeroed != self._zeroed:
            self._calibration_checked = now  # the log is a file: read on change, not every poll
            self._zeroed = zeroed
            from data.calibration_log import CalibrationLog

            self.calibration = calibration_banners(
                CalibrationLog().current_calibration(), status.plate_zero_age_s
            )
        self.devices.show_devices(
            status.devices,
            simulated=status.simulated,
            sync_mode=status.sync_mode,
            plate_zero_age_s=status.plate_zero_age_s,
            last_sync_verification=self.calibration[1],
        )
        self._show_banners()

    def _show_banners(self) -> None:
        shown: list[ShownBanner] = []
        if self.status is not None:
            shown += [
                ShownBanner(b.key or b.text, b.level, b.text, b.remedy) for b in self.status.banners
            ]
            for name, text in self.status.consumer_errors.items():
                shown.append(
                    ShownBanner(
                        f"consumer-{name}",
                        "error",
                        f"live analysis '{name}' stopped: {text}",
                        "Recording continues; the file can be analysed afterwards.",
                    )
                )
        shown += self.calibration[0]
        for view, text in self.view_errors.items():
            shown.append(
                ShownBanner(
                    f"view-{view}",
                    "warning",
                    f"the {view} display stopped updating ({text})",
                    "Acquisition and recording continue; restart the window after the session.",
                )
            )
        if self.action_error is not None:
            shown.append(self.action_error)
        self.banners.show_banners(shown)

    def _refresh_force(self) -> None:
        mass = self.body_mass_kg
        stream = getattr(self.controller, "daq_stream", None)
        newest = getattr(stream, "latest_session_time_s", None)
        if newest is not None and newest == self._force_end_s and mass == self._force_mass:
            return  # nothing new: never re-set identical data
        history = self.force_history
        window = self.controller.force_window(history.span_needed(newest))
        if len(window.t) == 0:
            return
        if not history.add(window.t, window.F[:, 2], window.cop):
            window = self.controller.force_window(history.seconds)
            history.clear()
            history.add(window.t, window.F[:, 2], window.cop)
        self._force_end_s = newest
        self._force_mass = mass
        t = history.t
        oldest = float(t[0])
        recent = [s for s in self.stances[-40:] if s["toe_off_s"] >= oldest]
        bw = body_weight_from_mass(mass)
        self.grf.show_force(t, history.fz, recent, bw)
        self.cop.show_cop(t, history.cop, recent)

    def _refresh_video(self) -> None:
        faulted = {
            d.name: d.message
            for d in (self.status.devices if self.status else ())
            if d.health == "faulted"
        }
        for view, widget in self.live.items():
            camera = self.camera_of_view.get(view)
            if camera is None:
                continue
            if camera in faulted:
                if self.shown_frame.get(camera) != -1:
                    widget.show_nothing("camera stopped, see the red banner")
                    self.shown_frame[camera] = -1
                continue
            frame = self.controller.latest_frame(camera)
            if frame is None or self.shown_frame.get(camera) == frame.index:
                continue
            self.shown_frame[camera] = frame.index
            height, width = frame.image.shape[:2]
            self.video.set_frame_shape(view, width, height)  # re-lays only a new frame size
            widget.show_frame(
                frame.image,
                frame.markers,
                # whole seconds: the caption's text (a relaid-out text item, ~10 Qt calls) changes
                # once a second, not on every tick
                f"{view.capitalize()} · live · {frame.session_time_s:.0f} s",
            )

    def _refresh_stances(self) -> None:
        new = self.controller.stances(len(self.stances))
        if new:
            dicts = [s.to_dict() for s in new]
            self.stances.extend(dicts)
            self.trends.add_stances(dicts, draw=False)
        # a redraw once a second at most, one plot per tick: no tick pays for all six
        if self._trends_drawing:
            self._trends_drawing = self.trends.draw_next()
        elif self.trends.stale and time.monotonic() - self._trends_drawn >= TRENDS_EVERY_S:
            self._trends_drawn = time.monotonic()
            self.trends.begin_redraw()
            self._trends_drawing = self.trends.draw_next()
        if not new:
            return
        self.stance_results.extend(new)
        if self.saved_summary is None:
            self._show_live_numbers()
        for view, widget in self.freeze.items():
            camera = self.camera_of_view.get(view)
            frame = self.controller.freeze_frame(camera) if camera else None
            if frame is not None and frame.stance.index != widget.shown_stance:
                widget.show_freeze(frame.image, frame.markers, frame.stance.to_dict())

    def _show_live_numbers(self) -> None:
        """Since connecting, or since the recording started: the last steps per side."""
        from app.session_controller import summarise_stances

        results = self.stance_results
        if self.recording_started_s is not None:
            results = [r for r in results if r.contact_s >= self.recording_started_s]
            self.numbers.set_caption(f"This recording · last {SUMMARY_LAST_N} steps")
        else:
            self.numbers.set_caption(f"Live · last {SUMMARY_LAST_N} steps")
        recent = last_usable(results, SUMMARY_LAST_N)
        # (the hints from the latest stances, those the summary leaves out included)
        hints = self._hints(results[-2 * SUMMARY_LAST_N :])
        self.numbers.show_summary(summarise_stances(recent, SUMMARY_LAST_N), hints)

    def _show_saved_numbers(self, path: str) -> None:
        """After a stop: the numbers of the stances the saved file holds (what was recorded)."""
        from types import SimpleNamespace

        from app.session_controller import summarise_stances
        from data import open_session

        with open_session(path) as session:
            rows = session.live_stances()
        results = [
            SimpleNamespace(
                side=r.get("side"), flags=tuple(r.get("flags") or ()), to_dict=lambda r=r: r
            )
            for r in rows
        ]
        self.saved_summary = summarise_stances(results, SUMMARY_LAST_N)
        self.numbers.set_caption(f"Saved file · last {SUMMARY_LAST_N} steps")
        self.numbers.show_summary(self.saved_summary, self._hints(results))

    def _hints(self, stances) -> dict[str | tuple[str, str], str]:
        """Why a number has no value: per metric, or per (side, metric). A sagittal camera
        sees the near leg only (analysis.video_metrics): the far side's hip–ankle is "—" by
        design, and the cell says so rather than look like a failure."""
        hints: dict[str | tuple[str, str], str] = {}
        if not self.bar.subject().get("body_mass_kg"):
            hints["valr_BW_s"] = "enter body mass"
        for side in {s.side for s in stances if FAR_LEG_FLAG in s.flags}:  # (shown at n = 0)
            hints[(side, "hip_ankle_midstance_m")] = "far leg: not in the sagittal view"
        return hints

    # -- errors ------------------------------------------------------------------------------------
    def show_error(self, exc: BaseException) -> None:
        """Tell the person in one sentence with what to do, and log it with details."""
        sentence = error_sentence(exc)
        if isinstance(exc, MidstanceError):
            log.warning("shown to the operator: %s", sentence)
        else:
            log.error("unexpected error shown to the operator", exc_info=exc)
        self.action_error = ShownBanner("action-error", "error", sentence)
        self._show_banners()
        self.statusBar().showMessage(sentence, 15000)

    def clear_action_error(self) -> None:
        if self.action_error is not None:
            self.action_error = None
            self._show_banners()

    # -- look and layout ---------------------------------------------------------------------------
    def apply_theme(self, name: str) -> None:
        self.theme = theme_named(name)
        app = QApplication.instance()
        if app is not None:
            apply_theme(app, self.theme)
        for widget in (
            *self.live.values(),
            *self.freeze.values(),
            self.numbers,
            self.grf,
            self.cop,
            self.trends,
            self.devices,
            self.banners,
        ):
            widget.apply_theme(self.theme)
        self.theme_actions[self.theme.name].setChecked(True)
        self.settings.setValue("theme", self.theme.name)

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:  # 1600×1000, or the whole of a smaller screen
            screen = self.screen().availableGeometry() if self.screen() else None
            width, height = DEFAULT_SIZE
            if screen is not None and screen.width() >= MINIMUM_SIZE[0]:
                width = min(width, screen.width())
            if screen is not None and screen.height() >= MINIMUM_SIZE[1]:
                height = min(height, screen.height())
            self.resize(width, height)
        if self.settings.value("layout/version", 0, type=int) != LAYOUT_VERSION:
            return  # an older layout's panel sizes: the defaults instead
        for name, splitter in self._splitters().items():
            state = self.settings.value(f"splitters/{name}")
            if isinstance(state, QByteArray):
                splitter.restoreState(state)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("layout/version", LAYOUT_VERSION)
        for name, splitter in self._splitters().items():
            self.settings.setValue(f"splitters/{name}", splitter.saveState())
        self.settings.sync()

    def _splitters(self) -> dict[str, QSplitter]:
        return {
            "main": self.main,
            "top": self.top,
            "right": self.right,
            "force": self.force_row,
            "bottom": self.bottom,
        }

    # -- closing -----------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        recording = self.status is not None and self.status.state == "recording"
        if recording and not self.ask(
            "Stop the recording?",
            "A recording is running. Stop it, save the file properly and close the window?",
        ):
            event.ignore()
            return
        self.timer.stop()
        self.procedure_panel.shutdown(timeout_s=30.0)  # a procedure's acquisition ends first
        if self.job_thread is not None:
            self.job_thread.join(timeout=120.0)  # a stop or zero in progress finishes first
        try:  # the polled status may be stale: ask the controller itself
            if recording and self.busy != "stop" and self.controller.state == "recording":
                self.controller.stop_recording()
        except MidstanceError as exc:
            log.error("while closing: %s", exc.sentence())
        if self.owns_controller:
            try:
                self.controller.close()  # bounded; closes a recording still running
            except MidstanceError as exc:
                log.error("while closing: %s", exc.sentence())
        self.save_layout()
        self.closed = True
        log.removeHandler(self.log_handler)
        self.log_handler.close()
        event.accept()

    def _ask_with_dialog(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes
