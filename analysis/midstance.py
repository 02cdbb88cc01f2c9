"""Midstance instants from force (SCIENCE.md §3): M3 peak vGRF, M4 braking→propulsion, M5 half.

All take a filtered window and the fractional indices of contact and toe-off in it, and return a
fractional index into the same window (or None with a reason) so the caller converts to seconds.
M1 and M2 need video and live in the vision analysis.
"""

from __future__ import annotations

import numpy as np


def peak_vgrf_index(fz: np.ndarray, contact: float, toe_off: float, half_width: int = 1) -> float:
    """M3: the active (highest) peak of Fz in stance, refined by the vertex of a least-squares
    parabola over ``±half_width`` samples (the active peak is flat, so a wide fit resists noise
    and belt vibration better than the single highest sample)."""
    first, last = int(np.ceil(contact)), int(np.floor(toe_off))
    k = first + int(np.argmax(fz[first : last + 1]))
    lo, hi = max(first, k - half_width), min(last, k + half_width)
    if hi - lo >= 2:
        x = np.arange(lo, hi + 1) - k
        a, b, _ = np.polyfit(x, fz[lo : hi + 1], 2)
        if a < 0:
            vertex = -b / (2 * a)
            if x[0] <= vertex <= x[-1]:
                return k + float(vertex)
    return float(k)


def braking_to_propulsion_index(
    fx: np.ndarray, contact: float, toe_off: float
) -> tuple[float | None, str]:
    """M4: the minimum of the cumulative anterior–posterior impulse from contact, refined to the
    interpolated zero crossing of Fx there. Returns (index, "") or (None, reason)."""
    first, last = int(np.ceil(contact)), int(np.floor(toe_off))
    segment = fx[first : last + 1]
    if segment.size < 3:
        return None, "ap_stance_too_short"
    k = int(np.argmin(np.cumsum(segment)))
    if k == 0 and segment[0] >= 0:
        return None, "ap_no_braking"
    if k >= segment.size - 1:
        return None, "ap_no_propulsion"
    a, b = segment[k], segment[k + 1]
    if b == a:
        return float(first + k), ""
    return first + k + float(-a / (b - a)), ""


def half_stance_index(contact: float, toe_off: float) -> float:
    """M5: 50 % of stance time."""
    return 0.5 * (contact + toe_off)
