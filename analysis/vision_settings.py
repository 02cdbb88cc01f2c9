"""The settings that turn frames into marker tracks and metrics, stored with every video result.

Two sessions are comparable only if they were measured the same way, so every number the vision
code produces carries the :class:`VisionSettings` that made it (``to_dict``/``from_dict`` for the
session file). Defaults are the values validated on the simulated lab (docs/vision.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from analysis.errors import InputError

MIDSTANCE_DEFINITIONS = ("knee_flexion", "pelvis_low", "half")


def _from_mapping(cls, data: dict[str, Any], subject: str):
    """Build a settings dataclass from a dict, naming any unknown field instead of ignoring it."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(
            f"unknown setting(s) {', '.join(unknown)}",
            subject=subject,
            remedy=f"use only: {', '.join(sorted(known))}",
        )
    values = dict(data)
    if "roi" in values and values["roi"] is not None:
        values["roi"] = tuple(int(v) for v in values["roi"])
    return cls(**values)


@dataclass(frozen=True)
class DetectionSettings:
    """Bright-blob detection: threshold, size and shape filters, sub-pixel refinement."""

    threshold: int = 100  # grey level separating marker from background (uint8 scale)
    min_area_px: float = 4.0
    max_area_px: float = 2000.0
    min_circularity: float = 0.6  # 4·pi·area/perimeter^2 of the blob outline; 1 = a disc
    refine: bool = True  # intensity-weighted centroid around each blob (binary moments are biased)
    refine_pad_px: int = 3  # window margin around the blob's bounding box
    refine_level: float = 0.15  # weights are grey - (bg + level·(peak - bg)), clipped at zero
    roi: tuple[int, int, int, int] | None = None  # x, y, width, height in pixels

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 65535:
            raise InputError(
                f"threshold {self.threshold} is out of range",
                subject="detection.threshold",
                remedy="choose a grey level between the background and the marker brightness",
            )
        if self.min_area_px <= 0 or self.max_area_px <= self.min_area_px:
            raise InputError(
                f"area limits {self.min_area_px}..{self.max_area_px} px are not a range",
                subject="detection.min_area_px/max_area_px",
                remedy="set 0 < min_area_px < max_area_px",
            )
        if not 0 <= self.min_circularity <= 1:
            raise InputError(
                f"min_circularity {self.min_circularity} is outside 0..1",
                subject="detection.min_circularity",
                remedy="use e.g. 0.6 (a disc is 1)",
            )
        if not 0 <= self.refine_level < 1:
            raise InputError(
                f"refine_level {self.refine_level} is outside 0..1",
                subject="detection.refine_level",
                remedy="use e.g. 0.15",
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["roi"] = list(self.roi) if self.roi is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectionSettings:
        return _from_mapping(cls, data, "detection settings")


@dataclass(frozen=True)
class TrackingSettings:
    """Frame-to-frame labelling: gating, ambiguity margin, occlusion and gap handling."""

    gate_px: float = 25.0  # a blob farther than this from a marker's prediction cannot be it
    gate_min_px: float = 6.0  # the gate of a still marker; it grows by speed × gate_speed_factor
    gate_speed_factor: float = 1.0  # (pixels of gate per pixel/frame of marker speed)
    ambiguity_margin_px: float = 4.0  # a second candidate this close to the best one → ambiguous
    max_predict_frames: int = 10  # a marker unseen this long is lost (NaN) until re-acquired
    reacquire_frames: int = 3  # consecutive sightings needed to take a lost marker back
    max_gap_frames: int = 10  # offline: gaps up to this long are interpolated, longer stay NaN
    reinitialise_after: int = 25  # frames with most markers lost before labelling restarts
    init_frames: int = 3  # consecutive clean, agreeing frames needed to start labelling
    # more frames than this not seen at all (dropped by the camera, skipped by a live tracker that
    # fell behind): the constant-velocity prediction cannot bridge them, labelling restarts
    restart_after_unseen: int = 4
    # a blob this much larger than the marker's running size (merged with a stray), this much
    # smaller (partly hidden), or this much less round is flagged IRREGULAR: position in doubt.
    # Measured on the simulated lab: a lone marker's area varies < 15 % frame to frame.
    irregular_area_ratio: float = 1.2
    irregular_shrink_ratio: float = 0.6
    irregular_circularity_drop: float = 0.12

    def __post_init__(self) -> None:
        if min(self.gate_px, self.gate_min_px) <= 0 or self.ambiguity_margin_px < 0:
            raise InputError(
                "gate_px must be > 0 and ambiguity_margin_px >= 0",
                subject="tracking settings",
                remedy="use e.g. gate_px = 25, ambiguity_margin_px = 4",
            )
        counts = (
            self.max_predict_frames,
            self.max_gap_frames,
            self.reinitialise_after,
            self.restart_after_unseen,
        )
        if min(counts) < 0 or self.reacquire_frames < 1 or self.init_frames < 1:
            raise InputError(
                "frame counts cannot be negative (reacquire_frames at least 1)",
                subject="tracking settings",
                remedy="use e.g. max_gap_frames = 10",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackingSettings:
        return _from_mapping(cls, data, "tracking settings")


@dataclass(frozen=True)
class EventSettings:
    """Kinematic contact/toe-off (SCIENCE §2): Handsaker peaks inside Zeni windows."""

    lowpass_hz: float = 20.0  # zero-lag Butterworth on marker positions before differentiating
    search_before_s: float = 0.05  # Handsaker peak searched this long before the Zeni event
    search_after_s: float = 0.12  # ... and this long after it (Zeni contact is early: the heel
    # is farthest ahead of the pelvis while still descending)
    min_stride_s: float = 0.4  # two contacts of one foot closer than this are one contact

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventSettings:
        return _from_mapping(cls, data, "event settings")


@dataclass(frozen=True)
class MetricSettings:
    """Which midstance the video metrics use and how positions are read at an instant."""

    midstance: str = "knee_flexion"  # SCIENCE §3: M1 (knee_flexion), M2 (pelvis_low), M5 (half)
    lowpass_hz: float = 0.0  # optional zero-lag smoothing of plane coordinates (0 = none)
    min_marker_quality: float = 0.8  # fraction of stance frames measured (not predicted) per marker
    peak_half_window_s: float = 0.024  # parabola fitted over ±this to time M1/M2 between frames

    def __post_init__(self) -> None:
        if self.midstance not in MIDSTANCE_DEFINITIONS:
            raise InputError(
                f"unknown midstance definition {self.midstance!r}",
                subject="metrics.midstance",
                remedy=f"use one of {', '.join(MIDSTANCE_DEFINITIONS)}",
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricSettings:
        return _from_mapping(cls, data, "metric settings")


@dataclass(frozen=True)
class VisionSettings:
    """Everything that shapes a video-derived number; stored with the result."""

    detection: DetectionSettings = field(default_factory=DetectionSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    events: EventSettings = field(default_factory=EventSettings)
    metrics: MetricSettings = field(default_factory=MetricSettings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detection": self.detection.to_dict(),
            "tracking": self.tracking.to_dict(),
            "events": self.events.to_dict(),
            "metrics": self.metrics.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VisionSettings:
        parts = {
            "detection": DetectionSettings,
            "tracking": TrackingSettings,
            "events": EventSettings,
            "metrics": MetricSettings,
        }
        unknown = sorted(set(data) - set(parts))
        if unknown:
            raise InputError(
                f"unknown section(s) {', '.join(unknown)}",
                subject="vision settings",
                remedy=f"use only: {', '.join(parts)}",
            )
        return cls(**{k: parts[k].from_dict(data[k]) for k in parts if k in data})
