"""Pinhole cameras with mild lens distortion (OpenCV's model), placed where a lab puts them.

``X_cam = R · X_lab + t``; pixels follow OpenCV: ``(u, v)`` with the centre of the top-left pixel
at (0, 0), ``v`` down; ``dist = (k1, k2, p1, p2, k3)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class CameraModel:
    name: str
    view: str  # "sagittal" or "posterior"
    K: np.ndarray  # 3x3
    dist: np.ndarray  # (5,)
    R: np.ndarray  # 3x3, lab → camera
    t: np.ndarray  # (3,)
    size: tuple[int, int]  # (width, height)

    @property
    def position_m(self) -> np.ndarray:
        """The camera centre in the lab frame."""
        return -self.R.T @ self.t

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(distorted pixels, undistorted pixels, depth in m) of lab points (n, 3)."""
        p = np.asarray(points, dtype=float)
        # element-wise, not a BLAS product: the same bits for one point or many (random access)
        cam = (
            p[:, 0:1] * self.R[:, 0] + p[:, 1:2] * self.R[:, 1] + p[:, 2:3] * self.R[:, 2] + self.t
        )
        depth = cam[:, 2]
        x = cam[:, 0] / depth
        y = cam[:, 1] / depth
        k1, k2, p1, p2, k3 = self.dist
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2**3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        distorted = np.column_stack((fx * xd + cx, fy * yd + cy))
        ideal = np.column_stack((fx * x + cx, fy * y + cy))
        return distorted, ideal, depth

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "view": self.view,
            "K": self.K.tolist(),
            "dist": self.dist.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "size": list(self.size),
        }


def _look(position: np.ndarray, forward: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, ...]:
    down = np.cross(forward, right)
    R = np.vstack((right, down, forward))
    return R, -R @ position


def default_cameras(width: int, height: int) -> dict[str, CameraModel]:
    """Sagittal camera 4 m to the runner's right, posterior camera 5 m behind, both at 0.85 m.

    Focal lengths scale with the image width so the field of view is the same at any resolution
    (sagittal ≈ 2.8 m wide at the runner, posterior ≈ 2.8 m).
    """
    scale = width / 640
    cams = {}
    for name, pos, fwd, right, focal, dist, shift in (
        (
            "sagittal",
            np.array([0.05, -4.0, 0.85]),
            np.array([0.0, 1.0, 0.0]),
            np.array([1.0, 0.0, 0.0]),
            900.0,
            np.array([-0.08, 0.02, 0.0005, -0.0003, 0.0]),
            (3.2, -2.1),
        ),
        (
            "posterior",
            np.array([-5.0, 0.0, 0.85]),
            np.array([1.0, 0.0, 0.0]),
            np.array([0.0, -1.0, 0.0]),
            1150.0,
            np.array([-0.06, 0.015, -0.0004, 0.0002, 0.0]),
            (-2.4, 1.7),
        ),
    ):
        R, t = _look(pos, fwd, right)
        f = focal * scale
        K = np.array(
            [
                [f, 0.0, (width - 1) / 2 + shift[0] * scale],
                [0.0, f, (height - 1) / 2 + shift[1] * scale],
                [0.0, 0.0, 1.0],
            ]
        )
        cams[name] = CameraModel(name, name, K, dist, R, t, (width, height))
    return cams
