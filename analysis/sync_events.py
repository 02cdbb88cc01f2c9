"""Sync verification: one physical event seen by the DAQ and by a camera, timed in both.

LED check: a DAQ digital output lights an LED in the camera's view and is looped back into the
analog channel ``sync.led``. The DAQ onset is the rising edge of that channel (hysteresis,
sub-sample interpolation, as the exposure witness). The video onset comes from the mean
brightness of a region of interest: a frame integrates light over its exposure, so the first
partly lit frame says how far into its exposure the LED came on
(``onset = exposure start + exposure · (1 − lit fraction)``).

Belt tap: a sharp tap on the belt is a brief Fz transient; the tapping foot or tool decelerates at
the same instant (``F = m·a``), so the Fz peak is paired with the peak of the marker's acceleration,
both refined by a parabola. It is coarser than the LED (the impact lasts about one frame).

Events are paired nearest-first within ``max_pair_gap_s`` and the offset ``video − DAQ`` is reported
as mean ± SD over the repetitions (SCIENCE.md §9: at least 10).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.signal import find_peaks

from analysis.errors import AnalysisError, InputError
from analysis.exposure_witness import WitnessSettings, rising_edges
from analysis.provenance import software_version


@dataclass(frozen=True)
class SyncEventSettings:
    """Thresholds of the event detectors and the pairing; stored with every sync check."""

    led_low_V: float = 1.0  # sync.led loop-back hysteresis (0/5 V line)
    led_high_V: float = 4.0
    video_off_fraction: float = 0.25  # ROI brightness between dark (0) and lit (1) levels
    video_on_fraction: float = 0.75
    partial_fraction: float = 0.05  # a frame lit by more than this is taken as partly exposed
    tap_min_N: float = 50.0  # smallest Fz transient above the baseline taken as a tap
    tap_min_interval_s: float = 0.3
    accel_min_fraction: float = 0.3  # acceleration peaks above this fraction of the largest
    max_pair_gap_s: float = 0.05
    min_repetitions: int = 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SyncEventSettings:
        return cls(**values)


DEFAULT_SETTINGS = SyncEventSettings()


# -- the DAQ side ----------------------------------------------------------------------------------


def led_onsets_analog(
    signal: np.ndarray, rate_hz: float, settings: SyncEventSettings = DEFAULT_SETTINGS
) -> np.ndarray:
    """Session times (s) of the LED switching on, from the looped-back ``sync.led`` channel."""
    levels = WitnessSettings(low_V=settings.led_low_V, high_V=settings.led_high_V)
    return rising_edges(_one_channel(signal, "sync.led"), rate_hz, levels)


def tap_times_force(
    fz_N: np.ndarray, rate_hz: float, settings: SyncEventSettings = DEFAULT_SETTINGS
) -> np.ndarray:
    """Session times (s) of belt-tap Fz peaks: transients above the median baseline."""
    fz = _one_channel(fz_N, "Fz")
    excess = fz - np.median(fz)
    distance = max(1, round(settings.tap_min_interval_s * rate_hz))
    peaks, _ = find_peaks(excess, height=settings.tap_min_N, distance=distance)
    return (peaks + _parabolic_offset(excess, peaks)) / rate_hz


# -- the video side --------------------------------------------------------------------------------


def roi_brightness(frames: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """Mean grey level of ``roi = (x, y, width, height)`` in each frame of a (n, h, w) stack."""
    stack = np.asarray(frames)
    if stack.ndim != 3:
        raise InputError(
            f"expected a stack of grey frames (n, height, width), got shape {stack.shape}",
            subject="LED frames",
            remedy="Pass the frames of one camera as a 3-D array.",
        )
    x, y, w, h = roi
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > stack.shape[2] or y + h > stack.shape[1]:
        raise InputError(
            f"region {roi} is not inside frames of {stack.shape[2]}×{stack.shape[1]} px",
            subject="LED region of interest",
            remedy="Draw the region around the LED inside the image.",
        )
    return stack[:, y : y + h, x : x + w].mean(axis=(1, 2), dtype=np.float64)


def led_onsets_video(
    brightness: np.ndarray,
    exposure_start_s: np.ndarray,
    exposure_s: float,
    settings: SyncEventSettings = DEFAULT_SETTINGS,
) -> np.ndarray:
    """Session times (s) of LED onsets from per-frame ROI brightness.

    ``exposure_start_s`` is each frame's exposure start on the session clock (as the sync under
    test says); ``exposure_s`` the exposure time. The frames may be several unbroken runs joined
    together (e.g. only the frames around each DAQ onset) as long as each run starts and ends dark.
    """
    b = _one_channel(brightness, "ROI brightness")
    start = np.asarray(exposure_start_s, dtype=np.float64)
    if start.shape != b.shape:
        raise InputError(
            f"{b.size} brightness values but {start.size} frame times",
            subject="LED frames",
            remedy="Pass one exposure start time per frame.",
        )
    # dark and lit levels: medians of the frames below and above the middle of the range, so any
    # duty cycle works (partly lit frames are few and pull the medians little)
    middle = 0.5 * (b.min() + b.max())
    dark = float(np.median(b[b <= middle]))
    lit = float(np.median(b[b > middle])) if np.any(b > middle) else dark
    below = b[b <= middle]
    noise = 1.4826 * float(np.median(np.abs(below - dark)))
    if lit - dark <= max(10 * noise, 0.0):
        raise AnalysisError(
            "the LED region never changes brightness",
            subject="LED region of interest",
            remedy="Check that the region covers the LED and that it blinked during the check.",
        )
    f = (b - dark) / (lit - dark)
    state = np.where(f >= settings.video_on_fraction, 1.0, np.nan)
    state[f <= settings.video_off_fraction] = 0.0
    known = np.flatnonzero(~np.isnan(state))
    carried = np.full(b.size, np.nan)
    if known.size:
        fill = np.maximum.accumulate(np.where(~np.isnan(state), np.arange(b.size), -1))
        carried[fill >= 0] = state[fill[fill >= 0]]
    on = np.flatnonzero((carried[1:] == 1.0) & (carried[:-1] == 0.0)) + 1
    onsets = np.empty(on.size)
    eps = settings.partial_fraction
    for i, j in enumerate(on.tolist()):
        before, now = float(np.clip(f[j - 1], 0, 1)), float(np.clip(f[j], 0, 1))
        if before > eps:  # came on during the previous frame's exposure
            onsets[i] = start[j - 1] + exposure_s * (1.0 - before)
        elif now < 1.0 - eps:  # came on during this frame's exposure
            onsets[i] = start[j] + exposure_s * (1.0 - now)
        else:  # came on between exposures: the middle of that gap
            onsets[i] = 0.5 * (start[j - 1] + exposure_s + start[j])
    return onsets


def acceleration_peak_times(
    position: np.ndarray,
    frame_time_s: np.ndarray,
    settings: SyncEventSettings = DEFAULT_SETTINGS,
) -> np.ndarray:
    """Session times (s) of impact peaks in a marker's acceleration (belt-tap video side).

    ``position`` is (n,) or (n, 2) in any length unit, at frame times that are evenly spaced (a
    dropped frame must be interpolated or the run split before calling).
    """
    p = np.asarray(position, dtype=np.float64)
    t = np.asarray(frame_time_s, dtype=np.float64)
    p = p[:, None] if p.ndim == 1 else p
    if p.shape[0] != t.size or t.size < 5:
        raise InputError(
            f"{p.shape[0]} positions for {t.size} frame times (need the same, at least 5)",
            subject="tap marker track",
            remedy="Pass one position per frame.",
        )
    dt = np.diff(t)
    if np.ptp(dt) > 0.01 * np.median(dt):
        raise InputError(
            "frame times are not evenly spaced (a dropped frame?)",
            subject="tap marker track",
            remedy="Interpolate the missing frames or analyse each unbroken run separately.",
        )
    step = float(np.median(dt))
    accel = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=1) / step**2
    if not np.any(accel > 0):
        raise AnalysisError("the marker never accelerates", subject="tap marker track")
    distance = max(1, round(settings.tap_min_interval_s / step))
    peaks, _ = find_peaks(
        accel, height=settings.accel_min_fraction * accel.max(), distance=distance
    )
    return t[1] + (peaks + _parabolic_offset(accel, peaks)) * step


# -- pairing and the verdict -----------------------------------------------------------------------


@dataclass(frozen=True)
class SyncCheck:
    """Offsets ``video − DAQ`` of paired events, with mean ± SD and what could not be paired."""

    method: str  # "led" or "belt_tap"
    daq_event_s: np.ndarray
    video_event_s: np.ndarray
    offsets_s: np.ndarray
    unpaired_daq_s: np.ndarray
    unpaired_video_s: np.ndarray
    settings: SyncEventSettings
    software: str = field(default_factory=software_version)

    @property
    def n(self) -> int:
        return int(self.offsets_s.size)

    @property
    def mean_s(self) -> float:
        return float(np.mean(self.offsets_s)) if self.n else float("nan")

    @property
    def sd_s(self) -> float:
        return float(np.std(self.offsets_s, ddof=1)) if self.n > 1 else float("nan")

    @property
    def flags(self) -> tuple[str, ...]:
        flags = []
        if self.n < self.settings.min_repetitions:
            flags.append("too_few_repetitions")
        if self.unpaired_daq_s.size or self.unpaired_video_s.size:
            flags.append("unpaired_events")
        return tuple(flags)

    def summary(self) -> str:
        return (
            f"{self.method}: video − DAQ = {self.mean_s * 1e3:.2f} ± {self.sd_s * 1e3:.2f} ms"
            f" over {self.n} events"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n": self.n,
            "mean_s": self.mean_s,
            "sd_s": self.sd_s,
            "offsets_s": self.offsets_s.tolist(),
            "daq_event_s": self.daq_event_s.tolist(),
            "video_event_s": self.video_event_s.tolist(),
            "unpaired_daq_s": self.unpaired_daq_s.tolist(),
            "unpaired_video_s": self.unpaired_video_s.tolist(),
            "flags": list(self.flags),
            "settings": self.settings.to_dict(),
            "software": self.software,
        }


def pair_events(
    daq_s: np.ndarray,
    video_s: np.ndarray,
    method: str,
    settings: SyncEventSettings = DEFAULT_SETTINGS,
) -> SyncCheck:
    """Pair each DAQ event with the nearest unused video event within ``max_pair_gap_s``."""
    daq = np.sort(np.asarray(daq_s, dtype=np.float64).ravel())
    video = np.sort(np.asarray(video_s, dtype=np.float64).ravel())
    gaps = np.abs(daq[:, None] - video[None, :]) if daq.size and video.size else np.empty((0, 0))
    used_d = np.zeros(daq.size, dtype=bool)
    used_v = np.zeros(video.size, dtype=bool)
    pairs = []
    for flat in np.argsort(gaps, axis=None).tolist():
        i, j = divmod(flat, video.size)
        if gaps[i, j] > settings.max_pair_gap_s:
            break
        if not (used_d[i] or used_v[j]):
            used_d[i] = used_v[j] = True
            pairs.append((i, j))
    pairs.sort()
    di = np.array([i for i, _ in pairs], dtype=np.int64)
    vj = np.array([j for _, j in pairs], dtype=np.int64)
    return SyncCheck(
        method=method,
        daq_event_s=daq[di],
        video_event_s=video[vj],
        offsets_s=video[vj] - daq[di],
        unpaired_daq_s=daq[~used_d],
        unpaired_video_s=video[~used_v],
        settings=settings,
    )


# -- helpers ---------------------------------------------------------------------------------------


def _one_channel(values: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 3 or not np.all(np.isfinite(x)):
        raise InputError(
            f"expected a 1-D finite series of at least 3 values, got shape {x.shape}",
            subject=what,
            remedy="Pass one channel, without gaps (NaN).",
        )
    return x


def _parabolic_offset(y: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-sample offset of each peak from a parabola through it and its two neighbours."""
    offset = np.zeros(peaks.size)
    inner = (peaks > 0) & (peaks < y.size - 1)
    p = peaks[inner]
    left, mid, right = y[p - 1], y[p], y[p + 1]
    curvature = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset[inner] = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return offset
