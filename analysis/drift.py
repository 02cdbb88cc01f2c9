"""Zeroing, noise floor and drift of force plates (SCIENCE.md §2 and §7).

In running the force during flight must be zero, so whatever a plate reads then is offset. The
offset is estimated in each aerial phase and interpolated across the stance in between (the idea
behind the ``dryft`` method, Alcantara et al. 2020). Unloaded recordings before and after a trial
give the zero offsets, the noise floor and the drift over the trial.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from analysis.errors import AnalysisError


def window_flight_offsets(
    raw: np.ndarray, loaded_from: int, loaded_to: int, off_N: float
) -> tuple[np.ndarray, bool]:
    """Per-sample offsets (m, channels) for a window around one contact.

    Offsets are the median of each channel over the unloaded samples (``Fz < off_N``) before
    ``loaded_from`` and after ``loaded_to``, joined by a straight line across the contact.
    Returns zeros and False when neither side has unloaded samples.
    """
    fz = raw[:, 2]
    idx = np.arange(raw.shape[0])
    before = (idx < loaded_from) & (fz < off_N)
    after = (idx >= loaded_to) & (fz < off_N)
    if not before.any() and not after.any():
        return np.zeros_like(raw), False
    if not before.any():
        before = after
    if not after.any():
        after = before
    level_before = np.median(raw[before], axis=0)
    level_after = np.median(raw[after], axis=0)
    t_before = float(np.mean(idx[before]))
    t_after = float(np.mean(idx[after]))
    if t_after <= t_before:
        return np.broadcast_to((level_before + level_after) / 2, raw.shape).copy(), True
    frac = np.clip((idx - t_before) / (t_after - t_before), 0.0, 1.0)[:, None]
    return level_before + frac * (level_after - level_before), True


def flight_drift_correction(
    wrench: np.ndarray, contacts: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-trial drift removal: subtract offsets measured in every flight phase.

    ``contacts`` are ``(first, last)`` loaded samples in time order. The offset of each channel is
    its median over each flight phase between contacts, placed at the flight's midpoint and
    linearly interpolated (held constant beyond the first and last flight). Returns the corrected
    wrench and the ``(n_flights, 1 + channels)`` table of (sample, offsets...).
    """
    wrench = np.asarray(wrench, dtype=float)
    flights = []
    edges = [(-1, -1), *contacts, (wrench.shape[0], wrench.shape[0])]
    for (_, prev_last), (next_first, _) in itertools.pairwise(edges):
        lo, hi = prev_last + 1, next_first
        if hi - lo >= 3:
            flights.append(((lo + hi - 1) / 2.0, np.median(wrench[lo:hi], axis=0)))
    if not flights:
        raise AnalysisError(
            "no flight phase found to estimate the drift from",
            subject="force drift correction",
            remedy="Drift correction from flight phases needs running with aerial phases.",
        )
    at = np.array([f[0] for f in flights])
    levels = np.array([f[1] for f in flights])
    samples = np.arange(wrench.shape[0])
    offsets = np.column_stack(
        [np.interp(samples, at, levels[:, c]) for c in range(wrench.shape[1])]
    )
    return wrench - offsets, np.column_stack([at, levels])


def unloaded_offsets(volts: np.ndarray) -> np.ndarray:
    """Zero offsets V0: the mean of each channel over an unloaded recording (belt stopped)."""
    volts = np.asarray(volts, dtype=float)
    if volts.ndim != 2 or volts.shape[0] < 10:
        raise AnalysisError(
            "an unloaded recording needs at least 10 samples of every channel",
            subject="plate zeroing",
            remedy="Record at least one second with nobody on the treadmill.",
        )
    return volts.mean(axis=0)


@dataclass(frozen=True)
class NoiseFloor:
    """Vertical-force noise with the belt running unloaded, and whether a threshold clears it."""

    mean_N: float
    sd_N: float
    peak_to_peak_N: float
    threshold_N: float
    ratio: float
    min_ratio: float

    @property
    def threshold_ok(self) -> bool:
        return self.ratio >= self.min_ratio

    def to_dict(self) -> dict:
        return {**asdict(self), "threshold_ok": self.threshold_ok}

    def sentence(self) -> str:
        verdict = "clears" if self.threshold_ok else "does NOT clear"
        return (
            f"noise floor {self.sd_N:.2f} N SD (peak-to-peak {self.peak_to_peak_N:.1f} N); "
            f"the {self.threshold_N:g} N threshold is {self.ratio:.1f} SD above the mean and "
            f"{verdict} the required {self.min_ratio:g} SD"
        )


def noise_floor(fz_unloaded: np.ndarray, threshold_N: float, min_ratio: float = 5.0) -> NoiseFloor:
    """Noise floor from unloaded belt-running data, checked against a detection threshold."""
    fz = np.asarray(fz_unloaded, dtype=float)
    if fz.size < 10:
        raise AnalysisError(
            "too few unloaded samples to measure the noise floor",
            subject="plate noise floor",
            remedy="Record a few seconds with the belt running and nobody on it.",
        )
    sd = float(np.std(fz, ddof=1))
    mean = float(np.mean(fz))
    ratio = (threshold_N - mean) / sd if sd > 0 else float("inf")
    return NoiseFloor(mean, sd, float(np.ptp(fz)), float(threshold_N), float(ratio), min_ratio)


def drift_between(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per-channel drift over a trial: mean of the unloaded period after minus before."""
    return np.mean(np.asarray(after, float), axis=0) - np.mean(np.asarray(before, float), axis=0)
