"""Turning what an acquisition delivered into a step's recorded numbers, pass/fail and flags.

One function per acquisition purpose. Technician checks are computed here from the plate record
with :mod:`analysis.plate_checks`; clinical measurements (running, the squat) are computed by the
session's analysis and only checked for completeness and protocol conformity here. Thresholds
come from the step's ``parameters`` (defaults below) and are stored with the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import plate_checks
from analysis.errors import AnalysisError
from analysis.force_settings import ForceSettings
from analysis.forceplate import PlateConfig, parse_plate
from protocols.actions import AcquisitionResult
from protocols.model import Step

# Lab defaults, overridable per step in the procedure file (parameters = { ... }).
DEFAULT_PARAMETERS: dict[str, dict[str, float]] = {
    # SCIENCE §5: the screen is read at ~60° knee flexion; outside ±10° the FPPA is not comparable.
    "single-leg-squat": {"target_knee_flexion_deg": 60.0, "knee_flexion_tolerance_deg": 10.0},
    # A warmed-up plate drifts little; more than this per minute means keep warming up.
    "warm-up": {"max_drift_N_per_min": 2.0},
    # An unloaded offset worth more than this in Fz means something was on the plate while zeroing.
    "zero": {"max_offset_force_N": 50.0},
    "noise-floor": {
        "threshold_N": plate_checks.DEFAULT_STANCE_OFF_THRESHOLD_N,
        "min_threshold_to_sd": plate_checks.DEFAULT_MIN_THRESHOLD_NOISE_RATIO,
    },
    "known-mass": {"tolerance_percent": 1.0, "gravity_m_s2": plate_checks.STANDARD_GRAVITY_M_S2},
    # COP is only defined under load (the analysis' COP threshold); a pointer push is far above.
    "cop-pointer": {"tolerance_m": 0.005, "cop_threshold_N": ForceSettings().cop_threshold_N},
    "camera-intrinsics": {"max_rms_px": 0.5, "min_images": 10},
    # SCIENCE §8: re-measure a known length left, centre and right of the field.
    "scale-plane": {"max_error_m": 0.003},
    # SCIENCE §9: ≥ 10 repetitions; |mean offset| < half a frame.
    "sync-verification": {"min_repetitions": 10},
}


@dataclass(frozen=True)
class Evaluation:
    values: dict[str, Any]
    passed: bool | None  # None: not a pass/fail measurement
    flags: tuple[str, ...]
    parameters: dict[str, float]


def parameters_for(step: Step) -> dict[str, float]:
    return {**DEFAULT_PARAMETERS.get(step.purpose, {}), **step.parameters}


def evaluate(step: Step, results: Sequence[AcquisitionResult]) -> Evaluation:
    """Evaluate all acquisitions of one step (one per placement, else one)."""
    params = parameters_for(step)
    values, passed, flags = _EVALUATORS[step.purpose](step, results, params)
    durations = [r.duration_s for r in results]
    values = {"duration_s": float(sum(durations)), **values}
    if any(r.stopped_early for r in results):
        flags = (*flags, "stopped_early")
    if step.min_duration_s is not None and sum(durations) < step.min_duration_s:
        flags = (*flags, "shorter_than_minimum")
    return Evaluation(values, passed, tuple(flags), params)


def _need(step: Step, result: AcquisitionResult, what: str) -> np.ndarray:
    array = getattr(result, what)
    if array is None:
        raise AnalysisError(
            f"the acquisition delivered no {what}",
            subject=f"step '{step.id}' ({step.purpose})",
            remedy="The session controller must return the plate record for technician checks.",
        )
    return np.asarray(array, dtype=float)


def _need_value(step: Step, result: AcquisitionResult, key: str) -> Any:
    if key not in result.values:
        raise AnalysisError(
            f"the acquisition delivered no '{key}'",
            subject=f"step '{step.id}' ({step.purpose})",
            remedy="Repeat the acquisition; if it recurs, report it with the session file.",
        )
    return result.values[key]


def _scalars(values: dict[str, Any]) -> dict[str, Any]:
    """Keep plain numbers, strings and short lists (the session file holds the arrays)."""
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool | int | float | str) or value is None:
            kept[key] = value
        elif isinstance(value, list | tuple) and len(value) <= 1000:
            kept[key] = [float(v) if isinstance(v, int | float) else v for v in value]
        elif hasattr(value, "tolist") and np.size(value) <= 1000:
            kept[key] = value.tolist()
    return kept


def _running(step, results, params):
    result = results[0]
    values = {"start_s": result.start_s, "end_s": result.end_s, **_scalars(result.values)}
    return values, None, ()


def _squat(step, results, params):
    result = results[0]
    values = {"side": step.side, **_scalars(result.values)}
    flags = [f"missing_{k}" for k in ("fppa_deg", "knee_medial_displacement_m", "knee_flexion_deg")]
    flags = [f for f in flags if f.removeprefix("missing_") not in result.values]
    depth = result.values.get("knee_flexion_deg")
    if isinstance(depth, int | float):
        target = params["target_knee_flexion_deg"]
        if abs(depth - target) > params["knee_flexion_tolerance_deg"]:
            flags.append("depth_not_at_target")
    return values, None, tuple(flags)


def _plate(step: Step, result: AcquisitionResult, zeroed: bool = True) -> PlateConfig:
    """The plate as configured when it was recorded (``zeroed=False``: with no offsets)."""
    if not result.plate:
        raise AnalysisError(
            "the acquisition delivered no plate configuration",
            subject=f"step '{step.id}' ({step.purpose})",
            remedy="The session controller must return the plate's [[plates]] table.",
        )
    raw = dict(result.plate)
    if not zeroed:
        raw["offsets_V"] = [0.0] * len(raw.get("channels", ()))
    return parse_plate(raw, subject=f"step '{step.id}': plate '{raw.get('name', '?')}'")


def _lab_wrench(step: Step, result: AcquisitionResult) -> np.ndarray:
    """Force and moment about the surface point, lab axes (analysis.forceplate)."""
    return _plate(step, result).lab_wrench(_need(step, result, "volts"))


def _warm_up(step, results, params):
    result = results[0]
    fz = _lab_wrench(step, result)[:, 2]
    stats = plate_checks.zeroing_statistics(fz, result.rate_hz or 0.0)
    drift = stats.drift_V_per_s[0] * 60.0  # the "V" of a force record is N
    values = {"fz_drift_N_per_min": drift, "fz_sd_N": stats.noise_sd_V[0]}
    return values, bool(abs(drift) <= params["max_drift_N_per_min"]), ()


def _zero(step, results, params):
    result = results[0]
    stats = plate_checks.zeroing_statistics(_need(step, result, "volts"), result.rate_hz or 0.0)
    # What the new offsets would read as force on an unzeroed plate: large = plate was loaded.
    offset_wrench = _plate(step, result, zeroed=False).lab_wrench(np.array([stats.offsets_V]))[0]
    values: dict[str, Any] = {
        "offsets_V": list(stats.offsets_V),
        "noise_sd_V": list(stats.noise_sd_V),
        "drift_V_per_s": list(stats.drift_V_per_s),
        "max_abs_offset_V": float(np.max(np.abs(stats.offsets_V))),
        "offset_force_N_Nm": offset_wrench.tolist(),
    }
    return values, bool(abs(offset_wrench[2]) <= params["max_offset_force_N"]), ()


def _noise_floor(step, results, params):
    fz = _lab_wrench(step, results[0])[:, 2]
    floor = plate_checks.noise_floor_check(fz, params["threshold_N"], params["min_threshold_to_sd"])
    return floor.to_dict(), floor.passed, ()


def _static_wrenches(step, results) -> np.ndarray:
    """Mean lab wrench of the middle of each static placement."""
    return np.array([plate_checks.static_load(_lab_wrench(step, r))[0] for r in results])


def _known_mass(step, results, params):
    means = _static_wrenches(step, results)
    check = plate_checks.known_mass_check(
        means[:, 2],
        [p.mass_kg for p in step.placements],
        [p.label for p in step.placements],
        params["tolerance_percent"],
        params["gravity_m_s2"],
    )
    return check.to_dict(), check.passed, tuple(f"failed_{label}" for label in check.failing)


def _cop_pointer(step, results, params):
    means = _static_wrenches(step, results)
    cop, _ = _plate(step, results[0]).cop_and_free_moment(means, params["cop_threshold_N"])
    check = plate_checks.cop_pointer_check(
        cop[:, :2],
        [p.position_m for p in step.placements],
        [p.label for p in step.placements],
        params["tolerance_m"],
    )
    values = {**check.to_dict(), "measured_xy_m": cop[:, :2].tolist()}
    return values, check.passed, tuple(f"failed_{label}" for label in check.failing)


def _intrinsics(step, results, params):
    result = results[0]
    rms = float(_need_value(step, result, "rms_reprojection_px"))
    images = int(_need_value(step, result, "n_images"))
    values = {**_scalars(result.values), "rms_reprojection_px": rms, "n_images": images}
    return values, bool(rms <= params["max_rms_px"] and images >= params["min_images"]), ()


def _scale_plane(step, results, params):
    result = results[0]
    errors = np.asarray(_need_value(step, result, "length_errors_m"), dtype=float).ravel()
    if errors.size == 0 or not np.all(np.isfinite(errors)):
        raise AnalysisError(
            "has no finite known-length errors", subject=f"step '{step.id}' (scale-plane)"
        )
    max_error = float(np.max(np.abs(errors)))
    values = {**_scalars(result.values), "max_error_m": max_error}
    return values, bool(max_error <= params["max_error_m"]), ()


def _sync(step, results, params):
    result = results[0]
    offsets = np.asarray(_need_value(step, result, "offsets_s"), dtype=float).ravel()
    offsets = offsets[np.isfinite(offsets)]
    rate = float(_need_value(step, result, "frame_rate_hz"))
    if len(offsets) < 2 or not rate > 0:
        raise AnalysisError(
            f"has {len(offsets)} usable events at {rate:g} fps",
            subject=f"step '{step.id}' (sync-verification)",
            remedy=f"Repeat the LED or tap at least {params['min_repetitions']:g} times.",
        )
    limit = 0.5 / rate
    mean = float(offsets.mean())
    values = {
        "n": len(offsets),
        "mean_s": mean,
        "sd_s": float(offsets.std(ddof=1)),
        "max_abs_s": float(np.max(np.abs(offsets))),
        "limit_s": limit,
        "frame_rate_hz": rate,
        "method": str(result.values.get("method", "")),
    }
    enough = len(offsets) >= params["min_repetitions"]
    flags = () if enough else ("too_few_repetitions",)
    return values, bool(enough and abs(mean) < limit), flags


Evaluator = Callable[[Step, Sequence[AcquisitionResult], dict[str, float]], tuple]
_EVALUATORS: dict[str, Evaluator] = {
    "running": _running,
    "single-leg-squat": _squat,
    "warm-up": _warm_up,
    "zero": _zero,
    "noise-floor": _noise_floor,
    "known-mass": _known_mass,
    "cop-pointer": _cop_pointer,
    "camera-intrinsics": _intrinsics,
    "scale-plane": _scale_plane,
    "sync-verification": _sync,
}
