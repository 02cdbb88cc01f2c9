"""Clipped (saturated) force channels, found per stance on each plate channel's raw signal.

When the DAQ or amplifier range is too small for the runner, a channel sits flat at full scale
through the peaks and every number derived from it (peak force, loading rates, COP) is wrong
without looking wrong. Two rules, applied to the loaded samples of each stance (raw Fz above the
on threshold, so the exact zeros some labs write outside contact are never a "plateau"):

- **range** (when ``ForceSettings.saturation_range_V`` is known): a sample within
  ``saturation_margin_V`` of either range limit is saturated;
- **plateau** (always): ``saturation_min_run`` or more consecutive samples equal to the
  channel's extreme in the stance. An ADC clips to one code; measurement noise does not repeat
  the extreme value for several samples (checked on the simulated lab and the real C3D files in
  the tests).

The signals are recovered from the stance's raw lab wrench window (the same samples in the live
and offline analyses, so both flag the same stances): a six-channel plate's calibration is
inverted back to its channel volts; a Kistler plate's eight amplifier channels cannot be
recovered from a six-component wrench, so its plate-frame Fx, Fy, Fz are checked with the
plateau rule only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.forceplate import PlateConfig

SATURATED = "saturated_channel"
# Equality "to the extreme" allows for the round-off of inverting the calibration (about 1e-14 of
# full scale); a noise sample this close to the extreme is a 1-in-1e9 event.
RELATIVE_TOLERANCE = 1e-9
KISTLER_FORCE_NAMES = ("Fx", "Fy", "Fz")


@dataclass(frozen=True)
class ChannelSignals:
    """The per-channel signals of one window and whether they are volts (range rule applies)."""

    names: tuple[str, ...]
    values: np.ndarray  # (samples, channels)
    volts: bool


def channel_signals(plate: PlateConfig, lab_wrench: np.ndarray) -> ChannelSignals:
    """The raw signals behind a window of ``plate``'s lab wrench (inverse of
    :meth:`PlateConfig.lab_wrench`)."""
    w = np.asarray(lab_wrench, dtype=float)
    rotation_inverse = plate.rotation.T  # a proper rotation (checked when the plate is parsed)
    force = w[:, :3] @ rotation_inverse.T
    moment = w[:, 3:] @ rotation_inverse.T
    zs = plate.z_surface_m
    moment[:, 0] -= zs * force[:, 1]
    moment[:, 1] += zs * force[:, 0]
    if plate.type != "six-channel":
        names = tuple(f"{plate.name} plate-frame {n}" for n in KISTLER_FORCE_NAMES)
        return ChannelSignals(names, force, volts=False)
    plate_wrench = np.hstack([force, moment])
    volts = np.linalg.solve(plate.matrix, plate_wrench.T).T * plate.amplifier_gains
    return ChannelSignals(tuple(plate.channels), volts + plate.offsets_V, volts=True)


def saturated_channels(
    plate: PlateConfig,
    lab_wrench: np.ndarray,
    loaded_from: int,
    loaded_to: int,
    *,
    on_threshold_N: float,
    min_run: int,
    range_V: tuple[float, float] | None = None,
    margin_V: float = 0.0,
) -> tuple[str, ...]:
    """Names of the channels clipped in the loaded part ``[loaded_from, loaded_to)`` of a raw
    lab wrench window (in channel order)."""
    lo, hi = max(loaded_from, 0), min(loaded_to, lab_wrench.shape[0])
    if hi - lo < 1:
        return ()
    segment = np.asarray(lab_wrench[lo:hi], dtype=float)
    loaded = segment[:, 2] >= on_threshold_N
    if not loaded.any():
        return ()
    signals = channel_signals(plate, segment)
    out = []
    for k, name in enumerate(signals.names):
        x = signals.values[:, k]
        if (
            signals.volts and range_V is not None and _at_range(x[loaded], range_V, margin_V)
        ) or _clipped_plateau(x, loaded, min_run):
            out.append(name)
    return tuple(out)


def _at_range(x: np.ndarray, range_V: tuple[float, float], margin_V: float) -> bool:
    return bool(np.any(x >= range_V[1] - margin_V) or np.any(x <= range_V[0] + margin_V))


def _clipped_plateau(x: np.ndarray, loaded: np.ndarray, min_run: int) -> bool:
    """A run of ``min_run`` loaded samples at the loaded samples' maximum or minimum."""
    values = x[loaded]
    tolerance = RELATIVE_TOLERANCE * max(float(np.max(np.abs(values))), 1e-12)
    if np.max(values) - np.min(values) <= tolerance:
        return False  # a constant (unused or exactly zero) channel carries no peak to clip
    for extreme in (np.max(values), np.min(values)):
        if longest_run(loaded & (np.abs(x - extreme) <= tolerance)) >= min_run:
            return True
    return False


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(np.max(stops - starts))
