"""The review window: a saved session's two camera views and force traces under one time cursor,
the stance table beside them, corrections, re-analysis into a new revision, and comparison.

Everything that is not drawing lives in :mod:`app.qt.review_timeline` (Qt-free state) and in
``app`` (re-analysis, reports). Long jobs (re-analysis, comparison) run on a QThread and report
back through signals; the file is closed while a revision is written and reopened after.
Run as ``midstance open FILE`` or ``python -m app.qt.review_window FILE``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from analysis.errors import MidstanceError
from analysis.force_settings import MIDSTANCE_DEFINITIONS
from analysis.provenance import software_version
from analysis.vision_settings import MIDSTANCE_DEFINITIONS as VIDEO_MIDSTANCES
from app.qt.review_timeline import ForceTrace, ReviewState
from app.qt.review_views import StanceTable, VideoPane

SPEEDS = (0.05, 0.1, 0.25, 0.5, 1.0)
PLAY_INTERVAL_MS = 40


class Worker(QObject):
    """Runs one function on a QThread; progress(fraction, message), then finished or failed."""

    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, job: Callable[[Callable[[float, str], None]], Any]) -> None:
        super().__init__()
        self._job = job

    def run(self) -> None:
        try:
            result = self._job(lambda f, m: self.progress.emit(float(f), str(m)))
        except MidstanceError as exc:
            self.failed.emit(exc.sentence())
        except Exception as exc:
            self.failed.emit(f"the job stopped with an unexpected error: {exc!r}")
        else:
            self.finished.emit(result)


class ReviewWindow(QMainWindow):
    """Open, navigate, correct, re-analyse and compare saved sessions."""

    session_opened = Signal(str)
    cursor_moved = Signal(float)
    analysis_finished = Signal(str)  # new revision name
    comparison_finished = Signal(object)  # the comparison JSON document
    job_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Midstance {software_version()} — review")
        self.setAcceptDrops(True)
        self.state: ReviewState | None = None
        self.video: dict[str, VideoPane] = {}
        self._thread: QThread | None = None
        self._worker: Worker | None = None
        self._job_done: Callable[[Any], None] = lambda result: None
        self._job_reopen = False
        self.last_error = ""
        self.compare_dialog = None
        self._build()
        self._play = QTimer(self)
        self._play.setInterval(PLAY_INTERVAL_MS)
        self._play.timeout.connect(self._advance)
        self._refresh = QTimer(self)
        self._refresh.setInterval(1000)
        self._refresh.timeout.connect(self._refresh_recording)

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        self.title = QLabel("Open a session (File, library, or drop a *.midstance.h5 here).")
        outer.addWidget(self.title)
        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        self.left_layout = QVBoxLayout(left)
        self.video_row = QHBoxLayout()
        self.left_layout.addLayout(self.video_row, 3)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "session time", units="s")
        self.plot.setLabel("left", "force", units="N")
        self.plot.addLegend(offset=(5, 5))
        self.plot.setClipToView(True)
        self.fz_curve = self.plot.plot(pen=pg.mkPen("#d62728", width=1), name="Fz")
        self.fx_curve = self.plot.plot(pen=pg.mkPen("#1f77b4", width=1), name="Fx")
        for curve in (self.fz_curve, self.fx_curve):
            curve.setDownsampling(auto=True, method="peak")
        self.events = pg.ScatterPlotItem(size=7, pen=None)
        self.plot.addItem(self.events)
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#2ca02c", width=2))
        self.cursor.sigPositionChangeFinished.connect(lambda line: self.seek(line.value()))
        self.plot.addItem(self.cursor)
        self.left_layout.addWidget(self.plot, 2)
        self.left_layout.addLayout(self._transport())
        split.addWidget(left)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.revisions = QComboBox()
        self.revisions.activated.connect(self._revision_chosen)
        right_layout.addWidget(QLabel("Analysis revision (history)"))
        right_layout.addWidget(self.revisions)
        self.table = StanceTable()
        self.table.stance_clicked.connect(self.select_stance)
        right_layout.addWidget(self.table, 3)
        right_layout.addWidget(self._corrections())
        right_layout.addWidget(self._settings())
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        right_layout.addWidget(self.progress)
        right_layout.addWidget(self.status)
        split.addWidget(right)
        split.setSizes([900, 600])
        outer.addWidget(split)
        self.setCentralWidget(central)
        menu = self.menuBar().addMenu("&File")
        menu.addAction("Open file…", self._open_dialog)
        menu.addAction("Open from library…", self._open_library)
        menu.addAction("Compare with…", self._compare_dialog)
        self.resize(1500, 900)

    def _button(self, layout, text: str, slot, name: str) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        layout.addWidget(button)
        return button

    def _transport(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.play_button = self._button(row, "Play", self.toggle_play, "play")
        self._button(row, "◀ frame", lambda: self.step(-1), "frame_back")
        self._button(row, "frame ▶", lambda: self.step(1), "frame_forward")
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(1)
        row.addWidget(self.speed)
        self.jump_kind = QComboBox()
        self.jump_kind.addItems(["stance", "contact", "toe-off", "midstance"])
        row.addWidget(self.jump_kind)
        self._button(row, "◀ previous", lambda: self.jump(-1), "previous")
        self._button(row, "next ▶", lambda: self.jump(1), "next")
        self._button(row, "Zoom to stance", self.zoom_to_stance, "zoom")
        self.time_label = QLabel("")
        row.addWidget(self.time_label)
        return row

    def _corrections(self) -> QGroupBox:
        box = QGroupBox("Corrections (selected stance; events move to the cursor)")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self._button(row, "Contact here", lambda: self.correct("move_contact"), "move_contact")
        self._button(row, "Toe-off here", lambda: self.correct("move_toe_off"), "move_toe_off")
        self._button(row, "Midstance here", lambda: self.correct("move_midstance"),
                     "move_midstance")  # fmt: skip
        layout.addLayout(row)
        row = QHBoxLayout()
        self._button(row, "Delete step", lambda: self.correct("delete"), "delete")
        self._button(row, "Exclude step", lambda: self.correct("exclude"), "exclude")
        self._button(row, "Swap L/R", lambda: self.correct("relabel"), "relabel")
        layout.addLayout(row)
        row = QHBoxLayout()
        self.swap_camera = QComboBox()
        self.swap_a, self.swap_b = QComboBox(), QComboBox()
        self.swap_camera.currentTextChanged.connect(self._fill_marker_names)
        for w in (self.swap_camera, self.swap_a, self.swap_b):
            row.addWidget(w)
        self._button(row, "Swap labels in this stance", lambda: self.correct("swap"), "swap")
        layout.addLayout(row)
        self.pending_label = QLabel("No pending corrections.")
        layout.addWidget(self.pending_label)
        return box

    def _settings(self) -> QGroupBox:
        box = QGroupBox("Analysis settings for the re-run")
        form = QFormLayout(box)
        self.threshold_on = self._spin(form, "Stance on (N)", 5, 500)
        self.threshold_off = self._spin(form, "Stance off (N)", 5, 500)
        self.cutoff = self._spin(form, "Detection filter (Hz)", 5, 500)
        self.force_midstance = QComboBox()
        self.force_midstance.addItems(list(MIDSTANCE_DEFINITIONS))
        form.addRow("Force midstance", self.force_midstance)
        self.video_midstance = QComboBox()
        self.video_midstance.addItems(list(VIDEO_MIDSTANCES))
        form.addRow("Video midstance", self.video_midstance)
        self.marker_set_form = form
        self.marker_set_boxes: dict[str, QComboBox] = {}
        self.rerun_button = QPushButton("Re-run analysis (new revision)")
        self.rerun_button.setObjectName("rerun")
        self.rerun_button.clicked.connect(lambda: self.rerun())  # noqa: PLW0108 (drops `checked`)
        form.addRow(self.rerun_button)
        return box

    def _spin(self, form: QFormLayout, label: str, lo: float, hi: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(1)
        form.addRow(label, spin)
        return spin

    # -- opening ------------------------------------------------------------------------------

    def open_file(self, path: str | Path) -> bool:
        """Open a session; on a problem show its sentence and keep the current one."""
        try:
            state = ReviewState.open(path)
        except MidstanceError as exc:
            self._problem(exc.sentence())
            return False
        if self.state is not None:
            self.state.close()
        self.state = state
        self._show_session()
        if state.session.recording_state == "recording":
            self._refresh.start()
        self.session_opened.emit(str(path))
        return True

    def _show_session(self) -> None:
        state = self.state
        subject = state.session.subject
        self.title.setText(
            f"{subject.get('subject_id', '?')} — {state.session.created_utc[:16]} — "
            f"{state.session.session_info.get('protocol_name', '')} — {state.path.name}"
            + ("  (being recorded)" if state.session.recording_state == "recording" else "")
        )
        note = state.session.recording_note
        self.title.setToolTip(note)
        if note:
            self.status.setText(f"Recording note: {note}")
        for pane in self.video.values():
            pane.setParent(None)
        self.video = {}
        for name in state.session.camera_names:
            pane = VideoPane(name)
            self.video[name] = pane
            self.video_row.addWidget(pane)
        self.swap_camera.clear()
        self.swap_camera.addItems(list(state.session.camera_names))
        self._marker_set_choices()
        self._show_revision_data()
        self.seek(state.stances[0]["contact_s"] if state.stances else 0.0)

    def _show_revision_data(self) -> None:
        state = self.state
        self.revisions.clear()
        for name, text in state.history():
            self.revisions.addItem(text, name)
        self.revisions.setCurrentIndex(max(0, self.revisions.findData(state.revision)))
        self.table.show_stances(state.stances)
        try:
            trace = state.force_trace()
        except MidstanceError as exc:  # e.g. no plate configuration stored
            trace = ForceTrace(np.zeros(0), np.zeros(0), np.zeros(0), f"none ({exc.problem})")
        self.fz_curve.setData(trace.t, trace.fz)
        self.fx_curve.setData(trace.t, trace.fx)
        self.plot.setTitle(f"force: {trace.source}", size="8pt")
        contacts = [(s["contact_s"], 0.0) for s in state.stances]
        mids = [
            (state.midstance_of(s), np.interp(state.midstance_of(s), trace.t, trace.fz))
            for s in state.stances
            if len(trace.t)
        ]  # fmt: skip
        spots = [{"pos": p, "brush": pg.mkBrush("#ff7f0e")} for p in contacts]
        spots += [{"pos": p, "brush": pg.mkBrush("#9467bd")} for p in mids]
        self.events.setData(spots)
        settings = state.session.analysis(state.revision).settings if state.revision else {}
        force = (settings or {}).get("force") or {}
        self.threshold_on.setValue(float(force.get("threshold_on_N", 50.0)))
        self.threshold_off.setValue(float(force.get("threshold_off_N", 20.0)))
        self.cutoff.setValue(float(force.get("cutoff_hz", 50.0)))
        self.force_midstance.setCurrentText(str(force.get("midstance", "M3")))
        vision = ((settings or {}).get("vision") or {}).get("metrics") or {}
        self.video_midstance.setCurrentText(str(vision.get("midstance", "knee_flexion")))
        self._show_pending()

    def _marker_set_choices(self) -> None:
        """One marker-set choice per camera (a change re-detects that camera's markers)."""
        from analysis.marker_sets import load_marker_sets

        for box in self.marker_set_boxes.values():
            self.marker_set_form.removeRow(box)
        self.marker_set_boxes = {}
        sets = load_marker_sets()
        stored = (self.state.session.analysis(self.state.revision).settings or {}).get(
            "marker_sets", {}
        ) if self.state.revision else {}  # fmt: skip
        for camera in self.state.session.camera_names:
            view = self.state.session.camera(camera).view
            box = QComboBox()
            box.addItems([name for name, s in sets.items() if s.view == view])
            box.setCurrentText(str(stored.get(camera, view)))
            self.marker_set_form.insertRow(5, f"Marker set: {camera}", box)
            self.marker_set_boxes[camera] = box

    def _revision_chosen(self, index: int) -> None:
        if self.state is not None:
            self.state.show_revision(self.revisions.itemData(index))
            self._show_revision_data()
            self.seek(self.state.time_s)

    def _refresh_recording(self) -> None:
        """A session still being recorded: show what has arrived (SWMR)."""
        if self.state is None or self.state.session.recording_state != "recording":
            self._refresh.stop()
            return
        self.state.session.refresh()
        if not self.state.revision:
            self.state.show_revision("")
            self.table.show_stances(self.state.stances)
        self.time_label.setText(f"{self.state.time_s:.3f} s of {self.state.duration_s:.1f} s")

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", "", "Sessions (*.h5)")
        if path:
            self.open_file(path)

    def _open_library(self) -> None:
        from app.qt.review_library import LibraryDialog

        dialog = LibraryDialog(self)
        if dialog.exec() and dialog.chosen:
            self.open_file(dialog.chosen)

    def dragEnterEvent(self, event) -> None:
        if any(u.toLocalFile().endswith(".h5") for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.toLocalFile().endswith(".h5"):
                self.open_file(url.toLocalFile())
                event.acceptProposedAction()
                return

    # -- navigation ---------------------------------------------------------------------------

    def seek(self, time_s: float) -> None:
        if self.state is None or self._thread is not None:  # the file is busy with a job
            return
        t = self.state.seek(time_s)
        self.cursor.setValue(t)
        for name, pane in self.video.items():
            k = self.state.frame_index(name)
            if k is not None:
                cam = self.state.session.camera(name)
                pane.show_frame(cam.frame(k), self.state.markers(name, k), k,
                                float(self.state.frame_times(name)[k]))  # fmt: skip
        if self.state.selected is not None:
            self.table.highlight(self.state.selected)
        self.time_label.setText(f"{t:.3f} s")
        self.cursor_moved.emit(t)

    def select_stance(self, row: int) -> None:
        """A table click: seek to the stance's midstance and zoom the plot onto it."""
        if self.state is None or not 0 <= row < len(self.state.stances):
            return
        self.state.select(row)
        self.seek(self.state.midstance_of(self.state.stances[row]))
        self.zoom_to_stance()

    def zoom_to_stance(self) -> None:
        if self.state is None:
            return
        row = self.state.selected
        stance = self.state.stances[row] if row is not None else self.state.stance_at()
        if stance is not None:
            pad = 0.3 * (stance["toe_off_s"] - stance["contact_s"])
            self.plot.setXRange(stance["contact_s"] - pad, stance["toe_off_s"] + pad, padding=0)

    def step(self, frames: int) -> None:
        if self.state and self.video:
            self.seek(self.state.step_frames(next(iter(self.video)), frames))

    def jump(self, direction: int) -> None:
        if self.state:
            self.seek(self.state.jump(self.jump_kind.currentText(), direction))

    def toggle_play(self) -> None:
        if self._play.isActive():
            self._play.stop()
            self.play_button.setText("Play")
        else:
            self._play.start()
            self.play_button.setText("Pause")

    def _advance(self) -> None:
        if self.state is None:
            return
        speed = float(self.speed.currentData())
        t = self.state.time_s + speed * PLAY_INTERVAL_MS / 1000.0
        if t >= self.state.duration_s:
            self.toggle_play()
        self.seek(t)

    # -- corrections and re-analysis -------------------------------------------------------------

    def _fill_marker_names(self, camera: str) -> None:
        self.swap_a.clear()
        self.swap_b.clear()
        if self.state and camera:
            cam = self.state.session.camera(camera)
            if "markers" in cam.h5_group:
                labels = [v.decode() if isinstance(v, bytes) else str(v)
                          for v in cam.h5_group["markers"].attrs["labels"]]  # fmt: skip
                self.swap_a.addItems(labels)
                self.swap_b.addItems(labels)
                if len(labels) > 1:
                    self.swap_b.setCurrentIndex(1)

    def correct(self, action: str) -> None:
        if self.state is None:
            return
        try:
            if action.startswith("move_"):
                event = {"move_contact": "contact_s", "move_toe_off": "toe_off_s",
                         "move_midstance": "midstance_s"}[action]  # fmt: skip
                self.state.move_event(event)
            elif action == "delete":
                self.state.delete_stance()
            elif action == "exclude":
                self.state.exclude_stance()
            elif action == "relabel":
                self.state.relabel_stance()
            elif action == "swap":
                self.state.swap_markers(self.swap_camera.currentText(), self.swap_a.currentText(),
                                        self.swap_b.currentText())  # fmt: skip
        except MidstanceError as exc:
            self._problem(exc.sentence())
        self._show_pending()

    def _show_pending(self) -> None:
        pending = self.state.pending if self.state else []
        if not pending:
            self.pending_label.setText("No pending corrections.")
            return
        lines = []
        for c in pending:
            target = f"stance at {c.stance_contact_s:.3f} s" if c.stance_contact_s else c.camera
            extra = f" → {c.time_s:.3f} s" if c.time_s is not None else ""
            lines.append(f"{c.kind} {c.event or c.side or '/'.join(c.markers)} {target}{extra}")
        self.pending_label.setText(
            f"{len(pending)} pending (saved by the re-run):\n" + "\n".join(lines)
        )

    def rerun(self, note: str = "") -> None:
        """Re-analyse with the settings shown and every correction, as a new revision."""
        if self.state is None or self._thread is not None:
            return
        from dataclasses import replace

        from app.session_analysis import analyse_session, stored_setup

        state = self.state
        setup = stored_setup(state.session, state.revision or None)
        force = replace(setup.force, threshold_on_N=self.threshold_on.value(),
                        threshold_off_N=self.threshold_off.value(),
                        cutoff_hz=self.cutoff.value(),
                        midstance=self.force_midstance.currentText())  # fmt: skip
        vision = replace(setup.vision, metrics=replace(
            setup.vision.metrics, midstance=self.video_midstance.currentText()))  # fmt: skip
        corrections = state.corrections_for_rerun()
        marker_sets = {cam: box.currentText() for cam, box in self.marker_set_boxes.items()
                       if box.currentText()}  # fmt: skip
        base, path = state.revision or None, state.path
        note = note or (f"review: {len(state.pending)} correction(s)" if state.pending
                        else "review: settings changed")  # fmt: skip
        state.close()  # the revision is written through its own handle

        def job(progress):
            return analyse_session(path, force=force, vision=vision, corrections=corrections,
                                   marker_sets=marker_sets, note=note, base_revision=base,
                                   progress=progress)  # fmt: skip

        self._start(job, self._rerun_done, reopen=True)

    def _rerun_done(self, name: str) -> None:
        self.state.pending.clear()
        self._show_revision_data()
        self.seek(self.state.time_s)
        self.status.setText(f"Saved as {name}; raw data unchanged.")
        self.analysis_finished.emit(name)

    # -- comparison ---------------------------------------------------------------------------

    def _compare_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Compare with (the later session)", "",
                                              "Sessions (*.h5)")  # fmt: skip
        if path:
            self.compare_with(path)

    def compare_with(self, after: str | Path, *, force: bool = False) -> None:
        """Compare the open session (before) with ``after`` on a worker thread."""
        if self.state is None or self._thread is not None:
            return
        from app.reports import comparison_report

        before = self.state.path

        def job(progress):
            progress(0.1, "comparing sessions")
            return comparison_report(before, after, force=force)

        self._start(job, self._compare_done, reopen=False)

    def _compare_done(self, doc: dict) -> None:
        from app.qt.compare_dialog import CompareDialog

        self.compare_dialog = CompareDialog(doc, self)
        self.compare_dialog.show()
        self.status.setText("Comparison ready.")
        self.comparison_finished.emit(doc)

    # -- jobs ---------------------------------------------------------------------------------

    def _start(self, job, done, *, reopen: bool) -> None:
        self.rerun_button.setEnabled(False)
        self.progress.setValue(0)
        thread, worker = QThread(self), Worker(job)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._progress)

        # bound methods of this window: Qt queues the calls onto the GUI thread
        worker.finished.connect(self._job_finished)
        worker.failed.connect(self._job_failed)
        self._job_done, self._job_reopen = done, reopen
        self._thread, self._worker = thread, worker
        thread.start()

    def _job_finished(self, result: object) -> None:
        self._end_job(self._job_reopen)
        self._job_done(result)

    def _job_failed(self, message: str) -> None:
        self._end_job(self._job_reopen)
        self._problem(message)

    def _end_job(self, reopen: bool) -> None:
        self._thread.quit()
        self._thread.wait()
        self._thread, self._worker = None, None
        self.rerun_button.setEnabled(True)
        self.progress.setValue(1000)
        if reopen:
            self.state.reload()

    def _progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.status.setText(message)

    def _problem(self, sentence: str) -> None:
        self.last_error = sentence
        self.status.setText(sentence)
        self.job_failed.emit(sentence)
        if QApplication.platformName() != "offscreen":
            QMessageBox.warning(self, "Midstance", sentence)

    def closeEvent(self, event) -> None:
        self._play.stop()
        self._refresh.stop()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        if self.state is not None:
            self.state.close()
        super().closeEvent(event)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the review window (optionally on a file); ``--screenshot PNG`` renders it and exits."""
    parser = argparse.ArgumentParser(prog="midstance open")
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--time", type=float, help="seek to this session time (s)")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = ReviewWindow()
    if args.file is not None and not window.open_file(args.file):
        print(f"midstance: {window.last_error}", file=sys.stderr)
        window.close()
        return 2
    if args.time is not None:
        window.seek(args.time)
    if args.screenshot is not None:
        window.resize(1500, 900)
        window.show()
        app.processEvents()
        ok = window.grab().save(str(args.screenshot))
        window.close()
        return 0 if ok else 1
    window.show()
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
