"""Sagittal and posterior angles and distances from plane coordinates (SCIENCE §5, §6).

Every function takes plane coordinates from :mod:`analysis.plane_calibration` — ``a`` forward
(sagittal) or toward the runner's left (posterior), ``b`` up, metres — as arrays of shape (2,) or
(n, 2), so the sign conventions do not depend on which way a camera looks. NaN in, NaN out.
"""

from __future__ import annotations

import numpy as np

from analysis.errors import InputError


def _xy(p) -> np.ndarray:
    return np.asarray(p, dtype=float)


def _signed_angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle from vector u to v, counter-clockwise positive in (a, b), degrees."""
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    dot = (u * v).sum(axis=-1)
    return np.degrees(np.arctan2(cross, dot))


def hip_ankle_m(hip, ankle) -> np.ndarray:
    """``d = x_ankle − x_hip`` along the running direction (positive: ankle ahead of the hip)."""
    return _xy(ankle)[..., 0] - _xy(hip)[..., 0]


def knee_flexion_deg(hip, knee, ankle) -> np.ndarray:
    """Sagittal knee flexion: 0 for a straight leg, positive when the shank folds back behind
    the thigh line (negative = hyperextension)."""
    thigh = _xy(knee) - _xy(hip)
    shank = _xy(ankle) - _xy(knee)
    return -_signed_angle_deg(thigh, shank)


def shank_angle_deg(knee, ankle) -> np.ndarray:
    """Shank (tibia) angle to the vertical, positive when the ankle is ahead of the knee
    (the leg reaching forward, as in overstriding); negative when the shank leans forward."""
    k, a = _xy(knee), _xy(ankle)
    return np.degrees(np.arctan2(a[..., 0] - k[..., 0], k[..., 1] - a[..., 1]))


def trunk_lean_deg(shoulder, hip) -> np.ndarray:
    """Trunk (hip → shoulder) angle to the vertical, positive leaning forward."""
    s, h = _xy(shoulder), _xy(hip)
    return np.degrees(np.arctan2(s[..., 0] - h[..., 0], s[..., 1] - h[..., 1]))


def _medial_sign(side: str) -> float:
    """Posterior ``a`` points to the runner's left: the midline is −a for the left leg."""
    if side not in ("L", "R"):
        raise InputError(f"side {side!r} is not L or R", subject="FPPA", remedy="use 'L' or 'R'")
    return -1.0 if side == "L" else 1.0


def knee_medial_offset_m(proximal, knee, ankle, side: str) -> np.ndarray:
    """Signed distance of the knee from the proximal–ankle line, positive toward the midline."""
    p, k, a = _xy(proximal), _xy(knee), _xy(ankle)
    d = a - p
    length = np.hypot(d[..., 0], d[..., 1])
    # unit normal to the line, turned toward the midline
    n = np.stack([-d[..., 1], d[..., 0]], axis=-1) / length[..., None]
    flip = np.sign(n[..., 0] * _medial_sign(side))
    flip = np.where(flip == 0, 1.0, flip)
    return ((k - p) * n).sum(axis=-1) * flip


def fppa_deg(proximal, knee, ankle, side: str) -> np.ndarray:
    """Frontal-plane projection angle: the angle between thigh (proximal → knee) and shank
    (knee → ankle), 0 for a straight leg, positive = valgus (knee medial of the proximal–ankle
    line) for either leg — the view-independent sign of SCIENCE §5."""
    p, k, a = _xy(proximal), _xy(knee), _xy(ankle)
    unsigned = np.abs(_signed_angle_deg(k - p, a - k))
    return np.sign(knee_medial_offset_m(p, k, a, side)) * unsigned


def pelvic_drop_deg(left_pelvis, right_pelvis, stance_side: str) -> np.ndarray:
    """Contralateral pelvic drop: the pelvis line's angle to the horizontal, positive when the
    side opposite the stance leg is lower."""
    left, right = _xy(left_pelvis), _xy(right_pelvis)
    if stance_side not in ("L", "R"):
        raise InputError(
            f"stance side {stance_side!r} is not L or R", subject="pelvic drop", remedy="use L/R"
        )
    stance, swing = (left, right) if stance_side == "L" else (right, left)
    width = np.abs(left[..., 0] - right[..., 0])
    return np.degrees(np.arctan2(stance[..., 1] - swing[..., 1], width))
