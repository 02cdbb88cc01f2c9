"""What a procedure is: a named, versioned list of typed steps (built by :mod:`protocols.loader`).

The step kinds are the ones a lab procedure needs: an instruction to read, a device set-up
(treadmill speed and incline, which cameras), an acquisition (a duration or a number of steps per
side, for a stated purpose), a check that must hold before continuing, a manual entry of typed
values with units and ranges, a mark on the session timeline, and the choice of a comparison
window (the fatigue comparison). Everything here is immutable data; the runner holds the state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.errors import InputError

STEP_KINDS = ("instruction", "setup", "acquisition", "check", "entry", "mark", "comparison")
CAMERA_VIEWS = ("sagittal", "posterior")
SIDES = ("L", "R")
# What an acquisition is for; decides what the runner evaluates and logs (protocols.evaluation).
PURPOSES = (
    "running",
    "single-leg-squat",
    "warm-up",
    "zero",
    "noise-floor",
    "known-mass",
    "cop-pointer",
    "camera-intrinsics",
    "scale-plane",
    "sync-verification",
)
# Purposes that are calibrations or checks and so go to the calibration log.
CALIBRATION_PURPOSES = PURPOSES[2:]
# Conditions a check step may ask LabActions.check_state about.
CONDITIONS = ("calibration-current",)
FIELD_TYPES = ("number", "choice", "text")


class ProtocolError(InputError):
    """A procedure file or a runner event that cannot be used; names the file, step and field."""


@dataclass(frozen=True)
class EntryField:
    """One typed value of a manual entry; numbers carry a unit and an allowed range."""

    name: str
    label: str
    type: str = "number"
    unit: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = True
    flag_below: float | None = None
    flag_above: float | None = None
    flag_values: tuple[str, ...] = ()
    flag: str = ""  # the flag's name when a flag rule fires
    help: str = ""


@dataclass(frozen=True)
class Comparison:
    """Flag when two numeric fields of an entry differ by more than ``max_difference``."""

    a: str
    b: str
    max_difference: float
    flag: str
    why: str = ""


@dataclass(frozen=True)
class Placement:
    """Where a known mass or the pointer goes (lab frame, horizontal), and the mass if any."""

    label: str
    position_m: tuple[float, float]
    mass_kg: float | None = None


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    title: str
    text: str = ""
    image: str = ""  # path, resolved against the procedure file's folder
    optional: bool = False
    group: str = ""  # consecutive optional steps of one group are skipped together
    # setup
    speed_m_s: float | None = None
    speed_from: str = ""  # "entry_step_id.field": the speed typed earlier
    speed_offset_m_s: float = 0.0
    incline_percent: float | None = None
    cameras: tuple[str, ...] = ()
    # acquisition
    purpose: str = ""
    duration_s: float | None = None
    min_duration_s: float | None = None
    steps_per_side: int | None = None
    segment: str = ""
    side: str = ""
    device: str = ""
    placements: tuple[Placement, ...] = ()
    parameters: dict[str, float] = field(default_factory=dict)
    # check
    condition: str = ""
    kinds: tuple[str, ...] = ()
    may_override: bool = False
    # entry
    fields: tuple[EntryField, ...] = ()
    compare: tuple[Comparison, ...] = ()
    # mark
    label: str = ""
    # comparison
    segments: tuple[str, ...] = ()
    window_s: float = 60.0

    @property
    def interactive(self) -> bool:
        """Steps that wait for the operator; checks, marks and comparisons run on arrival."""
        return self.kind in ("instruction", "setup", "acquisition", "entry")

    def settings(self) -> dict[str, Any]:
        """The step's own parameters, stored with its result (what produced the numbers)."""
        keep = {}
        for key, value in asdict(self).items():
            if key in ("text", "title", "image") or value in ("", (), None, {}, [], False):
                continue
            keep[key] = value
        return keep


@dataclass(frozen=True)
class Procedure:
    name: str
    title: str
    version: str
    description: str
    audience: str  # "clinician" or "technician"
    steps: tuple[Step, ...]
    source: str = "<memory>"
    sha256: str = ""

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise ProtocolError(f"has no step '{step_id}'", subject=f"procedure '{self.name}'")

    def identity(self) -> dict[str, str]:
        """What is stored with every run: which procedure, which version, which exact file."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "sha256": self.sha256,
        }
