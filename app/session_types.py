"""What the session controller hands out: status snapshots, live views and stance results.

Plain dataclasses, safe to pass from worker threads to the GUI thread (they hold copies, never
views into a ring). Field names are the contract of docs/architecture.md "The session controller".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis.errors import MidstanceError


class ControllerError(MidstanceError):
    """A call the session cannot honour in its current state (e.g. recording before connecting)."""

    exit_code = 4


@dataclass(frozen=True)
class Banner:
    """A message the operator must see until resolved; level ``info``, ``warning`` or ``error``."""

    level: str
    text: str
    remedy: str = ""
    key: str = ""  # stable identity, so a condition that persists is shown once

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeviceStatus:
    name: str
    kind: str
    view: str  # "" for the DAQ; "sagittal"/"posterior" for cameras
    health: str  # drivers.base.HealthStatus value, or "running"/"faulted"
    rate_hz: float
    items: int  # samples or frames delivered since connect
    dropped: int  # items the device reported lost, plus frames the witness says are missing
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SessionStatus:
    state: str  # "idle", "connected", "recording", "closed"
    elapsed_s: float  # session time of the newest DAQ sample
    recording_path: str | None
    devices: tuple[DeviceStatus, ...]
    recorder_behind: bool
    banners: tuple[Banner, ...]
    simulated: bool
    plate_zero_age_s: float | None  # seconds since the plates were zeroed; None = never
    sync_mode: str = ""
    consumer_errors: dict[str, str] = field(default_factory=dict)
    dropped_frames: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped_frames"] = {k: list(v) for k, v in self.dropped_frames.items()}
        return out


@dataclass(frozen=True)
class ForceWindow:
    """The last seconds of force for the live plot (lab frame, ground reaction on the runner)."""

    t: np.ndarray  # (n,) session time
    F: np.ndarray  # (n, 3) Fx Fy Fz summed over the plates
    cop: np.ndarray  # (n, 2) x, y of the combined COP (NaN below the COP threshold)
    plate_fz: dict[str, np.ndarray]  # per plate Fz (n,)


@dataclass(frozen=True)
class LiveFrame:
    image: np.ndarray  # (h, w) uint8, a copy
    index: int
    session_time_s: float
    markers: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class FreezeFrame:
    """The frame nearest the midstance of the latest stance seen by this camera."""

    camera: str
    image: np.ndarray
    index: int
    session_time_s: float
    markers: dict[str, tuple[float, float]]
    stance: StanceResult


# the video numbers joined onto each force stance (StanceTruth names, plus the clinicians' extras)
VIDEO_FIELDS = (
    "midstance_knee_flexion_s",
    "midstance_pelvis_low_s",
    "midstance_used_s",
    "hip_ankle_contact_m",
    "hip_ankle_midstance_m",
    "hip_ankle_contact_pct_leg",
    "hip_ankle_midstance_pct_leg",
    "knee_flexion_contact_deg",
    "knee_flexion_peak_deg",
    "shank_angle_contact_deg",
    "trunk_lean_contact_deg",
    "fppa_midstance_deg",
    "fppa_peak_deg",
    "knee_medial_displacement_m",
    "pelvic_drop_deg",
)


@dataclass(frozen=True)
class StanceResult:
    """One stance: the force record joined with the video metrics of the same stance.

    ``force`` is ``analysis.force_metrics.StanceRecord.to_dict()``; ``video`` the matching
    ``StanceVideoRecord`` fields (empty when no camera saw it). ``to_dict`` merges them under the
    ``StanceTruth`` names, flags from both, and when the results were available.
    """

    index: int
    side: str | None
    contact_s: float
    toe_off_s: float
    force: dict[str, Any]
    video: dict[str, Any]
    flags: tuple[str, ...]
    available_at_s: float = math.nan  # session time when the force part was complete
    video_delay_s: float = math.nan  # wall time from force completion to the joined result

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.force)
        for name in VIDEO_FIELDS:
            if name in self.video:
                out[name] = self.video[name]
        out["index"] = self.index
        out["side"] = self.side
        out["flags"] = list(self.flags)
        return out

    def get(self, name: str) -> Any:
        return self.to_dict().get(name)
