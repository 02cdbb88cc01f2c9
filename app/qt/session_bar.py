"""The session bar: who is running, which protocol step, the treadmill, and record/stop/mark.

It only collects and shows; the window turns its signals into controller calls. The protocol part
lists the procedures of the library (``protocols.loader.scan_library``) and walks their steps:
the chosen step's instructions are shown, its planned duration drives the step timer, and a
recording started on it carries the procedure and step names into the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from app.qt.theme import LABEL_POINT_SIZE, NUMBER_POINT_SIZE, font

PAIN_SIDES = (("none", ""), ("left", "left"), ("right", "right"), ("both", "both"))
FREE_RECORDING = "Free recording (no protocol)"


def clock_text(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "00:00"
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _spin(
    minimum: float, maximum: float, decimals: int, suffix: str, step: float
) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setSingleStep(step)
    box.setSpecialValueText("—")  # the minimum means "not given"
    box.setKeyboardTracking(False)
    return box


class SessionBar(QWidget):
    record_requested = Signal()
    stop_requested = Signal()
    mark_requested = Signal()
    zero_requested = Signal()
    weigh_requested = Signal()
    subject_edited = Signal()
    treadmill_edited = Signal()
    step_changed = Signal()

    def __init__(self, procedures: dict[str, Any], parent=None) -> None:
        super().__init__(parent)
        self.procedures = procedures
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 8, 6)
        grid.setHorizontalSpacing(10)

        # row 0: the simulated badge, the subject, the treadmill
        self.simulated_badge = QLabel("SIMULATED LAB")
        self.simulated_badge.setProperty("role", "badge")
        self.simulated_badge.setToolTip(
            "No hardware is configured: the data come from the simulated lab."
        )
        self.subject_id = QLineEdit()
        self.subject_id.setPlaceholderText("runner ID")
        self.subject_id.setMaximumWidth(160)
        self.mass = _spin(0.0, 300.0, 1, " kg", 0.5)
        self.weigh = QPushButton("Weigh on plate")
        self.weigh.setToolTip("Runner stands still on the stopped belt: body mass from the plate.")
        self.leg = _spin(0.0, 130.0, 1, " cm", 0.5)
        self.pain = QComboBox()
        for text, value in PAIN_SIDES:
            self.pain.addItem(text, value)
        self.speed = _spin(0.0, 10.0, 2, " m/s", 0.1)
        self.incline = _spin(-15.0, 20.0, 1, " %", 0.5)
        self.incline.setSpecialValueText("")
        self.incline.setValue(0.0)
        subject = QHBoxLayout()
        for widget in (
            self.simulated_badge, QLabel("Runner"), self.subject_id, QLabel("Mass"), self.mass,
            self.weigh, QLabel("Leg length"), self.leg, QLabel("Pain"), self.pain,
        ):  # fmt: skip
            subject.addWidget(widget)
        subject.addStretch(1)
        grid.addLayout(subject, 0, 0, 1, 2)

        # row 1: protocol and step, instructions
        self.protocol = QComboBox()
        self.protocol.addItem(FREE_RECORDING, "")
        for name, procedure in sorted(procedures.items()):
            if getattr(procedure, "audience", "clinician") == "clinician":
                self.protocol.addItem(procedure.title, name)
        # long titles are elided in the closed box (the list shows them whole): the bar fits a
        # 1200 px wide screen
        self.protocol.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.protocol.setMinimumContentsLength(18)
        self.step = QComboBox()
        self.step.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.step.setMinimumContentsLength(22)
        self.instructions = QLabel("")
        self.instructions.setWordWrap(True)
        self.instructions.setProperty("role", "muted")
        protocol_row = QHBoxLayout()
        protocol_row.addWidget(QLabel("Protocol"))
        protocol_row.addWidget(self.protocol)
        protocol_row.addWidget(QLabel("Step"))
        protocol_row.addWidget(self.step)
        protocol_row.addWidget(self.instructions, 1)
        for widget in (QLabel("Treadmill"), self.speed, QLabel("incline"), self.incline):
            protocol_row.addWidget(widget)
        grid.addLayout(protocol_row, 1, 0, 1, 2)

        # row 2: buttons, clocks, file
        self.zero = QPushButton("Zero plates")
        self.record = QPushButton("●  Record  (F5)")
        self.record.setObjectName("record")
        self.stop = QPushButton("■  Stop  (F6)")
        self.mark = QPushButton("⚑  Mark  (F7)")
        self.elapsed = QLabel("00:00")
        self.elapsed.setFont(font(NUMBER_POINT_SIZE - 6, bold=True))
        self.elapsed.setToolTip("Time recorded in this file")
        self.step_timer = QLabel("")
        self.step_timer.setFont(font(LABEL_POINT_SIZE + 2))
        self.state = QLabel("Not connected")
        self.state.setFont(font(LABEL_POINT_SIZE + 1, bold=True))
        self.file = QLabel("")
        self.file.setProperty("role", "muted")
        self.file.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long path must not widen the window: the name is shown, the full path on hover
        self.file.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.instructions.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        controls = QHBoxLayout()
        for widget in (self.zero, self.record, self.stop, self.mark):
            controls.addWidget(widget)
        controls.addSpacing(16)
        controls.addWidget(self.state)
        controls.addWidget(self.elapsed)
        controls.addWidget(self.step_timer)
        controls.addWidget(self.file, 1)
        grid.addLayout(controls, 2, 0, 1, 2)

        self.record.clicked.connect(self.record_requested)
        self.stop.clicked.connect(self.stop_requested)
        self.mark.clicked.connect(self.mark_requested)
        self.zero.clicked.connect(self.zero_requested)
        self.weigh.clicked.connect(self.weigh_requested)
        self.subject_id.editingFinished.connect(self.subject_edited)
        self.mass.valueChanged.connect(lambda _v: self.subject_edited.emit())
        self.leg.valueChanged.connect(lambda _v: self.subject_edited.emit())
        self.pain.currentIndexChanged.connect(lambda _i: self.subject_edited.emit())
        self.speed.valueChanged.connect(lambda _v: self.treadmill_edited.emit())
        self.incline.valueChanged.connect(lambda _v: self.treadmill_edited.emit())
        self.protocol.currentIndexChanged.connect(self._fill_steps)
        self.step.currentIndexChanged.connect(self._show_step)
        self._fill_steps()
        self.set_recording(False, connected=False)

    # -- what the window reads -------------------------------------------------------------------
    def subject(self) -> dict[str, Any]:
        """The subject as the controller takes it (SI units; fields not given are left out)."""
        out: dict[str, Any] = {}
        if self.subject_id.text().strip():
            out["id"] = self.subject_id.text().strip()
        if self.mass.value() > self.mass.minimum():
            out["body_mass_kg"] = round(self.mass.value(), 1)
        if self.leg.value() > self.leg.minimum():
            out["leg_length_m"] = round(self.leg.value() / 100.0, 3)
        if self.pain.currentData():
            out["pain_side"] = self.pain.currentData()
        return out

    def treadmill_text(self) -> str:
        speed = f"{self.speed.value():.2f} m/s" if self.speed.value() > 0 else "speed not given"
        return f"treadmill {speed}, incline {self.incline.value():+.1f} %"

    def procedure_name(self) -> str:
        return self.protocol.currentData() or ""

    def current_step(self) -> Any | None:
        procedure = self.procedures.get(self.procedure_name())
        index = self.step.currentData()
        if procedure is None or index is None:
            return None
        return procedure.steps[index]

    # -- what the window sets --------------------------------------------------------------------
    def set_simulated(self, simulated: bool) -> None:
        self.simulated_badge.setVisible(simulated)

    def set_recording(self, recording: bool, *, connected: bool = True) -> None:
        self.record.setEnabled(connected and not recording)
        self.stop.setEnabled(recording)
        self.mark.setEnabled(recording)
        self.zero.setEnabled(connected and not recording)
        self.weigh.setEnabled(connected and not recording)
        self.protocol.setEnabled(not recording)
        self.step.setEnabled(not recording)
        self.subject_id.setEnabled(not recording)
        if not recording:
            self.step_timer.setText(self._planned_text(None))

    def show_clock(self, state: str, recorded_s: float | None, path: str | None) -> None:
        words = {
            "recording": "● REC ",
            "connected": "Live",
            "idle": "Not connected",
            "closed": "Closed",
        }
        self.state.setText(words.get(state, state))
        self.elapsed.setText(clock_text(recorded_s) if recorded_s is not None else "")
        self.file.setText(f"Writing {Path(path).name}" if path else "")
        self.file.setToolTip(str(path) if path else "")
        self.step_timer.setText(self._planned_text(recorded_s))

    def advance_step(self) -> None:
        """After a recorded step, move to the next step of the procedure."""
        if self.step.currentIndex() + 1 < self.step.count():
            self.step.setCurrentIndex(self.step.currentIndex() + 1)

    def select_protocol(self, name: str) -> bool:
        index = self.protocol.findData(name)
        if index >= 0:
            self.protocol.setCurrentIndex(index)
        return index >= 0

    def select_step(self, step_id: str) -> bool:
        procedure = self.procedures.get(self.procedure_name())
        if procedure is None:
            return False
        for i in range(self.step.count()):
            if procedure.steps[self.step.itemData(i)].id == step_id:
                self.step.setCurrentIndex(i)
                return True
        return False

    # -- internals -------------------------------------------------------------------------------
    def _planned_text(self, recorded_s: float | None) -> str:
        step = self.current_step()
        planned = getattr(step, "duration_s", None) if step is not None else None
        if not planned:
            return ""
        if recorded_s is None:
            return f"step planned {clock_text(planned)}"
        if recorded_s >= planned:
            return f"step {clock_text(recorded_s)} / {clock_text(planned)} · done, stop when ready"
        return f"step {clock_text(recorded_s)} / {clock_text(planned)}"

    def _fill_steps(self) -> None:
        self.step.blockSignals(True)
        self.step.clear()
        procedure = self.procedures.get(self.procedure_name())
        if procedure is not None:
            for i, step in enumerate(procedure.steps):
                self.step.addItem(f"{i + 1}. {step.title}", i)
            first = next((i for i, s in enumerate(procedure.steps) if s.kind == "acquisition"), 0)
            self.step.setCurrentIndex(first)
        self.step.blockSignals(False)
        self.step.setVisible(procedure is not None)
        self._show_step()

    def _show_step(self) -> None:
        step = self.current_step()
        if step is None:
            self.instructions.setText("Record, stop and mark freely; nothing is prescribed.")
        else:
            text = step.text or step.title
            if step.kind != "acquisition":
                text = f"{text} (this step records nothing: do it, then choose the next step)"
            self.instructions.setText(text)
        self.step_timer.setText(self._planned_text(None))
        self.step_changed.emit()
