"""Frame timing of a recorded video, from its container's per-frame timestamps.

A session analysed from a video file ties frames to force samples through these times, so a file
whose frames are not evenly spaced (variable frame rate: phone recordings, screen captures) must
not be treated as if they were. :func:`frame_timing` measures the spacing; the video-file driver
refuses uneven files unless told to use each frame's own timestamp.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_INTERVAL_TOLERANCE = 0.05  # relative deviation of one interval from the median
TIMESTAMP_ROUNDING_S = 0.0011  # containers often store milliseconds: 1 ms rounding is not jitter


@dataclass(frozen=True)
class FrameTiming:
    """How evenly a file's frames are spaced (all times in seconds from the first frame)."""

    n_frames: int
    mean_interval_s: float  # (last − first) / (n − 1): the rate, immune to timestamp rounding
    median_interval_s: float
    min_interval_s: float
    max_interval_s: float
    worst_deviation: float  # largest |interval − median| beyond rounding, relative to the median
    tolerance: float
    constant_rate: bool

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.mean_interval_s

    def describe(self) -> str:
        return (
            f"{self.n_frames} frames, intervals {1e3 * self.min_interval_s:.2f}–"
            f"{1e3 * self.max_interval_s:.2f} ms (median {1e3 * self.median_interval_s:.2f} ms)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate_hz": self.rate_hz}


class UnusableTimestamps(ValueError):
    """Timestamps that cannot describe a video (too few, or not increasing)."""


def frame_timing(times_s: np.ndarray, tolerance: float = DEFAULT_INTERVAL_TOLERANCE) -> FrameTiming:
    """Measure the spacing of frame timestamps; ``constant_rate`` says whether it is even.

    An interval deviates when it differs from the median interval by more than ``tolerance`` of
    it plus the container's timestamp rounding (:data:`TIMESTAMP_ROUNDING_S`).
    """
    times = np.asarray(times_s, dtype=np.float64)
    if times.ndim != 1 or len(times) < 2:
        raise UnusableTimestamps(f"{len(times)} frame timestamp(s); at least 2 are needed")
    if not np.all(np.isfinite(times)):
        raise UnusableTimestamps("some frame timestamps are missing")
    intervals = np.diff(times)
    if np.any(intervals <= 0):
        k = int(np.argmax(intervals <= 0))
        raise UnusableTimestamps(
            f"frame {k + 1} is not later than frame {k} ({times[k + 1]:.6f} s ≤ {times[k]:.6f} s)"
        )
    median = float(np.median(intervals))
    excess = np.maximum(np.abs(intervals - median) - TIMESTAMP_ROUNDING_S, 0.0)
    worst = float(np.max(excess) / median)
    return FrameTiming(
        n_frames=len(times),
        mean_interval_s=float((times[-1] - times[0]) / (len(times) - 1)),
        median_interval_s=median,
        min_interval_s=float(intervals.min()),
        max_interval_s=float(intervals.max()),
        worst_deviation=worst,
        tolerance=tolerance,
        constant_rate=worst <= tolerance,
    )
