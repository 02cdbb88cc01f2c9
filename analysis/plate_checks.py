"""The technician's force-plate checks as pure functions on arrays (SCIENCE §2 and §7).

Zeroing statistics of an unloaded record, the noise floor with the belt running against the
stance thresholds, the known-mass check (catches a wrong calibration-matrix gain) and the COP
pointer check (catches a COP bias from a wrong origin, surface height or matrix). Each result is
a dataclass with ``to_dict()`` carrying the settings that produced it, so it can be written to the
calibration log and trended.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.drift import noise_floor as _noise_floor_of
from analysis.drift import unloaded_offsets
from analysis.errors import AnalysisError, InputError
from analysis.force_settings import ForceSettings

STANDARD_GRAVITY_M_S2 = 9.80665
# SCIENCE §7: at least eight placements of at least 200 N each.
MIN_KNOWN_MASS_PLACEMENTS = 8
MIN_KNOWN_MASS_LOAD_N = 200.0
# SCIENCE §2: the stance off-threshold (contact and toe-off are reported at its crossings), as
# the gait-event analysis uses it by default.
DEFAULT_STANCE_OFF_THRESHOLD_N = ForceSettings().threshold_off_N
# The off-threshold must be "several noise SDs" above the floor; 5 SD makes a false crossing on
# Gaussian noise a ~3e-7 per-sample event.
DEFAULT_MIN_THRESHOLD_NOISE_RATIO = 5.0


def _as_samples(values: Any, name: str, columns: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1 and columns in (None, 1):
        array = array[:, None]
    if array.ndim != 2 or (columns is not None and array.shape[1] != columns):
        shape = f"(n, {columns})" if columns else "(n, channels)"
        raise InputError(f"must be an array of shape {shape}, not {array.shape}", subject=name)
    if array.shape[0] < 2:
        raise AnalysisError(
            f"has {array.shape[0]} samples; at least 2 are needed",
            subject=name,
            remedy="Record for longer.",
        )
    if not np.all(np.isfinite(array)):
        raise AnalysisError(
            "contains NaN or infinite samples",
            subject=name,
            remedy="Check the DAQ channels and record again.",
        )
    return array


@dataclass(frozen=True)
class ZeroingStats:
    """The unloaded offset V0 of every channel, its noise and its drift over the record."""

    offsets_V: tuple[float, ...]
    noise_sd_V: tuple[float, ...]
    drift_V_per_s: tuple[float, ...]
    n_samples: int
    duration_s: float
    rate_hz: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def zeroing_statistics(volts: Any, rate_hz: float) -> ZeroingStats:
    """V0 = the mean of an unloaded, belt-stopped record; drift = least-squares slope per channel.

    The drift tells whether the plate has warmed up (SCIENCE §7: Bertec ≥ 5 min).
    """
    samples = _as_samples(volts, "unloaded record")
    if not rate_hz > 0:
        raise InputError(f"must be positive, not {rate_hz!r}", subject="rate_hz")
    n = samples.shape[0]
    t = np.arange(n) / rate_hz
    centred_t = t - t.mean()
    slope = centred_t @ (samples - samples.mean(axis=0)) / float(centred_t @ centred_t)
    return ZeroingStats(
        offsets_V=tuple(float(v) for v in unloaded_offsets(samples)),
        noise_sd_V=tuple(float(v) for v in samples.std(axis=0, ddof=1)),
        drift_V_per_s=tuple(float(v) for v in slope),
        n_samples=n,
        duration_s=n / rate_hz,
        rate_hz=float(rate_hz),
    )


@dataclass(frozen=True)
class NoiseFloorCheck:
    """Unloaded vertical force with the belt running, judged against the stance off-threshold
    (the floor itself is :func:`analysis.drift.noise_floor`)."""

    mean_N: float
    sd_N: float
    peak_to_peak_N: float
    threshold_N: float
    threshold_to_sd: float
    min_threshold_to_sd: float
    samples_above_threshold: int
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def noise_floor_check(
    fz_N: Any,
    threshold_N: float = DEFAULT_STANCE_OFF_THRESHOLD_N,
    min_threshold_to_sd: float = DEFAULT_MIN_THRESHOLD_NOISE_RATIO,
) -> NoiseFloorCheck:
    """Passes when the threshold is ≥ ``min_threshold_to_sd`` noise SDs above the unloaded mean
    and no unloaded sample reaches it (a sample that does would start a false stance)."""
    fz = _as_samples(fz_N, "unloaded Fz", columns=1)[:, 0]
    floor = _noise_floor_of(fz, threshold_N, min_threshold_to_sd)
    above = int(np.count_nonzero(np.abs(fz) >= threshold_N))
    return NoiseFloorCheck(
        mean_N=floor.mean_N,
        sd_N=floor.sd_N,
        peak_to_peak_N=floor.peak_to_peak_N,
        threshold_N=floor.threshold_N,
        threshold_to_sd=floor.ratio,
        min_threshold_to_sd=float(min_threshold_to_sd),
        samples_above_threshold=above,
        passed=bool(floor.threshold_ok and above == 0),
    )


def static_load(forces: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of each column over the middle half of a static record.

    The first and last quarters hold the placing and lifting of the mass (or pointer).
    """
    samples = _as_samples(forces, "static record")
    n = samples.shape[0]
    middle = samples[n // 4 : n - n // 4] if n >= 8 else samples
    return middle.mean(axis=0), middle.std(axis=0, ddof=1)


@dataclass(frozen=True)
class KnownMassCheck:
    """Measured vertical force against m·g at every placement, and the gain it implies."""

    labels: tuple[str, ...]
    expected_N: tuple[float, ...]
    measured_N: tuple[float, ...]
    error_N: tuple[float, ...]
    error_percent: tuple[float, ...]
    max_abs_error_percent: float
    gain: float  # least-squares measured/expected through the origin; 1 for a right matrix
    tolerance_percent: float
    failing: tuple[str, ...]
    passed: bool
    gravity_m_s2: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def known_mass_check(
    measured_fz_N: Any,
    masses_kg: Any,
    labels: Any = None,
    tolerance_percent: float = 1.0,
    gravity_m_s2: float = STANDARD_GRAVITY_M_S2,
) -> KnownMassCheck:
    """Compare each placement's static Fz with m·g; pass when every error is within tolerance.

    ``gravity_m_s2`` should be the local value where the lab knows it (it varies by ±0.3 %).
    """
    measured = np.asarray(measured_fz_N, dtype=float).ravel()
    masses = np.asarray(masses_kg, dtype=float).ravel()
    names = (
        tuple(str(x) for x in labels)
        if labels is not None
        else tuple(f"placement {i + 1}" for i in range(len(measured)))
    )
    if not (len(measured) == len(masses) == len(names)):
        raise InputError(
            f"{len(measured)} measurements, {len(masses)} masses and {len(names)} labels differ",
            subject="known-mass check",
        )
    if len(measured) < MIN_KNOWN_MASS_PLACEMENTS:
        raise InputError(
            f"has {len(measured)} placements; at least {MIN_KNOWN_MASS_PLACEMENTS} are needed",
            subject="known-mass check",
            remedy="Load the centre and every quadrant (SCIENCE §7).",
        )
    if not (np.all(np.isfinite(measured)) and np.all(np.isfinite(masses))):
        raise AnalysisError("a placement has no finite force or mass", subject="known-mass check")
    expected = masses * gravity_m_s2
    light = [n for n, e in zip(names, expected, strict=True) if e < MIN_KNOWN_MASS_LOAD_N]
    if light:
        raise InputError(
            f"placements below {MIN_KNOWN_MASS_LOAD_N:g} N: {', '.join(light)}",
            subject="known-mass check",
            remedy="Use at least 20.4 kg per placement.",
        )
    error = measured - expected
    percent = 100.0 * error / expected
    failing = tuple(n for n, p in zip(names, percent, strict=True) if abs(p) > tolerance_percent)
    return KnownMassCheck(
        labels=names,
        expected_N=tuple(float(v) for v in expected),
        measured_N=tuple(float(v) for v in measured),
        error_N=tuple(float(v) for v in error),
        error_percent=tuple(float(v) for v in percent),
        max_abs_error_percent=float(np.max(np.abs(percent))),
        gain=float(measured @ expected / (expected @ expected)),
        tolerance_percent=float(tolerance_percent),
        failing=failing,
        passed=not failing,
        gravity_m_s2=float(gravity_m_s2),
    )


@dataclass(frozen=True)
class CopPointerCheck:
    """Measured COP against the marked positions (horizontal lab plane)."""

    labels: tuple[str, ...]
    error_m: tuple[float, ...]  # horizontal distance per position
    rms_error_m: float
    max_error_m: float
    mean_bias_m: tuple[float, float]  # mean (x, y) of measured − marked: a systematic offset
    tolerance_m: float
    failing: tuple[str, ...]
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cop_pointer_check(
    measured_xy_m: Any, target_xy_m: Any, labels: Any = None, tolerance_m: float = 0.005
) -> CopPointerCheck:
    """RMS and maximum horizontal COP error over the marked positions; pass when max ≤ tolerance."""
    measured = np.asarray(measured_xy_m, dtype=float)
    target = np.asarray(target_xy_m, dtype=float)
    if measured.ndim != 2 or measured.shape[1] < 2 or measured.shape[:1] != target.shape[:1]:
        raise InputError(
            f"measured {measured.shape} and marked {target.shape} positions do not match",
            subject="COP pointer check",
        )
    if len(measured) < 1:
        raise InputError("has no positions", subject="COP pointer check")
    names = (
        tuple(str(x) for x in labels)
        if labels is not None
        else tuple(f"position {i + 1}" for i in range(len(measured)))
    )
    delta = measured[:, :2] - target[:, :2]
    if not np.all(np.isfinite(delta)):
        raise AnalysisError(
            "a position has no COP (force below the COP threshold)",
            subject="COP pointer check",
            remedy="Push harder on the pointer (above 50 N) and repeat that position.",
        )
    error = np.hypot(delta[:, 0], delta[:, 1])
    failing = tuple(n for n, e in zip(names, error, strict=True) if e > tolerance_m)
    bias = delta.mean(axis=0)
    return CopPointerCheck(
        labels=names,
        error_m=tuple(float(e) for e in error),
        rms_error_m=float(np.sqrt(np.mean(error**2))),
        max_error_m=float(error.max()),
        mean_bias_m=(float(bias[0]), float(bias[1])),
        tolerance_m=float(tolerance_m),
        failing=failing,
        passed=not failing,
    )
