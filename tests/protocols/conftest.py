"""Shared test doubles for the protocol tests: a recording LabActions and a synthetic force plate.

``SyntheticPlate`` renders a six-channel plate's voltages for a point load at a lab position with
the geometry of docs/architecture.md ("Force plates"); faults are injected by letting the true
plate differ from the configuration the lab believes (offset, matrix gain, origin).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from data.calibration_log import CalibrationLog
from protocols.actions import AcquisitionRequest, AcquisitionResult, CheckState
from protocols.calibration import calibration_check, log_step_result
from protocols.runner import Runner, State

G = 9.80665
RATE_HZ = 1000.0
ROTATION = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
ORIGIN = np.array([0.0, 0.0, -0.045])
Z_SURFACE = 0.045
# A plausible N/V matrix with a little cross-talk (not diagonal, so mistakes show).
MATRIX = np.array(
    [
        [500.0, 4.0, 2.0, 0, 0, 0],
        [3.0, 500.0, 1.5, 0, 0, 0],
        [2.5, 1.0, 1000.0, 0, 0, 0],
        [0, 0, 0, 200.0, 1.5, 0.5],
        [0, 0, 0, 1.0, 180.0, 0.8],
        [0, 0, 0, 0.4, 0.6, 90.0],
    ]
)
OFFSETS_V = np.array([0.012, -0.020, 0.035, 0.004, -0.007, 0.002])


@dataclass
class SyntheticPlate:
    """The true plate; ``config()`` is what the lab's configuration says about it."""

    matrix: np.ndarray = field(default_factory=MATRIX.copy)
    offsets_V: np.ndarray = field(default_factory=OFFSETS_V.copy)
    origin_m: np.ndarray = field(default_factory=ORIGIN.copy)
    config_matrix: np.ndarray = field(default_factory=MATRIX.copy)
    config_origin_m: np.ndarray = field(default_factory=ORIGIN.copy)
    noise_sd_V: float = 0.0005
    seed: int = 7

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.applied_offsets_V = np.zeros(6)  # what zeroing has set so far

    def config(self) -> dict[str, Any]:
        return {
            "name": "belt",
            "type": "six-channel",
            "channels": ["belt.Fx", "belt.Fy", "belt.Fz", "belt.Mx", "belt.My", "belt.Mz"],
            "matrix": self.config_matrix.tolist(),
            "offsets_V": self.applied_offsets_V.tolist(),
            "z_surface_m": Z_SURFACE,
            "origin_m": self.config_origin_m.tolist(),
            "rotation": ROTATION.tolist(),
        }

    def true_outputs(self, force_lab: np.ndarray, point_lab: np.ndarray) -> np.ndarray:
        """[Fx Fy Fz Mx My Mz] in plate axes about the TRUE transducer origin."""
        force = ROTATION.T @ force_lab
        arm = ROTATION.T @ (point_lab - self.origin_m)
        return np.concatenate([force, np.cross(arm, force)])

    def volts(self, seconds: float, force_lab=(0, 0, 0), point_lab=(0, 0, 0), extra_sd=0.0):
        n = round(seconds * RATE_HZ)
        outputs = self.true_outputs(np.asarray(force_lab, float), np.asarray(point_lab, float))
        clean = np.linalg.solve(self.matrix, outputs) + self.offsets_V
        sd = np.hypot(self.noise_sd_V, extra_sd)
        return clean + self.rng.normal(0.0, sd, size=(n, 6))


class RecordingLab:
    """A LabActions that records every call, answers checks (from a real CalibrationLog when one
    is given) and keeps a session clock advanced by each acquisition."""

    def __init__(self, log: CalibrationLog | None = None, now: datetime | None = None) -> None:
        self.calls: list[tuple] = []
        self.results = []
        self.entries: dict[str, dict[str, Any]] = {}
        self.pending: AcquisitionRequest | None = None
        self.log = log
        self.now = now or datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
        self.session_time_s = 0.0
        self.check_ok = True
        self.plate: SyntheticPlate | None = None  # zeroing applies offsets to it

    def set_treadmill(self, speed_m_s, incline_percent):
        self.calls.append(("set_treadmill", speed_m_s, incline_percent))

    def select_cameras(self, cameras):
        self.calls.append(("select_cameras", tuple(cameras)))

    def zero_plate(self, device, offsets_V):
        self.calls.append(("zero_plate", device, tuple(offsets_V)))
        if self.plate is not None:
            self.plate.applied_offsets_V = np.asarray(offsets_V, dtype=float)

    def start_acquisition(self, request):
        label = request.placement.label if request.placement else ""
        self.calls.append(("start_acquisition", request.step_id, label))
        self.pending = request

    def stop_acquisition(self):
        self.calls.append(("stop_acquisition",))

    def check_state(self, condition, kinds):
        self.calls.append(("check_state", condition, tuple(kinds)))
        if self.log is not None:
            return calibration_check(self.log, kinds, now=self.now)
        return CheckState(self.check_ok, "ok" if self.check_ok else "zero not done today")

    def store_entry(self, step_id, values):
        self.calls.append(("store_entry", step_id))
        self.entries[step_id] = dict(values)

    def store_mark(self, step_id, label):
        self.calls.append(("store_mark", step_id, label))

    def record_result(self, result):
        self.results.append(result)
        if self.log is not None:
            log_step_result(self.log, result)

    def clock(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def finished(self, duration_s: float, **kwargs) -> AcquisitionResult:
        start = self.session_time_s
        self.session_time_s += duration_s
        return AcquisitionResult(duration_s, start, self.session_time_s, **kwargs)


def drive(runner: Runner, lab: RecordingLab, respond, entries=None, skip=()) -> None:
    """Walk a run to its end like an operator: confirm, type entries, skip what ``skip`` names,
    and answer every acquisition with ``respond(request)``."""
    entries = entries or {}
    if runner.state is State.NOT_STARTED:
        runner.begin()
    for _ in range(500):
        step = runner.current_step
        if runner.state is State.COMPLETED:
            return
        if runner.state is State.BLOCKED:
            raise AssertionError(f"blocked at {step.id}: {runner.check_detail}")
        if runner.state is State.ACQUIRING:
            runner.acquisition_finished(respond(lab.pending))
        elif step.optional and (step.id in skip or step.group in skip):
            runner.skip()
        elif step.kind == "entry":
            runner.submit(entries[step.id])
        else:
            runner.next()
    raise AssertionError("the run did not end")


@pytest.fixture
def lab() -> RecordingLab:
    return RecordingLab()


@pytest.fixture
def logged_lab(tmp_path) -> RecordingLab:
    """A lab whose checks and results go through a real calibration log file."""
    return RecordingLab(log=CalibrationLog(tmp_path / "calibration-log.jsonl"))


@pytest.fixture
def drive_run():
    return drive


@pytest.fixture
def plate_factory():
    return SyntheticPlate
