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


def window_flight_model(
    raw: np.ndarray,
    loaded_from: int,
    loaded_to: int,
    off_N: float,
    *,
    rate_hz: float,
    vibration_hz: float,
) -> tuple[np.ndarray, bool]:
    """Offsets plus a belt vibration of known frequency, fitted to the unloaded samples around
    one contact and extended across it: per channel ``c0 + c1·t + a·sin(2πft) + b·cos(2πft)``
    by least squares. Needs at least one vibration period of unloaded samples; otherwise
    returns zeros and False (the caller falls back to :func:`window_flight_offsets`)."""
    fz = raw[:, 2]
    idx = np.arange(raw.shape[0])
    guard = round(0.010 * rate_hz)  # the foot's own first and last newtons are not flight
    unloaded = ((idx < loaded_from - guard) | (idx >= loaded_to + guard)) & (fz < off_N)
    if np.count_nonzero(unloaded) < rate_hz / vibration_hz or not (
        np.any(unloaded & (idx < loaded_from)) and np.any(unloaded & (idx > loaded_to))
    ):
        return np.zeros_like(raw), False
    t = idx / rate_hz
    phase = 2 * np.pi * vibration_hz * t
    span = max(t[-1], 1e-9)
    design = np.column_stack([np.ones_like(t), t / span, np.sin(phase), np.cos(phase)])
    coef, *_ = np.linalg.lstsq(design[unloaded], raw[unloaded], rcond=None)
    return design @ coef, True


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
    vibration_hz: float | None = None
    vibration_amplitude_N: float | None = None

    @property
    def threshold_ok(self) -> bool:
        return self.ratio >= self.min_ratio

    def to_dict(self) -> dict:
        return {**asdict(self), "threshold_ok": self.threshold_ok}

    def sentence(self) -> str:
        verdict = "clears" if self.threshold_ok else "does NOT clear"
        text = (
            f"noise floor {self.sd_N:.2f} N SD (peak-to-peak {self.peak_to_peak_N:.1f} N); "
            f"the {self.threshold_N:g} N threshold is {self.ratio:.1f} SD above the mean and "
            f"{verdict} the required {self.min_ratio:g} SD"
        )
        if self.vibration_hz is not None:
            text += (
                f"; belt vibration {self.vibration_amplitude_N:.1f} N at {self.vibration_hz:.1f} Hz"
            )
        return text


def noise_floor(
    fz_unloaded: np.ndarray,
    threshold_N: float,
    min_ratio: float = 5.0,
    rate_hz: float | None = None,
) -> NoiseFloor:
    """Noise floor from unloaded belt-running data, checked against a detection threshold; with
    ``rate_hz``, also the belt vibration (for ``ForceSettings.belt_vibration_hz``)."""
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
    vibration = (None, None) if rate_hz is None else belt_vibration(fz, rate_hz)
    return NoiseFloor(
        mean, sd, float(np.ptp(fz)), float(threshold_N), float(ratio), min_ratio, *vibration
    )


def belt_vibration(
    fz: np.ndarray,
    rate_hz: float,
    band_hz: tuple[float, float] = (5.0, 200.0),
    unloaded: np.ndarray | None = None,
) -> tuple[float | None, float | None]:
    """The strongest sinusoid in unloaded belt-running data: frequency (0.1 Hz grid, least
    squares per frequency) and amplitude, or (None, None) when no line stands out of the noise.
    ``unloaded`` selects the samples to use (e.g. the flight phases of a running trial); each
    unloaded stretch has its own mean removed, the sinusoid is common to all."""
    fz = np.asarray(fz, dtype=float)
    t_all = np.arange(fz.size) / rate_hz
    mask = np.ones(fz.size, bool) if unloaded is None else np.asarray(unloaded, bool)
    if np.count_nonzero(mask) < 20 or np.count_nonzero(mask) / rate_hz * band_hz[0] < 2:
        return None, None
    runs = np.cumsum(np.diff(np.concatenate(([False], mask))) == 1)[mask]
    x = fz[mask].copy()
    for run in np.unique(runs):
        x[runs == run] -= x[runs == run].mean()
    t = t_all[mask]
    keep = t <= t[0] + 2.0  # two seconds resolve 0.1 Hz and keep the scan cheap
    x, t = x[keep], t[keep]
    n = x.size
    top = min(band_hz[1], 0.45 * rate_hz)

    def amplitudes(freqs: np.ndarray) -> np.ndarray:
        out = np.empty(freqs.size)
        for start in range(0, freqs.size, 64):  # bounded memory: 64 frequencies at a time
            f = freqs[start : start + 64, None]
            out[start : start + 64] = 2 * np.abs(np.exp(-2j * np.pi * f * t) @ x) / n
        return out

    # coarse grid finer than the resolution of the data (1 / span), then 0.1 Hz around the best
    span = t[-1] - t[0]
    coarse = np.arange(band_hz[0], top, min(0.5, 0.25 / span))
    amps = amplitudes(coarse)
    centre = coarse[int(np.argmax(amps))]
    fine = np.arange(max(band_hz[0], centre - 1.0), min(top, centre + 1.0) + 1e-9, 0.1)
    amps = amplitudes(fine)
    best = (float(np.max(amps)), float(fine[int(np.argmax(amps))]))
    amplitude, frequency = best
    residual = float(np.std(x))
    if frequency is None or amplitude < 3 * residual * np.sqrt(2.0 / n) * 3:
        return None, None
    return round(frequency, 1), amplitude


def drift_between(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per-channel drift over a trial: mean of the unloaded period after minus before."""
    return np.mean(np.asarray(after, float), axis=0) - np.mean(np.asarray(before, float), axis=0)
