"""The session controller as the procedure runner's lab (:class:`protocols.actions.LabActions`).

Each acquisition step is one recording: a session file whose first protocol-step row names the
step (with the treadmill speed and incline set so far). The wait for the duration (or the number
of steps per side) runs on a worker thread; its end is handed to ``on_finished`` (the CLI puts it
on a queue, the window re-posts it to the Qt thread) and from there to
``Runner.acquisition_finished`` — neither front end blocks. What a step needs back is read from
the file just written: the plate's volts for zero, warm-up, noise floor, known mass and pointer;
the LED offsets of ``midstance sync-check`` (the same functions) for sync verification; the stance
counts for running.

Every file of a run carries the whole run (``Runner.record()``: results, attempts, events) and
the calibration-log snapshot in ``/session@protocol_run_json`` and ``@calibration_json``,
rewritten after every step result, so a file never lacks the steps finished before it closed.
Technician results go to the calibration log through :func:`protocols.calibration.log_step_result`.

On the simulated lab the runner steps off the belt for the unloaded plate records (warm-up, zero,
noise floor) so they succeed; the simulated runner's speed is fixed by its preset, so a treadmill
set-up is stored (step row, run record) but changes nothing. For a known-mass or COP-pointer
placement the runner steps off the belt too and the simulator puts the placement's load on the
plate (``drivers.sim.static_loads``: m·g of the placement's mass, or the pointer's 300 N, at its
position). Both start just ahead of the newest DAQ sample, the record starts once the DAQ is
past that, and both end only after the record has ended: when a record starts is only known as
it starts (the sample after the newest any device had delivered), and at pace "fast" a thread
held up for a moment lets seconds of session time go by — a placement interval fixed in advance
once ended before its record, which then read the runner back on the belt (518 N for 25 kg,
issue #9). A record not inside its staged interval is refused rather than evaluated. The record
is read back through the configured plate like any other, so a wrong configured matrix or origin
is what the check sees. The load is stored with the acquisition (``static_load``). The simulator
cannot show a checkerboard or a known length, and its runner does not squat: those steps are not
recorded, their result says so (``simulator_limit`` in the run record) and their evaluation fails
or flags the missing values rather than inventing numbers.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.errors import MidstanceError
from protocols.actions import AcquisitionRequest, AcquisitionResult, CheckState
from protocols.calibration import calibration_check, log_step_result

if TYPE_CHECKING:
    from app.session_controller import SessionController
    from data.calibration_log import CalibrationLog
    from protocols.model import Procedure
    from protocols.runner import Runner, StepResult

PLATE_PURPOSES = ("warm-up", "zero", "noise-floor", "known-mass", "cop-pointer")
PLATE_KINDS = PLATE_PURPOSES
CAMERA_KINDS = ("camera-intrinsics", "scale-plane", "sync-verification")
# What the simulated lab cannot stage physically (see the module docstring).
SIMULATOR_LIMITS = {
    "camera-intrinsics": "the simulated lab shows no checkerboard",
    "scale-plane": "the simulated lab shows no known length",
    "single-leg-squat": "the simulated runner does not squat",
}
# Records of the plate with nobody on it: the simulated runner steps off the belt for them.
UNLOADED_PURPOSES = ("warm-up", "zero", "noise-floor")
# Records of a still load on the plate: the simulated runner steps off and the load is placed.
STATIC_LOAD_PURPOSES = ("known-mass", "cop-pointer")
OFF_BELT_MARGIN_S = 0.25  # the simulated runner leaves the belt (and the load is placed) this far
# ahead of the newest DAQ sample, and the record starts at least this much later still; both end
# after the record, however late it started
WAIT_SLICE_S = 0.2

Finished = Callable[[AcquisitionResult], None]


class ControllerLabActions:
    """``LabActions`` on a connected :class:`SessionController` (see the module docstring).

    ``max_duration_s`` caps every acquisition (short test and demonstration runs; the cap is
    stored with each result as ``duration_cap_s`` and the runner flags a step shorter than its
    minimum). ``folder``: where the files go (default: the session library).
    """

    def __init__(
        self,
        controller: SessionController,
        procedure: Procedure,
        *,
        on_finished: Finished,
        log: CalibrationLog | None = None,
        max_duration_s: float | None = None,
        folder: str | Path | None = None,
    ) -> None:
        if max_duration_s is not None and not (
            math.isfinite(max_duration_s) and max_duration_s >= 0.5
        ):
            raise MidstanceError(
                f"{max_duration_s!r} s cannot cap an acquisition",
                subject="maximum acquisition duration",
                remedy="Give at least 0.5 s.",
            )
        self.controller = controller
        self.procedure = procedure
        self.on_finished = on_finished
        self.log = log
        self.max_duration_s = max_duration_s
        self.folder = Path(folder) if folder is not None else None
        self.runner: Runner | None = None
        self.files: list[Path] = []
        self.entries: dict[str, dict[str, Any]] = {}
        self.marks: list[dict[str, Any]] = []
        self.results: list[StepResult] = []
        self.errors: list[str] = []
        self.acquisitions: list[dict[str, Any]] = []  # what each recording was, in order
        self.notes: list[str] = []  # e.g. steps accepted automatically by a non-interactive run
        self.treadmill: dict[str, float | None] = {"speed_m_s": None, "incline_percent": None}
        self.cameras: tuple[str, ...] = ()
        self._pending_marks: list[str] = []
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    def bind(self, runner: Runner) -> None:
        """The runner whose ``record()`` goes into every file of the run."""
        self.runner = runner

    @property
    def simulated(self) -> bool:
        return "sim.lab" in self.controller.shared

    # -- set-up ----------------------------------------------------------------------------------

    def set_treadmill(self, speed_m_s: float | None, incline_percent: float | None) -> None:
        if speed_m_s is not None:
            self.treadmill["speed_m_s"] = float(speed_m_s)
        if incline_percent is not None:
            self.treadmill["incline_percent"] = float(incline_percent)

    def select_cameras(self, cameras: tuple[str, ...]) -> None:
        known = set(self.controller.camera_streams)
        unknown = [c for c in cameras if c not in known]
        if unknown:
            raise MidstanceError(
                f"no camera named '{unknown[0]}' in this lab",
                subject=f"procedure '{self.procedure.name}'",
                remedy=f"Cameras: {', '.join(sorted(known)) or '(none)'}.",
            )
        self.cameras = tuple(cameras)

    def zero_plate(self, device: str, offsets_V: tuple[float, ...]) -> None:
        self.controller.apply_plate_offsets(device, offsets_V)

    # -- acquisition -----------------------------------------------------------------------------

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        if self._worker is not None and self._worker.is_alive():
            raise MidstanceError(
                "an acquisition is already running",
                subject=f"step '{request.step_id}'",
                remedy="Stop it first.",
            )
        self.controller.require("connected", f"record step '{request.step_id}'")
        self._stop.clear()
        self._worker = threading.Thread(
            target=self._acquire, args=(request,), name=f"acquire-{request.step_id}", daemon=True
        )
        self._worker.start()
        # closing the session stops and joins it: it must never outlive the session (issue #9)
        self.controller.register_worker(self._worker, self.stop_acquisition)

    def stop_acquisition(self) -> None:
        self._stop.set()

    def wait_idle(self, timeout_s: float = 600.0) -> bool:
        """Block until no acquisition runs (for the CLI's end and tests)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)
            return not worker.is_alive()
        return True

    def duration_of(self, request: AcquisitionRequest) -> float | None:
        duration = request.duration_s
        if duration is not None and self.max_duration_s is not None:
            duration = min(duration, self.max_duration_s)
        return duration

    def _acquire(self, request: AcquisitionRequest) -> None:
        try:
            result = self._record(request)
        except MidstanceError as exc:
            self.errors.append(exc.sentence())
            result = AcquisitionResult(0.0, stopped_early=True, values={"error": exc.sentence()})
        except Exception as exc:  # a worker thread must always report the end to the runner
            self.errors.append(f"{type(exc).__name__}: {exc}")
            result = AcquisitionResult(0.0, stopped_early=True, values={"error": str(exc)})
        self.on_finished(result)

    def _record(self, request: AcquisitionRequest) -> AcquisitionResult:
        ctrl = self.controller
        duration = self.duration_of(request)
        if self.simulated and request.purpose in SIMULATOR_LIMITS:
            # nothing to record that the step could use: say so instead of measuring nonsense
            limit = SIMULATOR_LIMITS[request.purpose]
            self.notes.append(f"step '{request.step_id}': not recorded: {limit}")
            self.acquisitions.append(
                {"step_id": request.step_id, "purpose": request.purpose, "simulator_limit": limit}
            )
            return AcquisitionResult(0.0, stopped_early=True, values={"simulator_limit": limit})
        staging = None
        if self.simulated and request.purpose in (*UNLOADED_PURPOSES, *STATIC_LOAD_PURPOSES):
            staging = self._clear_plate(request)
        try:
            if staging is not None:
                self._wait_for_clear_plate(request, staging)
            path, start, reached = self._record_file(request, duration)
        finally:  # load lifted, runner back on the belt: the next placement stands alone
            ended = self._restore_plate(staging) if staging is not None else None
        summary = ctrl.last_recording
        end = float(summary.get("acquisition", {}).get("stop_session_time_s", start))
        values: dict[str, Any] = {"session_file": str(path)}
        if duration is not None and duration < (request.duration_s or 0.0):
            values["duration_cap_s"] = duration
        if staging is not None:
            ended = self._check_staging(request, ended, start, end)
            values["off_belt_s"] = [ended.start_s, ended.stop_s]
            if ended.load is not None:
                values["static_load"] = ended.load.to_dict()
        volts = rate = plate = None
        if request.purpose in PLATE_PURPOSES:
            volts, rate, plate = self._plate_record(path, request.device)
        elif request.purpose == "sync-verification":
            values.update(self._sync_offsets(path, request.device or self._first_camera()))
        elif request.purpose in ("running", "single-leg-squat"):
            values.update(self._stance_counts(path))
        self.acquisitions.append(
            {
                "step_id": request.step_id,
                "purpose": request.purpose,
                "placement": request.placement.label if request.placement else "",
                "start_s": start,
                "end_s": end,
                "stopped_early": not reached,
                **{k: v for k, v in values.items() if k != "offsets_s"},
            }
        )
        return AcquisitionResult(
            duration_s=max(0.0, end - start),
            start_s=start,
            end_s=end,
            stopped_early=not reached,
            values=values,
            volts=volts,
            rate_hz=rate,
            plate=plate,
        )

    def _record_file(
        self, request: AcquisitionRequest, duration: float | None
    ) -> tuple[Path, float, bool]:
        """One recording of the step: (its file, its first sample's session time, whether it
        reached its duration or steps per side)."""
        ctrl = self.controller
        ctrl.start_recording(
            self._new_path(request),
            protocol=self.procedure.name,
            step=request.step_id,
            speed_m_s=self.treadmill["speed_m_s"],
            incline_percent=self.treadmill["incline_percent"],
            duration_s=None if request.steps_per_side else duration,
        )
        self.files.append(Path(ctrl.recording_path))
        start = max(0.0, ctrl.recording_started_s)  # every stream of the file starts here
        for label in self._pending_marks:
            ctrl.mark(label, time_s=start)
        self._pending_marks.clear()
        reached = self._wait(request, start, duration)
        return ctrl.stop_recording(), start, reached

    def _wait(self, request: AcquisitionRequest, start: float, duration: float | None) -> bool:
        """Until the duration (or the steps per side) is reached; False if stopped or the DAQ
        ended first."""
        ctrl = self.controller
        daq = ctrl.daq_stream

        def reached() -> bool:
            if request.steps_per_side:
                stances = [s for s in ctrl.stances() if s.contact_s >= start]
                sides = [sum(1 for s in stances if s.side == side) for side in ("L", "R")]
                return min(sides) >= request.steps_per_side
            return ctrl.synchronised_time_s() >= start + (duration or 0.0)

        while not self._stop.is_set():
            if reached():
                return True
            if daq.fault is not None or not daq.running:
                return False
            ctrl.wait_for_progress(WAIT_SLICE_S)
        return False

    def _clear_plate(self, request: AcquisitionRequest):
        """Simulated lab: the runner off the belt (and the placement's load on the plate) from
        just ahead of the newest DAQ sample, open-ended: the record's first sample is only known
        once it starts (the newest sample any device delivered by then), and at pace "fast" a
        thread held up for a moment lets seconds of session time go by. Ended after the record
        by :meth:`_restore_plate`. Placed again if the DAQ overtook the placement while it was
        made, so the stored interval is the one the samples show."""
        from drivers.sim.static_loads import clear_plate, restore_plate

        lab = self.controller.shared["sim.lab"]
        make_load = self._load_of(request) if request.purpose in STATIC_LOAD_PURPOSES else None
        for _ in range(3):
            staging = clear_plate(lab, self._newest_sample_s() + OFF_BELT_MARGIN_S, make_load)
            if self._newest_sample_s() < staging.start_s:
                return staging
            restore_plate(lab, staging, 0.0)
        raise MidstanceError(
            "the simulated DAQ kept running past the runner's step off the belt",
            subject=f"step '{request.step_id}'",
            remedy="Run the step again (the computer may be too busy for pace 'fast').",
        )

    def _wait_for_clear_plate(self, request: AcquisitionRequest, staging) -> None:
        """Until the DAQ is past the runner's step off the belt (and the load's placing) by the
        margin: the record's first sample follows the newest the DAQ (or any device) delivered,
        so it starts after both. Only the DAQ: the cameras need not catch up first (at pace
        "fast" they run up to half a second behind it)."""
        ctrl = self.controller
        daq = ctrl.daq_stream
        settled = staging.start_s + OFF_BELT_MARGIN_S
        deadline = time.monotonic() + 60.0
        while self._newest_sample_s() < settled:
            if daq.fault is not None or not daq.running or time.monotonic() > deadline:
                raise MidstanceError(
                    f"the DAQ did not reach session time {settled:.2f} s, when the runner is off "
                    "the belt" + (" and the load is on the plate" if staging.load else ""),
                    subject=f"step '{request.step_id}'",
                    remedy="Check that the DAQ is delivering, then run the step again.",
                )
            ctrl.wait_for_progress(WAIT_SLICE_S)

    def _restore_plate(self, staging):
        """The load lifted and the runner back on the belt after the record: at the newest DAQ
        sample, which is past the record's last one (the file is closed)."""
        from drivers.sim.static_loads import restore_plate

        lab = self.controller.shared["sim.lab"]
        return restore_plate(lab, staging, max(self._newest_sample_s(), staging.start_s))

    @staticmethod
    def _check_staging(request: AcquisitionRequest, ended, start: float, end: float):
        """``ended`` (the staging as lifted) if the record lies inside it — the plate held only
        what the step says all along; anything else would give a wrong number, so it is
        refused."""
        if ended is not None and ended.start_s + OFF_BELT_MARGIN_S <= start <= end <= ended.stop_s:
            return ended
        what = "the runner was off the belt"
        if ended is not None and ended.load is not None:
            what += " and the load on the plate"
        interval = "never" if ended is None else f"{ended.start_s:.3f}–{ended.stop_s:.3f} s"
        raise MidstanceError(
            f"the record ({start:.3f}–{end:.3f} s) is not inside the time {what} "
            f"({interval}), so its numbers are not the step's",
            subject=f"step '{request.step_id}'",
            remedy="Run the step again.",
        )

    def _newest_sample_s(self) -> float:
        newest = self.controller.daq_stream.latest_session_time_s
        return max(0.0, newest) if math.isfinite(newest) else 0.0

    def _load_of(self, request: AcquisitionRequest):
        """Simulated lab: the placement's mass (m·g) or the pointer, as ``(start, stop) → load``."""
        from drivers.sim.static_loads import StaticLoad

        placement = request.placement
        if placement is None:
            raise MidstanceError(
                "has no placement, so the simulated lab does not know where to put the load",
                subject=f"step '{request.step_id}'",
                remedy="Give the step its placements (position_m, and mass_kg for known masses).",
            )
        if request.purpose == "known-mass":
            return functools.partial(
                StaticLoad.of_mass, placement.mass_kg, placement.position_m, label=placement.label
            )
        return functools.partial(StaticLoad.of_pointer, placement.position_m, label=placement.label)

    def _new_path(self, request: AcquisitionRequest) -> Path | None:
        if self.folder is None:
            return None  # the controller names a new file in the library
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.procedure.name}_{request.step_id}"
        if request.placement is not None:
            stem += f"_{request.placement_index + 1}"
        path = self.folder / f"{stem}.midstance.h5"
        number = 2
        while path.exists():
            path = self.folder / f"{stem}_{number}.midstance.h5"
            number += 1
        return path

    def _first_camera(self) -> str:
        return (self.cameras or tuple(self.controller.camera_streams) or ("",))[0]

    def _plate_record(self, path: Path, device: str):
        """The plate's volts as recorded, its rate and its configuration used for it."""
        from data.session_reader import open_session

        plates = {p.name: p for p in self.controller.setup.plates}
        name = device or next(iter(plates))
        if name not in plates:
            raise MidstanceError(
                f"no plate named '{name}'",
                subject=f"procedure '{self.procedure.name}'",
                remedy=f"Plates of this lab: {', '.join(plates)}.",
            )
        plate = plates[name]
        with open_session(path) as session:
            analog = session.analog
            volts = np.column_stack([analog.channel(c) for c in plate.channels])
            rate = float(analog.rate_hz)
        volts = volts[np.all(np.isfinite(volts), axis=1)]  # DAQ gaps are NaN rows
        return volts, rate, plate.to_dict()

    def _sync_offsets(self, path: Path, camera: str) -> dict[str, Any]:
        """The LED check of ``midstance sync-check`` on this recording."""
        from app.commands.sync_check import _led_geometry, led_check

        try:
            roi, exposure = _led_geometry(self.controller, camera)
        except (KeyError, StopIteration):
            raise MidstanceError(
                f"camera '{camera}' has no led_roi and exposure_s in the configuration",
                subject=f"camera '{camera}'",
                remedy="Add them to its [[cameras]] table (docs/synchronisation.md).",
            ) from None
        check = led_check(path, camera, roi, exposure)
        rate = self.controller.camera_streams[camera].rate_hz
        return {
            "offsets_s": check.offsets_s.tolist(),
            "frame_rate_hz": float(rate),
            "method": "led",
            "camera": camera,
            "trigger_delay_estimate_s": -check.mean_s if check.n else math.nan,
        }

    @staticmethod
    def _stance_counts(path: Path) -> dict[str, Any]:
        from data.session_reader import open_session

        with open_session(path) as session:
            stances = session.live_stances()
        sides = [str(s.get("side", "")) for s in stances]
        return {"stances_L": sides.count("L"), "stances_R": sides.count("R")}

    # -- checks, entries, marks, results ---------------------------------------------------------

    def check_state(self, condition: str, kinds: tuple[str, ...]) -> CheckState:
        if condition != "calibration-current":
            return CheckState(False, f"condition '{condition}' is not known to this lab")
        if self.log is None:
            return CheckState(False, "no calibration log is open, so calibration is not known")
        return calibration_check(self.log, kinds, expected=self.expected_calibrations(kinds))

    def expected_calibrations(self, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        """(kind, device) pairs this lab needs: plate kinds per plate, camera kinds per camera."""
        plates = [p.name for p in self.controller.setup.plates]
        cameras = list(self.controller.camera_streams)
        pairs = []
        for kind in kinds:
            devices = plates if kind in PLATE_KINDS else cameras if kind in CAMERA_KINDS else []
            pairs += [(kind, d) for d in devices]
        return pairs

    def store_entry(self, step_id: str, values: dict[str, Any]) -> None:
        self.entries[step_id] = dict(values)

    def store_mark(self, step_id: str, label: str) -> None:
        """In the open recording now, else at the start of the next one (marks precede the
        acquisition they introduce)."""
        ctrl = self.controller
        time_s = ctrl.daq_stream.latest_session_time_s if ctrl.daq_stream else math.nan
        self.marks.append({"step_id": step_id, "label": label, "session_time_s": time_s})
        if ctrl.state == "recording":
            ctrl.mark(label)
        else:
            self._pending_marks.append(label)

    def record_result(self, result: StepResult) -> None:
        self.results.append(result)
        if self.log is not None:
            log_step_result(self.log, result)
        self.store_run()

    # -- the run in the files --------------------------------------------------------------------

    def run_record(self) -> dict[str, Any]:
        base = (
            self.runner.record()
            if self.runner is not None
            else {
                "procedure": self.procedure.identity(),
                "results": {r.step_id: r.to_dict() for r in self.results},
            }
        )
        return {
            **base,
            "entries": self.entries,
            "marks": self.marks,
            "treadmill": self.treadmill,
            "files": [str(p) for p in self.files],
            "acquisitions": list(self.acquisitions),
            "lab_errors": list(self.errors),
            "notes": list(self.notes),
        }

    def store_run(self) -> None:
        """Rewrite the run and the calibration snapshot into every closed file of the run."""
        from data.session_writer import store_protocol_run

        ctrl = self.controller
        open_now = ctrl.recording_path if ctrl.state == "recording" else None
        closed = [p for p in self.files if open_now is None or Path(open_now) != p]
        if not closed:
            return
        record = self.run_record()
        calibration = self.log.current_calibration() if self.log is not None else {}
        for path in closed:
            store_protocol_run(path, record, calibration)

    def finish(self, timeout_s: float = 600.0) -> list[Path]:
        """The run ended (completed or aborted): let a running acquisition close its file, then
        store the final run record everywhere. Returns the run's files."""
        self._stop.set()
        self.wait_idle(timeout_s)
        with contextlib.suppress(MidstanceError):
            if self.controller.state == "recording":
                self.controller.stop_recording()
        self.store_run()
        return list(self.files)
