"""From (undistorted) pixels to metres in the plane of motion, and the camera-to-body mapping.

Two ways to calibrate (SCIENCE §8): a scale from one known length in the plane of the measured
leg, or a plane homography from four (or more) known points. Either is verified by re-measuring
known lengths across the field (left, centre, right) and the errors are stored with it.

Plane coordinates are body-oriented so the metric code is the same for every camera:
``a`` is the horizontal axis — **forward** (running direction) in the sagittal view, the
**runner's left** in the posterior view — and ``b`` is **up**; both in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from analysis.camera_calibration import CameraIntrinsics
from analysis.errors import InputError
from analysis.marker_sets import ImageOrientation
from analysis.markers import undistort_points
from analysis.provenance import software_version

VIEWS = ("sagittal", "posterior")


@dataclass(frozen=True)
class LengthCheck:
    """A known length re-measured through the calibration (verification)."""

    label: str  # e.g. "left", "centre", "right"
    true_m: float
    measured_m: float

    @property
    def error_m(self) -> float:
        return self.measured_m - self.true_m

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "true_m": self.true_m,
            "measured_m": self.measured_m,
            "error_m": self.error_m,
        }


@dataclass(frozen=True)
class PlaneCalibration:
    """Image → plane-of-motion mapping for one camera, with its verification."""

    view: str  # "sagittal" or "posterior"
    homography: np.ndarray  # 3x3: undistorted pixels → (a, b) metres
    method: str  # "known_length" or "homography"
    orientation: ImageOrientation
    near_leg: str = "R"  # the leg in the calibrated plane (sagittal: the camera-side leg)
    intrinsics: CameraIntrinsics | None = None  # lens model applied to pixels first, if known
    checks: tuple[LengthCheck, ...] = ()
    # marker → its distance (m) from the calibrated plane toward the camera (e.g. the greater
    # trochanter lies more lateral than the malleolus); needs a homography with intrinsics
    marker_offsets_m: dict[str, float] = field(default_factory=dict)
    software_version: str = field(default_factory=software_version)

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise InputError(
                f"unknown view {self.view!r}",
                subject="plane calibration",
                remedy="use sagittal or posterior",
            )
        if self.near_leg not in ("L", "R"):
            raise InputError(
                f"near_leg {self.near_leg!r} is not L or R",
                subject="plane calibration",
                remedy="say which leg faces the camera",
            )

    def to_plane(self, xy_px: np.ndarray, offset_m: float = 0.0) -> np.ndarray:
        """Pixel coordinates (…, 2) → plane metres (…, 2) (a, b); NaN stays NaN.

        ``offset_m``: the points lie that far from the calibrated plane toward the camera (a
        parallel plane); their rays are intersected with that plane instead.
        """
        xy = np.asarray(xy_px, dtype=float)
        shape = xy.shape
        flat = xy.reshape(-1, 2)
        if self.intrinsics is not None:
            flat = undistort_points(flat, self.intrinsics.K, np.asarray(self.intrinsics.dist))
        h = self.homography if offset_m == 0 else self._offset_homography(offset_m)
        w = flat[:, 0] * h[2, 0] + flat[:, 1] * h[2, 1] + h[2, 2]
        a = (flat[:, 0] * h[0, 0] + flat[:, 1] * h[0, 1] + h[0, 2]) / w
        b = (flat[:, 0] * h[1, 0] + flat[:, 1] * h[1, 1] + h[1, 2]) / w
        return np.stack([a, b], axis=-1).reshape(shape)

    def _offset_homography(self, offset_m: float) -> np.ndarray:
        """The homography of a plane parallel to the calibrated one, ``offset_m`` nearer the
        camera, from the camera pose implied by the homography and K (Zhang's decomposition)."""
        if self.method != "homography" or self.intrinsics is None:
            raise InputError(
                "marker depth offsets need the camera's pose",
                subject=f"{self.view} plane calibration",
                remedy="calibrate with four plane points and the camera intrinsics, or remove"
                " the marker offsets",
            )
        m = np.linalg.inv(self.intrinsics.K) @ np.linalg.inv(self.homography)
        m = m / np.sqrt(np.linalg.norm(m[:, 0]) * np.linalg.norm(m[:, 1]))
        if m[2, 2] < 0:  # the plane origin must lie in front of the camera
            m = -m
        r1, r2, t = m[:, 0], m[:, 1], m[:, 2]
        normal = np.cross(r1, r2)
        normal /= np.linalg.norm(normal)
        toward_camera = -normal if np.dot(normal, t) > 0 else normal
        shifted = np.column_stack([r1, r2, t + offset_m * toward_camera])
        return np.linalg.inv(self.intrinsics.K @ shifted)

    def marker_to_plane(self, name: str, xy_px: np.ndarray) -> np.ndarray:
        """Like :meth:`to_plane`, with the marker's own depth offset (if one is set)."""
        return self.to_plane(xy_px, self.marker_offsets_m.get(name, 0.0))

    def measure(self, p1_px, p2_px) -> float:
        """Distance in metres between two image points lying in the plane."""
        a, b = self.to_plane(np.array([p1_px, p2_px], dtype=float))
        return float(np.hypot(*(b - a)))

    def verified(self, segments: list[tuple[str, Any, Any, float]]) -> PlaneCalibration:
        """A copy with the known lengths ``(label, p1_px, p2_px, true_m)`` re-measured."""
        checks = tuple(
            LengthCheck(label, float(true_m), self.measure(p1, p2))
            for label, p1, p2, true_m in segments
        )
        return replace(self, checks=self.checks + checks)

    @property
    def max_check_error_m(self) -> float | None:
        return max((abs(c.error_m) for c in self.checks), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "homography": self.homography.tolist(),
            "method": self.method,
            "orientation": self.orientation.to_dict(),
            "near_leg": self.near_leg,
            "intrinsics": self.intrinsics.to_dict() if self.intrinsics else None,
            "checks": [c.to_dict() for c in self.checks],
            "marker_offsets_m": dict(self.marker_offsets_m),
            "software_version": self.software_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlaneCalibration:
        try:
            return cls(
                view=data["view"],
                homography=np.asarray(data["homography"], dtype=float).reshape(3, 3),
                method=data["method"],
                orientation=ImageOrientation.from_dict(data["orientation"]),
                near_leg=data.get("near_leg", "R"),
                intrinsics=CameraIntrinsics.from_dict(data["intrinsics"])
                if data.get("intrinsics")
                else None,
                checks=tuple(
                    LengthCheck(c["label"], float(c["true_m"]), float(c["measured_m"]))
                    for c in data.get("checks", ())
                ),
                marker_offsets_m={
                    str(k): float(v) for k, v in data.get("marker_offsets_m", {}).items()
                },
                software_version=data.get("software_version", "unknown"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"stored plane calibration is incomplete ({exc})",
                subject="plane calibration",
                remedy="recalibrate the camera plane",
            ) from None


def _horizontal_sign(view: str, orientation: ImageOrientation) -> int:
    return orientation.forward_x if view == "sagittal" else orientation.left_x


def _undistorted(points: np.ndarray, intrinsics: CameraIntrinsics | None) -> np.ndarray:
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if intrinsics is None:
        return pts
    return undistort_points(pts, intrinsics.K, np.asarray(intrinsics.dist))


def from_known_length(
    p1_px,
    p2_px,
    length_m: float,
    *,
    view: str,
    orientation: ImageOrientation,
    near_leg: str = "R",
    horizontal: bool = True,
    origin_px=None,
    intrinsics: CameraIntrinsics | None = None,
) -> PlaneCalibration:
    """Scale (and, for a horizontal reference such as the treadmill rail, camera roll) from one
    known length in the plane of motion. ``origin_px`` becomes plane (0, 0) (default: p1)."""
    p1, p2 = _undistorted(np.array([p1_px, p2_px], dtype=float), intrinsics)
    pixels = float(np.hypot(*(p2 - p1)))
    if not length_m > 0 or pixels < 10:
        raise InputError(
            f"a {length_m} m reference spanning {pixels:.1f} px cannot set the scale",
            subject="plane calibration reference",
            remedy="mark two points at least 10 px apart on an object of known length (> 0 m)",
        )
    scale = length_m / pixels
    roll = 0.0
    if horizontal:
        dx, dy = p2 - p1
        if dx < 0:
            dx, dy = -dx, -dy
        roll = math.atan2(dy, dx)  # image angle of the horizontal reference
    origin = _undistorted(np.array([origin_px if origin_px is not None else p1_px]), intrinsics)[0]
    c, s = math.cos(roll), math.sin(roll)
    sign = _horizontal_sign(view, orientation)
    # rotate by -roll so the reference lies along image x, scale, flip to body axes (b up)
    rot = np.array([[c, s], [-s, c]])
    linear = np.diag([sign * scale, -scale]) @ rot
    homography = np.eye(3)
    homography[:2, :2] = linear
    homography[:2, 2] = -linear @ origin
    return PlaneCalibration(view, homography, "known_length", orientation, near_leg, intrinsics, ())


def from_points(
    image_px,
    plane_m,
    *,
    view: str,
    orientation: ImageOrientation,
    near_leg: str = "R",
    intrinsics: CameraIntrinsics | None = None,
    marker_offsets_m: dict[str, float] | None = None,
) -> PlaneCalibration:
    """Plane homography from ≥ 4 points known in plane coordinates (a, b) metres, no three on a
    line (least squares when more than four)."""
    src = _undistorted(np.asarray(image_px, dtype=float), intrinsics)
    dst = np.asarray(plane_m, dtype=float).reshape(-1, 2)
    if len(src) < 4 or len(src) != len(dst):
        raise InputError(
            f"{len(src)} image points and {len(dst)} plane points given",
            subject="plane calibration points",
            remedy="give the same number (at least 4) of image and plane points",
        )
    for i in range(len(dst)):
        for j in range(i + 1, len(dst)):
            for k in range(j + 1, len(dst)):
                u, v = dst[j] - dst[i], dst[k] - dst[i]
                if abs(u[0] * v[1] - u[1] * v[0]) < 1e-6 * (np.dot(u, u) + np.dot(v, v)):
                    raise InputError(
                        f"points {i + 1}, {j + 1} and {k + 1} lie on one line",
                        subject="plane calibration points",
                        remedy="use four corners of a rectangle (or any four points, no three in"
                        " line)",
                    )
    homography, _ = cv2.findHomography(src, dst, 0)
    if homography is None:
        raise InputError(
            "no homography fits these points",
            subject="plane calibration points",
            remedy="check that image and plane points are given in the same order",
        )
    return PlaneCalibration(
        view,
        homography,
        "homography",
        orientation,
        near_leg,
        intrinsics,
        (),
        dict(marker_offsets_m or {}),
    )
