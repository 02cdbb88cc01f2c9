"""The simulated treadmill plates: a realistic 6×6 calibration with cross-talk, mounted rotated.

Each plate's calibrated output is ``[Fx Fy Fz Mx My Mz] = C · (V − V0)`` in the plate's own axes
(docs/architecture.md "Force plates"); the plate is mounted rotated 180° about z, so plate x and y
point backward and right in the lab. The simulator goes the other way: lab forces → plate axes →
``V = C⁻¹ · F + V0``. The matrices are fixed (not seeded), like a plate's calibration sheet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Z_SURFACE_M = 0.045  # belt + deck above the transducer origin
ROTATION = np.array([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])  # plate → lab
GAINS = np.array([500.0, 500.0, 1000.0, 400.0, 300.0, 150.0])  # N/V and N·m/V on the diagonal
LENGTH_M, WIDTH_M = 1.6, 0.5  # working surface of a single belt; each split belt is half as wide
SPLIT_BELT_Y_M = 0.13  # split belts' centre lines at ±0.13 m (left at +y)
BELT_SPEED_SCALE = 2.0  # (m/s)/V on the belt-speed channel


def _calibration(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    crosstalk = rng.uniform(-0.015, 0.015, (6, 6))
    np.fill_diagonal(crosstalk, 0.0)
    matrix = np.diag(GAINS) + crosstalk * GAINS[:, None]
    offsets = rng.uniform(-0.06, 0.06, 6)
    return matrix, offsets


def plate_layout(treadmill: str) -> list[dict[str, Any]]:
    """The ``[[plates]]`` tables of the simulated treadmill (docs/architecture.md)."""
    if treadmill == "split-belt":
        layout = [("left", SPLIT_BELT_Y_M, "left", 9001), ("right", -SPLIT_BELT_Y_M, "right", 9002)]
        width = WIDTH_M / 2
    else:
        layout = [("belt", 0.0, "both", 9000)]
        width = WIDTH_M
    plates = []
    for name, y, belt, cal_seed in layout:
        matrix, offsets = _calibration(cal_seed)
        hx, hy = LENGTH_M / 2, width / 2
        plates.append(
            {
                "name": name,
                "type": "six-channel",
                "channels": [f"{name}.{c}" for c in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")],
                "matrix": matrix.tolist(),
                "offsets_V": offsets.tolist(),
                "z_surface_m": Z_SURFACE_M,
                "origin_m": [0.0, y, -Z_SURFACE_M],
                "rotation": ROTATION.tolist(),
                "corners_m": [
                    [hx, y + hy, 0.0],
                    [-hx, y + hy, 0.0],
                    [-hx, y - hy, 0.0],
                    [hx, y - hy, 0.0],
                ],
                "belt": belt,
            }
        )
    return plates


def wrench_about_origin(
    force: np.ndarray, cop: np.ndarray, free_moment: np.ndarray, origin: np.ndarray
) -> np.ndarray:
    """(n, 6) [F, M] in the lab frame about ``origin`` for a force applied at ``cop`` (n, 3)."""
    arm = np.nan_to_num(cop - origin)
    moment = np.cross(arm, force)
    moment[:, 2] += free_moment
    return np.hstack((force, moment))


def _times(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix.T`` as element-wise sums: the same bits for any number of rows (a BLAS
    product rounds differently with the array size, which would break random access)."""
    out = np.zeros((rows.shape[0], matrix.shape[0]))
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j] != 0.0:
                out[:, i] += matrix[i, j] * rows[:, j]
    return out


def lab_to_volts(wrench_lab: np.ndarray, plate: dict[str, Any]) -> np.ndarray:
    """(n, 6) lab-frame wrench about the plate origin → the plate's six voltages."""
    to_plate = np.asarray(plate["rotation"], dtype=float).T
    plate_axes = np.hstack(
        (_times(wrench_lab[:, :3], to_plate), _times(wrench_lab[:, 3:], to_plate))
    )
    inverse = np.linalg.inv(np.asarray(plate["matrix"], dtype=float))
    return _times(plate_axes, inverse) + np.asarray(plate["offsets_V"])


def volts_to_lab(volts: np.ndarray, plate: dict[str, Any]) -> np.ndarray:
    """The plate's six voltages → (n, 6) lab-frame wrench about the plate origin."""
    plate_axes = (volts - np.asarray(plate["offsets_V"])) @ np.asarray(plate["matrix"]).T
    rotation = np.asarray(plate["rotation"])
    return np.hstack((plate_axes[:, :3] @ rotation.T, plate_axes[:, 3:] @ rotation.T))
