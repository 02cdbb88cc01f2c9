"""Per-stance video records: sagittal and posterior metrics for each stance found by force (or by
kinematic events), joined by session time, and their per-side mean, SD and n.

Field names follow ``StanceTruth`` (docs/architecture.md): same name, same quantity, same unit.
Positions at an instant between frames (contact, a midstance from force) are linearly
interpolated in time, so events keep the force plate's time resolution. The sagittal camera sees
the near leg only: far-leg stances get no sagittal numbers (flag ``far_leg_not_in_view``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analysis import kinematics as kin
from analysis.errors import AnalysisError
from analysis.marker_sets import ImageOrientation, MarkerSet
from analysis.markers import detect_markers
from analysis.plane_calibration import PlaneCalibration
from analysis.provenance import software_version
from analysis.tracking import IRREGULAR, LOW_CONFIDENCE, MEASURED, MarkerTracks, track_frames
from analysis.vision_settings import VisionSettings


def track_video(
    frames: Iterable[np.ndarray],
    marker_set: MarkerSet,
    orientation: ImageOrientation,
    settings: VisionSettings | None = None,
) -> MarkerTracks:
    """Detect, label and gap-fill the markers of a whole recording (offline)."""
    settings = settings or VisionSettings()
    blobs = [detect_markers(frame, settings.detection) for frame in frames]
    return track_frames(blobs, marker_set, orientation, settings.tracking)


@dataclass(frozen=True)
class PlaneTracks:
    """Marker tracks of one view in plane metres on the session clock."""

    view: str
    names: tuple[str, ...]
    times_s: np.ndarray  # (n_frames,) session time of each frame's exposure
    ab_m: np.ndarray  # (n_frames, n_markers, 2)
    flags: np.ndarray  # (n_frames, n_markers) tracking quality bits
    near_leg: str = "R"

    def at(self, name: str, t: float) -> np.ndarray:
        """Position of a marker at time ``t`` (linear between frames; NaN if either is unknown)."""
        series = self.ab_m[:, self.names.index(name)]
        k = int(np.searchsorted(self.times_s, t))
        if k <= 0 or k >= len(self.times_s):
            return np.full(2, np.nan)
        t0, t1 = self.times_s[k - 1], self.times_s[k]
        w = (t - t0) / (t1 - t0)
        return (1 - w) * series[k - 1] + w * series[k]

    def window(self, t0: float, t1: float) -> slice:
        return slice(
            int(np.searchsorted(self.times_s, t0)), int(np.searchsorted(self.times_s, t1, "right"))
        )

    def series(self, name: str, frames: slice) -> np.ndarray:
        return self.ab_m[frames, self.names.index(name)]


def plane_tracks(
    tracks: MarkerTracks, times_s: Sequence[float], calibration: PlaneCalibration
) -> PlaneTracks:
    """Pixels → plane metres for every frame, with the frame times on the session clock."""
    times = np.asarray(times_s, dtype=float)
    if len(times) != len(tracks.xy):
        raise AnalysisError(
            f"{len(times)} frame times for {len(tracks.xy)} frames",
            subject=f"{calibration.view} video",
            remedy="pass one session time per tracked frame",
        )
    ab = np.stack(
        [calibration.marker_to_plane(name, tracks.xy[:, i]) for i, name in enumerate(tracks.names)],
        axis=1,
    )
    return PlaneTracks(
        calibration.view, tracks.names, times, ab, tracks.flags, calibration.near_leg
    )


@dataclass
class StanceVideoRecord:
    """Video metrics of one stance (None where the view or markers do not allow it)."""

    index: int
    side: str
    contact_s: float
    toe_off_s: float
    midstance_knee_flexion_s: float | None = None  # M1
    midstance_pelvis_low_s: float | None = None  # M2
    midstance_half_s: float | None = None  # M5
    midstance_used_s: float | None = None  # the one the midstance metrics were read at
    hip_ankle_contact_m: float | None = None
    hip_ankle_midstance_m: float | None = None
    hip_ankle_contact_pct_leg: float | None = None
    hip_ankle_midstance_pct_leg: float | None = None
    knee_flexion_contact_deg: float | None = None
    knee_flexion_peak_deg: float | None = None
    shank_angle_contact_deg: float | None = None
    trunk_lean_contact_deg: float | None = None
    fppa_midstance_deg: float | None = None
    fppa_peak_deg: float | None = None
    knee_medial_displacement_m: float | None = None
    pelvic_drop_deg: float | None = None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flags"] = list(self.flags)
        return d


NUMERIC_FIELDS = tuple(
    name
    for name in StanceVideoRecord.__dataclass_fields__
    if name not in ("index", "side", "flags") and not name.endswith("_s")
)


@dataclass
class VideoMetrics:
    """All stance records of a session, with the settings and calibrations that produced them."""

    records: list[StanceVideoRecord]
    settings: VisionSettings
    leg_length_m: float | None
    leg_length_source: str  # "given", "estimated" or "unknown"
    calibrations: dict[str, dict] = field(default_factory=dict)
    software_version: str = field(default_factory=software_version)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per side and field: mean, SD (n − 1) and n over the stances that have a value."""
        return summarise(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": [r.to_dict() for r in self.records],
            "summary": self.summary(),
            "settings": self.settings.to_dict(),
            "leg_length_m": self.leg_length_m,
            "leg_length_source": self.leg_length_source,
            "calibrations": self.calibrations,
            "software_version": self.software_version,
        }


def summarise(records: Iterable[StanceVideoRecord]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    records = list(records)
    for side in ("L", "R"):
        mine = [r for r in records if r.side == side]
        fields: dict[str, dict[str, float]] = {}
        for name in NUMERIC_FIELDS:
            values = np.array([getattr(r, name) for r in mine if getattr(r, name) is not None])
            values = values[np.isfinite(values)] if len(values) else values
            n = len(values)
            fields[name] = {
                "mean": float(values.mean()) if n else math.nan,
                "sd": float(values.std(ddof=1)) if n > 1 else math.nan,
                "n": n,
            }
        out[side] = fields
    return out


def _num(value) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _quality_ok(tracks: PlaneTracks, names: Sequence[str], frames: slice, minimum: float) -> bool:
    if frames.stop - frames.start <= 0:
        return False
    idx = [tracks.names.index(n) for n in names]
    seen = (tracks.flags[frames][:, idx] & MEASURED) > 0
    return bool(seen.mean(axis=0).min() >= minimum)


def _doubtful(tracks: PlaneTracks, names: Sequence[str], frames: slice) -> bool:
    idx = [tracks.names.index(n) for n in names]
    return bool((tracks.flags[frames][:, idx] & LOW_CONFIDENCE).any())


def _irregular_near(
    tracks: PlaneTracks, names: Sequence[str], instants: Iterable[float | None], half_window_s=0.0
) -> bool:
    """True when a named marker is ``IRREGULAR`` (its blob merged with a stray or partly hidden:
    the centroid is doubtful) in a frame a number was read from: the two frames around each
    instant (values between frames are interpolated from them), widened by ``half_window_s``
    for peaks fitted over neighbouring frames."""
    idx = [tracks.names.index(n) for n in names]
    times = tracks.times_s
    for t in instants:
        if t is None or not math.isfinite(t):
            continue
        lo = max(int(np.searchsorted(times, t - half_window_s)) - 1, 0)
        hi = int(np.searchsorted(times, t + half_window_s, "right")) + 1
        if (tracks.flags[lo:hi, idx] & IRREGULAR).any():
            return True
    return False


def _peak(
    times: np.ndarray, values: np.ndarray, lowest: bool = False, half_window_s: float = 0.0
) -> tuple[float, float]:
    """(time, value) of the maximum (or minimum), refined between frames by a least-squares
    parabola over ±``half_window_s`` (at least the two neighbours): flat peaks such as the knee
    flexion maximum need the wider fit to time them to a millisecond."""
    v = -values if lowest else values
    if not np.isfinite(v).any():
        return math.nan, math.nan
    k = int(np.nanargmax(v))
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    w = max(1, round(half_window_s / dt)) if dt > 0 else 1
    lo, hi = max(k - w, 0), min(k + w + 1, len(v))
    x, y = times[lo:hi] - times[k], v[lo:hi]
    ok = np.isfinite(y)
    if ok.sum() >= 3:
        a, b, c = np.polyfit(x[ok], y[ok], 2)
        if a < 0:
            vertex = -b / (2 * a)
            if x[ok].min() <= vertex <= x[ok].max():
                peak = c - b * b / (4 * a)
                return float(times[k] + vertex), float(-peak if lowest else peak)
    return float(times[k]), float(values[k])


def estimate_leg_length_m(sagittal: PlaneTracks) -> float | None:
    """A fallback for the leg length (greater trochanter to floor): the hip marker's 95th
    percentile height above the heel marker's lowest point. Running hip height is below the
    standing one (6 % short on the simulated runner), so a measured leg length is better."""
    hip = sagittal.ab_m[:, sagittal.names.index("hip"), 1]
    heel = sagittal.ab_m[:, sagittal.names.index("heel"), 1]
    if not (np.isfinite(hip).any() and np.isfinite(heel).any()):
        return None
    return float(np.nanpercentile(hip, 95) - np.nanmin(heel))


def stance_video_records(
    stances: Iterable[tuple[str, float, float]],
    *,
    sagittal: PlaneTracks | None = None,
    posterior: PlaneTracks | None = None,
    settings: VisionSettings | None = None,
    leg_length_m: float | None = None,
    calibrations: dict[str, PlaneCalibration] | None = None,
) -> VideoMetrics:
    """One record per stance ``(side, contact_s, toe_off_s)`` (e.g. from the force plate),
    in the given order."""
    settings = settings or VisionSettings()
    ms = settings.metrics
    source = "given"
    if leg_length_m is None and sagittal is not None:
        leg_length_m, source = estimate_leg_length_m(sagittal), "estimated"
    if leg_length_m is None:
        source = "unknown"
    records = []
    for index, (side, contact, toe_off) in enumerate(stances):
        rec = StanceVideoRecord(index, str(side), float(contact), float(toe_off))
        rec.midstance_half_s = 0.5 * (rec.contact_s + rec.toe_off_s)
        flags: list[str] = []
        if sagittal is not None and side == sagittal.near_leg:
            _sagittal_metrics(rec, sagittal, ms, leg_length_m, flags)
        elif sagittal is not None:
            flags.append("far_leg_not_in_view")
        chosen = {
            "knee_flexion": rec.midstance_knee_flexion_s,
            "pelvis_low": rec.midstance_pelvis_low_s,
            "half": rec.midstance_half_s,
        }[ms.midstance]
        if chosen is None:
            chosen = rec.midstance_half_s
            flags.append("midstance_half_fallback")
        rec.midstance_used_s = chosen
        if sagittal is not None and side == sagittal.near_leg:
            rec.hip_ankle_midstance_m = _num(
                kin.hip_ankle_m(sagittal.at("hip", chosen), sagittal.at("ankle", chosen))
            )
            if rec.hip_ankle_midstance_m is not None and leg_length_m:
                rec.hip_ankle_midstance_pct_leg = 100 * rec.hip_ankle_midstance_m / leg_length_m
            limb = ("hip", "knee", "ankle")
            read = (*limb, "shoulder") if "shoulder" in sagittal.names else limb
            if _irregular_near(sagittal, read, (rec.contact_s, chosen)) or _irregular_near(
                sagittal, limb, (rec.midstance_knee_flexion_s,), ms.peak_half_window_s
            ):
                flags.append("marker_irregular")
        if posterior is not None:
            _posterior_metrics(rec, posterior, ms, chosen, flags)
        rec.flags = tuple(flags)
        records.append(rec)
    return VideoMetrics(
        records,
        settings,
        leg_length_m,
        source,
        {k: v.to_dict() for k, v in (calibrations or {}).items()},
    )


def _sagittal_metrics(rec, tracks: PlaneTracks, ms, leg_length_m, flags: list[str]) -> None:
    names = ("hip", "knee", "ankle")
    frames = tracks.window(rec.contact_s, rec.toe_off_s)
    if not _quality_ok(tracks, names, frames, ms.min_marker_quality):
        flags.append("low_marker_quality")
    if _doubtful(tracks, names, frames):
        flags.append("label_low_confidence")
    hip, knee, ankle = (tracks.at(n, rec.contact_s) for n in names)
    rec.hip_ankle_contact_m = _num(kin.hip_ankle_m(hip, ankle))
    if rec.hip_ankle_contact_m is not None and leg_length_m:
        rec.hip_ankle_contact_pct_leg = 100 * rec.hip_ankle_contact_m / leg_length_m
    rec.knee_flexion_contact_deg = _num(kin.knee_flexion_deg(hip, knee, ankle))
    rec.shank_angle_contact_deg = _num(kin.shank_angle_deg(knee, ankle))
    if "shoulder" in tracks.names:
        rec.trunk_lean_contact_deg = _num(
            kin.trunk_lean_deg(tracks.at("shoulder", rec.contact_s), hip)
        )
    times = tracks.times_s[frames]
    if len(times) >= 3:
        flexion = kin.knee_flexion_deg(*(tracks.series(n, frames) for n in names))
        t_peak, peak = _peak(times, flexion, half_window_s=ms.peak_half_window_s)
        rec.midstance_knee_flexion_s = _num(t_peak)
        rec.knee_flexion_peak_deg = _num(peak)
        t_low, _ = _peak(
            times,
            tracks.series("hip", frames)[:, 1],
            lowest=True,
            half_window_s=ms.peak_half_window_s,
        )
        rec.midstance_pelvis_low_s = _num(t_low)


def _posterior_metrics(rec, tracks: PlaneTracks, ms, t_mid: float, flags: list[str]) -> None:
    s = rec.side
    names = (f"{s}_thigh", f"{s}_knee", f"{s}_ankle")
    frames = tracks.window(rec.contact_s, rec.toe_off_s)
    used = (*names, "L_psis", "R_psis")
    if not _quality_ok(tracks, used, frames, ms.min_marker_quality):
        flags.append("low_marker_quality_posterior")
    if _doubtful(tracks, used, frames):
        flags.append("label_low_confidence_posterior")
    proximal, knee, ankle = (tracks.at(n, t_mid) for n in names)
    rec.fppa_midstance_deg = _num(kin.fppa_deg(proximal, knee, ankle, s))
    rec.knee_medial_displacement_m = _num(kin.knee_medial_offset_m(proximal, knee, ankle, s))
    rec.pelvic_drop_deg = _num(
        kin.pelvic_drop_deg(tracks.at("L_psis", t_mid), tracks.at("R_psis", t_mid), s)
    )
    t_peak = None
    times = tracks.times_s[frames]
    if len(times) >= 3:
        series = kin.fppa_deg(*(tracks.series(n, frames) for n in names), s)
        t_peak, peak = _peak(times, series)
        rec.fppa_peak_deg = _num(peak)
    if _irregular_near(tracks, used, (t_mid, t_peak)):
        flags.append("marker_irregular_posterior")
