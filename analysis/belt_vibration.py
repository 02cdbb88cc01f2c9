"""Belt vibration measured in the flight phases just before a stance (docs/force-analysis.md).

A running treadmill shakes its plate at a roller/motor frequency. During flight the vertical force
must be zero, so whatever a plate reads then is offset, drift, white noise and that vibration.
Near toe-off the force falls by only a few newtons per sample, so a few newtons of vibration
move the off-threshold crossing by a sample or two: the vibration has to be removed, and to
remove it its frequency must be known.

:func:`vibration_before` measures it from the raw vertical force of a fixed stretch of samples
that ends where a stance's analysis window ends. The streaming and the offline analysis give it
exactly the same samples, so they make the same estimate (live = offline). It reports a line
only when it clearly stands out of the noise around it in frequency (false-alarm probability
below ~1e-7 per estimate for Gaussian noise, white or coloured), so a quiet plate is never
"corrected" for a vibration it does not have.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import binary_erosion

# The strongest line's periodogram must exceed this many times the mean periodogram of the noise
# around it (estimated from the median within ±NEIGHBOURHOOD_HZ, so coloured noise, e.g. a
# plate whose noise rises towards Nyquist, is judged against its own level there). Noise
# periodogram values are exponentially distributed: P(value > 25·mean) = exp(-25), so over
# the ~2 000 frequencies scanned a false alarm is below 1e-7. For white noise of SD s over n
# samples this is an amplitude above 10·s/√n.
DETECTION_POWER_RATIO = 25.0
NEIGHBOURHOOD_HZ = 10.0
BAND_HZ = (5.0, 200.0)
MIN_UNLOADED_S = 0.10  # four periods of a 40 Hz line; less resolves no frequency worth trusting
GUARD_S = 0.010  # the foot's own first and last newtons are not flight


@dataclass(frozen=True)
class VibrationEstimate:
    """A belt vibration line found in unloaded samples: frequency (Hz, 0.01 Hz grid), amplitude
    (N) and the noise SD left after removing it, from ``unloaded_samples`` flight samples."""

    frequency_hz: float
    amplitude_N: float
    noise_sd_N: float
    unloaded_samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def unloaded_mask(fz: np.ndarray, off_N: float, guard: int) -> np.ndarray:
    """Samples below ``off_N`` at least ``guard`` samples away from any sample at or above it
    (decided from ``fz`` alone, so the same stretch always gives the same mask)."""
    below = np.asarray(fz) < off_N
    if guard < 1:
        return below
    return binary_erosion(below, structure=np.ones(2 * guard + 1, bool), border_value=1)


def strongest_line(
    x: np.ndarray, mask: np.ndarray, rate_hz: float, band_hz: tuple[float, float] = BAND_HZ
) -> VibrationEstimate | None:
    """The strongest sinusoid common to the unloaded stretches of ``x`` (each stretch has its
    own mean removed first), or None when it does not clearly stand out of the noise."""
    x = np.asarray(x, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    n = int(np.count_nonzero(mask))
    if n / rate_hz < MIN_UNLOADED_S:
        return None
    runs = np.cumsum(np.diff(np.concatenate(([False], mask))) == 1)
    values = np.zeros_like(x)
    sums = np.bincount(runs[mask], weights=x[mask])
    counts = np.bincount(runs[mask])
    values[mask] = x[mask] - (sums / np.maximum(counts, 1))[runs[mask]]
    top = min(band_hz[1], 0.45 * rate_hz)
    # coarse: zero-padded FFT of the gated signal (gaps are zeros), 4x finer than 1 / span
    size = 1 << int(np.ceil(np.log2(4 * x.size)))
    spectrum = np.abs(np.fft.rfft(values, size))
    freqs = np.fft.rfftfreq(size, 1.0 / rate_hz)
    band = (freqs >= band_hz[0]) & (freqs <= top)
    if not band.any():
        return None
    centre = float(freqs[band][int(np.argmax(spectrum[band]))])
    # fine: least-squares amplitude on the unloaded samples, 0.01 Hz grid around the peak
    t = np.flatnonzero(mask) / rate_hz
    v = values[mask]
    step = rate_hz / size
    fine = np.round(np.arange(centre - step, centre + step + 1e-9, 0.01), 2)
    best = float(fine[int(np.argmax(_amplitudes(t, v, fine)))])
    amplitude, fitted = _fit(t, v, best)
    residual = np.zeros_like(values)
    residual[mask] = v - fitted
    if not _stands_out(amplitude, n, residual, size=size, rate_hz=rate_hz, hz=best):
        return None
    noise_sd = float(np.std(v - fitted))
    return VibrationEstimate(float(best), amplitude, noise_sd, n)


def _stands_out(
    amplitude: float, n: int, residual: np.ndarray, *, size: int, rate_hz: float, hz: float
) -> bool:
    """Whether a line of ``amplitude`` over ``n`` samples has a periodogram (A·n/2)² above
    DETECTION_POWER_RATIO times the mean periodogram of what is left once it is removed, within
    ±NEIGHBOURHOOD_HZ (mean = median / ln 2 for exponentially distributed values)."""
    power = np.abs(np.fft.rfft(residual, size)) ** 2
    freqs = np.fft.rfftfreq(size, 1.0 / rate_hz)
    # not below the band: removing each flight's mean empties the lowest frequencies
    around = (np.abs(freqs - hz) <= NEIGHBOURHOOD_HZ) & (freqs >= BAND_HZ[0])
    noise_mean = float(np.median(power[around])) / np.log(2.0)
    return bool((amplitude * n / 2.0) ** 2 > DETECTION_POWER_RATIO * noise_mean)


def _amplitudes(t: np.ndarray, v: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Least-squares sinusoid amplitude at each frequency (2×2 normal equations, vectorised)."""
    phase = 2 * np.pi * freqs[:, None] * t[None, :]
    s, c = np.sin(phase), np.cos(phase)
    ss, cc, sc = (s * s).sum(1), (c * c).sum(1), (s * c).sum(1)
    sv, cv = s @ v, c @ v
    det = ss * cc - sc * sc
    a = (cc * sv - sc * cv) / det
    b = (ss * cv - sc * sv) / det
    return np.hypot(a, b)


def _fit(t: np.ndarray, v: np.ndarray, frequency: float) -> tuple[float, np.ndarray]:
    phase = 2 * np.pi * frequency * t
    design = np.column_stack([np.sin(phase), np.cos(phase)])
    coef, *_ = np.linalg.lstsq(design, v, rcond=None)
    return float(np.hypot(*coef)), design @ coef


def vibration_before(
    fz: np.ndarray, rate_hz: float, off_N: float, guard_s: float = GUARD_S
) -> VibrationEstimate | None:
    """The belt vibration in the flight phases of the raw vertical force ``fz`` (a stretch that
    ends where a stance's analysis window ends), or None when none clearly stands out."""
    fz = np.asarray(fz, dtype=float)
    mask = unloaded_mask(fz, off_N, round(guard_s * rate_hz))
    return strongest_line(fz, mask, rate_hz)
