"""The procedure runner in the window: walks a procedure's state machine on the live session.

The panel owns one :class:`protocols.runner.Runner` at a time, driving
:class:`app.lab_actions.ControllerLabActions`. Its buttons are the runner's events, enabled from
``Runner.allowed_events()`` so a press can never be refused; a check that does not hold shows its
reason and offers retry (and override with a reason where the procedure allows it); an entry step
opens a dialog with each field's unit and range; an acquisition records and stops by itself (its
end arrives from the recording thread as a queued signal), with the step timer counting against
its duration.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from analysis.errors import MidstanceError
from app.qt.session_bar import clock_text

NOT_RUNNING = "(choose a procedure)"
OFF_BELT_S = 30.0


BUTTONS_PER_ROW = 2


class EntryDialog(QDialog):
    """Typed values of an entry step: numbers with their unit and allowed range, choices, text.
    The runner validates again on submit (and raises flags); the widgets only keep typing sane."""

    def __init__(self, step: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(step.title)
        self.step = step
        self.widgets: dict[str, QWidget] = {}
        form = QFormLayout()
        for field in step.fields:
            if field.type == "number":
                box = QDoubleSpinBox()
                lo = field.min if field.min is not None else -1e9
                hi = field.max if field.max is not None else 1e9
                box.setRange(lo, hi)
                box.setDecimals(2)
                box.setSuffix(f" {field.unit}" if field.unit else "")
                box.setToolTip(field.help or f"{lo:g}–{hi:g} {field.unit}")
                widget: QWidget = box
            elif field.type == "choice":
                combo = QComboBox()
                combo.addItem("—", None)
                for choice in field.choices:
                    combo.addItem(choice, choice)
                widget = combo
            else:
                widget = QLineEdit()
            label = field.label + ("" if field.required else " (optional)")
            form.addRow(label, widget)
            self.widgets[field.name] = widget
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if step.text:
            text = QLabel(step.text)
            text.setWordWrap(True)
            layout.addWidget(text)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in self.step.fields:
            widget = self.widgets[field.name]
            if isinstance(widget, QDoubleSpinBox):
                out[field.name] = widget.value()
            elif isinstance(widget, QComboBox):
                out[field.name] = widget.currentData()
            else:
                out[field.name] = widget.text().strip() or None
        return out


class ProcedureRunPanel(QWidget):
    """Choose a procedure, start it, and walk it with the runner's events (see the module)."""

    acquisition_done = Signal(object)  # emitted on the recording thread, handled on the GUI's
    run_ended = Signal(str)  # "completed" or "aborted"

    def __init__(self, controller: Any, procedures: dict[str, Any], parent=None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.procedures = procedures
        self.runner = None
        self.actions = None
        self.dialog: EntryDialog | None = None
        self.max_duration_s: float | None = None  # short demonstration/test runs
        self.log = None  # a CalibrationLog; None: the user's log
        self._acquiring_since: float | None = None

        self.choice = QComboBox()
        self.choice.addItem(NOT_RUNNING, "")
        for name, procedure in sorted(procedures.items()):
            self.choice.addItem(f"{procedure.title} ({procedure.audience})", name)
        # the box may be narrower than the longest title (the panel shares the bottom row with
        # the trends and the devices); its list opens wide enough to read every title whole
        self.choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.choice.setMinimumContentsLength(14)
        self.choice.view().setMinimumWidth(self.choice.view().sizeHintForColumn(0) + 24)
        self.choice.setToolTip("The procedure to run")
        self.operator = QLineEdit()
        self.operator.setPlaceholderText("operator")
        self.operator.setMaximumWidth(140)
        self.operator.setToolTip("Who runs the procedure (required for technician procedures)")
        self.start_button = QPushButton("Start procedure")
        self.off_belt = QPushButton("Runner off the belt")
        self.off_belt.setToolTip(
            f"Simulated lab: the runner stands on the side rails for {OFF_BELT_S:g} s of session "
            "time (nothing on the plate), e.g. to zero the plates."
        )
        self.off_belt.setVisible(bool(getattr(controller.config, "simulated", False)))
        self.step_title = QLabel("")
        self.step_title.setWordWrap(True)
        self.step_text = QLabel("")
        self.step_text.setWordWrap(True)
        self.step_text.setProperty("role", "muted")
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.timer_label = QLabel("")
        self.buttons = {
            name: QPushButton(text)
            for name, text in (
                ("next", "Next ▶"),
                ("back", "◀ Back"),
                ("skip", "Skip"),
                ("stop", "Stop recording"),
                ("retry", "Check again"),
                ("override", "Continue anyway…"),
                ("abort", "Abort"),
            )
        }
        # compact: it sits beside the trends and the devices (the window's height is for video),
        # two buttons a row so that it fits its column without scrolling sideways
        top = QHBoxLayout()
        top.addWidget(self.choice, 1)
        top.addWidget(self.operator)
        start = QHBoxLayout()
        start.addWidget(self.start_button)
        start.addWidget(self.off_belt)
        start.addWidget(self.timer_label, 1)
        buttons = QGridLayout()
        for i, button in enumerate(self.buttons.values()):
            buttons.addWidget(button, i // BUTTONS_PER_ROW, i % BUTTONS_PER_ROW)
        for label in (self.step_title, self.step_text, self.detail):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addLayout(top)
        layout.addLayout(start)
        layout.addWidget(self.step_title)
        layout.addWidget(self.step_text)
        layout.addLayout(buttons)
        layout.addWidget(self.detail)
        layout.addStretch(1)

        self.start_button.clicked.connect(self.start)
        self.off_belt.clicked.connect(self.step_off_belt)
        self.buttons["next"].clicked.connect(self.next)
        self.buttons["back"].clicked.connect(lambda: self._event("back"))
        self.buttons["skip"].clicked.connect(lambda: self._event("skip"))
        self.buttons["stop"].clicked.connect(lambda: self._event("stop"))
        self.buttons["retry"].clicked.connect(lambda: self._event("retry"))
        self.buttons["override"].clicked.connect(self.override)
        self.buttons["abort"].clicked.connect(self.abort)
        self.acquisition_done.connect(self._acquisition_finished)
        self.clock = QTimer(self)
        self.clock.setInterval(200)
        self.clock.timeout.connect(self._tick)
        self.refresh()

    def step_off_belt(self) -> None:
        """Simulated lab only: the runner leaves the belt (SessionController.step_off_belt)."""
        try:
            start, stop = self.controller.step_off_belt(OFF_BELT_S)
        except MidstanceError as exc:
            self.detail.setText(exc.sentence())
            return
        self.detail.setText(f"Simulated runner off the belt from {start:.1f} s to {stop:.1f} s.")

    # -- running -----------------------------------------------------------------------------------
    @property
    def acquiring(self) -> bool:
        return self.runner is not None and str(self.runner.state) == "acquiring"

    def start(self) -> None:
        from app.lab_actions import ControllerLabActions
        from data.calibration_log import CalibrationLog
        from protocols.runner import Runner

        name = self.choice.currentData()
        if not name or self.running:
            return
        procedure = self.procedures[name]
        operator = self.operator.text().strip()
        if procedure.audience == "technician" and not operator:
            self.detail.setText(
                "A technician procedure updates the calibration log: type the operator's name "
                "first (every calibration must be attributable)."
            )
            return
        try:
            self.actions = ControllerLabActions(
                self.controller,
                procedure,
                on_finished=self.acquisition_done.emit,
                log=self.log if self.log is not None else CalibrationLog(),
                max_duration_s=self.max_duration_s,
            )
            self.runner = Runner(procedure, self.actions, operator=operator)
            self.actions.bind(self.runner)
            self.runner.begin()
        except MidstanceError as exc:
            self.detail.setText(exc.sentence())
        self.clock.start()
        self.refresh()

    @property
    def running(self) -> bool:
        return self.runner is not None and str(self.runner.state) not in ("completed", "aborted")

    def next(self) -> None:
        step = self.runner.current_step if self.runner else None
        if step is not None and step.kind == "entry":
            self.dialog = EntryDialog(step, self)
            self.dialog.accepted.connect(self._submit_entry)
            self.dialog.open()
            return
        self._event("next")

    def override(self) -> None:
        reason, ok = QInputDialog.getText(self, "Continue anyway", "Reason (stored with the run):")
        if ok:
            self._event("override", reason)

    def abort(self) -> None:
        self._event("abort", "aborted by the operator")

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """The window is closing: stop a running acquisition (its recording is closed) and wait
        for its thread, bounded. False if it did not end in time (the controller's close()
        joins it too and reports it)."""
        self.clock.stop()
        if self.actions is None:
            return True
        self.actions.stop_acquisition()
        return self.actions.wait_idle(timeout_s)

    def _submit_entry(self) -> None:
        self._event("submit", self.dialog.values())

    def _event(self, name: str, *args: Any) -> None:
        if self.runner is None:
            return
        try:
            if name == "next" and self.runner.current_step.kind == "acquisition":
                self._acquiring_since = None
            getattr(self.runner, name)(*args)
        except MidstanceError as exc:
            self.detail.setText(exc.sentence())
            self.refresh(keep_detail=True)
            return
        self._after_event()

    def _acquisition_finished(self, result: object) -> None:
        if self.acquiring:
            try:
                self.runner.acquisition_finished(result)
            except MidstanceError as exc:
                self.detail.setText(exc.sentence())
                self.refresh(keep_detail=True)
                return
        self._after_event()

    def _after_event(self) -> None:
        if self.runner is not None and not self.running and self.actions is not None:
            self.actions.finish(timeout_s=30.0)
            self.clock.stop()
            self.run_ended.emit(str(self.runner.state))
        self.refresh()

    # -- showing -----------------------------------------------------------------------------------
    def refresh(self, keep_detail: bool = False) -> None:
        try:
            self._refresh(keep_detail)
        finally:  # no empty lines of step text above the buttons when no procedure runs
            for label in (self.step_title, self.step_text):
                label.setVisible(bool(label.text()))

    def _refresh(self, keep_detail: bool) -> None:
        runner = self.runner
        allowed = {str(e) for e in runner.allowed_events()} if runner else set()
        allowed.discard("begin")
        step = runner.current_step if runner else None
        for name, button in self.buttons.items():
            key = "next" if name == "next" and "submit" in allowed else name
            button.setEnabled(key in allowed or (name == "next" and "submit" in allowed))
        self.start_button.setEnabled(not self.running)
        self.choice.setEnabled(not self.running)
        if step is not None and step.kind == "entry":
            self.buttons["next"].setText("Enter values…")
        elif step is not None and step.kind == "acquisition":
            self.buttons["next"].setText("Start recording ▶")
        else:
            self.buttons["next"].setText("Next ▶")
        if runner is None:
            self.step_title.setText("")
            self.step_text.setText("")
            return
        state = str(runner.state)
        if step is None:
            self.step_title.setText(f"{runner.procedure.title}: {state}")
            self.step_text.setText(runner.abort_reason)
        else:
            index = runner.procedure.steps.index(step) + 1
            total = len(runner.procedure.steps)
            self.step_title.setText(f"Step {index}/{total}: {step.title} ({state})")
            self.step_text.setText(step.text)
        if keep_detail:
            return
        if state == "blocked":
            self.detail.setText(f"Check not met: {runner.check_detail}")
        elif runner.attempts:
            last = runner.attempts[-1]
            verdict = {True: "passed", False: "failed", None: last.status}[last.passed]
            flags = f" ({', '.join(last.flags)})" if last.flags else ""
            error = last.values.get("error", "")
            self.detail.setText(f"{last.step_id}: {verdict}{flags} {error}".strip())

    def _tick(self) -> None:
        step = self.runner.current_step if self.runner else None
        if not self.acquiring or step is None:
            self.timer_label.setText("")
            self._acquiring_since = None
            return
        elapsed = self.controller.status().elapsed_s
        if self._acquiring_since is None:
            self._acquiring_since = elapsed
        planned = self.actions.duration_of(step) if step.duration_s else None
        shown = clock_text(max(0.0, elapsed - self._acquiring_since))
        total = f" / {clock_text(planned)}" if planned and math.isfinite(planned) else ""
        self.timer_label.setText(f"recording {shown}{total}")
