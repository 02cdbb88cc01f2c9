"""The seam between the runner and the lab: what a procedure asks the session controller to do.

The runner never touches devices. It calls a :class:`LabActions` implementation (the live
session controller, a replay, or a test double) and is told when an acquisition ends through
:meth:`protocols.runner.Runner.acquisition_finished`, so neither the GUI nor the CLI blocks while
recording. Data handed back is what the runner evaluates (zero offsets, known-mass forces, sync
offsets); the raw recording itself stays with the session file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from protocols.model import Placement

if TYPE_CHECKING:
    from protocols.runner import StepResult


@dataclass(frozen=True)
class AcquisitionRequest:
    """What to record: for how long or how many steps per side, why, and where."""

    step_id: str
    purpose: str
    duration_s: float | None = None
    steps_per_side: int | None = None
    segment: str = ""
    side: str = ""
    device: str = ""
    cameras: tuple[str, ...] = ()
    placement: Placement | None = None  # known-mass / pointer: where the load is this time
    placement_index: int = 0


@dataclass(frozen=True)
class AcquisitionResult:
    """What an acquisition delivered.

    ``start_s``/``end_s`` are session time (docs/architecture.md); ``values`` holds numbers the
    session computed (e.g. ``offsets_s`` and ``frame_rate_hz`` for sync verification, FPPA for a
    squat); ``volts`` (samples, channels) is the raw plate record a technician check needs and
    ``plate`` that plate's configuration as used for it (``[[plates]]`` shape, current offsets).
    """

    duration_s: float
    start_s: float | None = None
    end_s: float | None = None
    stopped_early: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    volts: np.ndarray | None = None
    rate_hz: float | None = None
    plate: dict[str, Any] | None = None


@dataclass(frozen=True)
class CheckState:
    """Whether a check's condition holds now, and a sentence saying why (shown to the operator)."""

    ok: bool
    detail: str
    items: tuple[dict[str, Any], ...] = ()


class LabActions(Protocol):
    """Everything a procedure may ask of the lab; failures raise MidstanceError subclasses."""

    def set_treadmill(self, speed_m_s: float | None, incline_percent: float | None) -> None:
        """Set belt speed and/or incline (None leaves it unchanged; negative = decline)."""

    def select_cameras(self, cameras: tuple[str, ...]) -> None:
        """Use these camera views for the following acquisitions."""

    def zero_plate(self, device: str, offsets_V: tuple[float, ...]) -> None:
        """Apply new unloaded offsets V0 to a plate (computed by the runner from a zero record)."""

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        """Start recording; return at once. Report the end through ``acquisition_finished``."""

    def stop_acquisition(self) -> None:
        """Stop the running acquisition early (the operator asked); still report its result."""

    def check_state(self, condition: str, kinds: tuple[str, ...]) -> CheckState:
        """Is the condition true now (e.g. calibration-current for these kinds)?"""

    def store_entry(self, step_id: str, values: dict[str, Any]) -> None:
        """Store typed values of a manual entry (already validated by the runner)."""

    def store_mark(self, step_id: str, label: str) -> None:
        """Put a named mark on the session timeline at the current time."""

    def record_result(self, result: StepResult) -> None:
        """Store a finished step's result (and, for technician checks, log it: see
        :func:`protocols.calibration.log_step_result`)."""
