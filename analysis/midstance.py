"""Midstance instants from force (SCIENCE.md §3): M3 peak vGRF, M4 braking→propulsion, M5 half.

All take a filtered window and the fractional indices of contact and toe-off in it, and return a
fractional index into the same window (or None with a reason) so the caller converts to seconds.
M1 and M2 need video and live in the vision analysis.
"""

from __future__ import annotations

import numpy as np


def peak_vgrf_index(fz: np.ndarray, contact: float, toe_off: float) -> float:
    """M3: the active (highest) peak of Fz in stance, refined by a three-point parabola."""
    first, last = int(np.ceil(contact)), int(np.floor(toe_off))
    k = first + int(np.argmax(fz[first : last + 1]))
    if first < k < last:
        a, b, c = fz[k - 1], fz[k], fz[k + 1]
        denom = a - 2 * b + c
        if denom < 0:
            return k + 0.5 * float(a - c) / float(denom)
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
