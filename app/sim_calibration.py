"""Plane calibrations of the simulated lab's cameras, made the way a technician makes them.

A technician photographs four known points in the plane of the measured leg and fits a plane
homography (``analysis.plane_calibration.from_points``) after removing lens distortion. The
simulated lab knows its cameras exactly, so the four points are projected through the lab's own
camera model (with its distortion) and the plane is the mean plane of the markers it measures:
the near (right) leg's lateral markers for the sagittal view, the pelvis/knee/ankle markers for
the posterior view. The result is an ordinary :class:`PlaneCalibration`, stored in the session
file like a real one. :func:`simulated_session_layout` gives, with them, what a session file of
the simulated lab declares (cameras, live settings, devices), for files written offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.camera_calibration import CameraIntrinsics
from analysis.force_settings import ForceSettings
from analysis.marker_sets import ImageOrientation, marker_set
from analysis.plane_calibration import PlaneCalibration, from_points
from analysis.vision_settings import VisionSettings
from data.session_writer import CameraSpec
from data.video_codecs import CodecChoice

SAGITTAL_MARKERS = ("R_trochanter", "R_epicondyle", "R_malleolus")
POSTERIOR_MARKERS = (
    "L_psis",
    "R_psis",
    "L_knee_joint",
    "R_knee_joint",
    "L_ankle_joint",
    "R_ankle_joint",
)


def _intrinsics(camera) -> CameraIntrinsics:
    K = camera.K
    return CameraIntrinsics(
        fx=float(K[0, 0]),
        fy=float(K[1, 1]),
        cx=float(K[0, 2]),
        cy=float(K[1, 2]),
        dist=tuple(float(v) for v in camera.dist),
        image_size=tuple(int(v) for v in camera.size),
    )


def _mean_coordinate(lab, names: tuple[str, ...], axis: int) -> float:
    """Mean lab coordinate of the named body points over the first two strides."""
    t = np.linspace(0.2, min(lab.duration_s, 1.6), 60)
    points = lab.points(t)
    values = [points[n][:, axis] for n in names if n in points]
    return float(np.mean(values))


def simulated_plane_calibrations(lab) -> dict[str, PlaneCalibration]:
    """``{"sagittal": ..., "posterior": ...}`` for a :class:`drivers.sim.SimulatedLab`."""
    out: dict[str, PlaneCalibration] = {}
    square = np.array([[-0.6, 0.1], [0.6, 0.1], [0.6, 1.3], [-0.6, 1.3]])  # (a, b) metres
    for view, camera in lab.cameras.items():
        if view == "sagittal":
            y = _mean_coordinate(lab, SAGITTAL_MARKERS, 1)
            lab_points = np.column_stack((square[:, 0], np.full(4, y), square[:, 1]))
        else:
            x = _mean_coordinate(lab, POSTERIOR_MARKERS, 0)
            # a = toward the runner's left = lab +y
            lab_points = np.column_stack((np.full(4, x), square[:, 0], square[:, 1]))
        distorted, _, _ = camera.project(lab_points)
        out[view] = from_points(
            distorted,
            square,
            view=view,
            orientation=ImageOrientation(forward_x=1, left_x=-1),
            near_leg="R",
            intrinsics=_intrinsics(camera),
        )
    return out


@dataclass(frozen=True)
class SimulatedSessionLayout:
    """What a session file of the simulated lab declares before its data: camera streams, the
    live settings and the device description, as a recording on the simulated lab stores them.
    For files written offline (test sessions, benchmark inputs)."""

    calibrations: dict[str, PlaneCalibration]
    cameras: list[CameraSpec]
    live_settings: dict[str, Any]
    devices: dict[str, Any]


def simulated_session_layout(
    lab, codec: CodecChoice, vision: VisionSettings | None = None
) -> SimulatedSessionLayout:
    """The layout of a hardware-synchronised session of ``lab`` (a
    :class:`drivers.sim.SimulatedLab`) with every camera stored with ``codec``."""
    vision = vision if vision is not None else VisionSettings()
    calibrations = simulated_plane_calibrations(lab)
    rate = lab.setup.frame_rate_hz
    cameras = [
        CameraSpec(
            name,
            model.size[1],
            model.size[0],
            rate,
            model.view,
            codec,
            marker_set(name).markers,
            "px",
            {"detection": vision.detection.to_dict()},
        )
        for name, model in lab.cameras.items()
    ]
    plates = lab.plate_configs()
    live = {
        "force": ForceSettings().to_dict(),
        "vision": vision.to_dict(),
        "plates": plates,
        "calibrations": {k: v.to_dict() for k, v in calibrations.items()},
        "marker_sets": {name: name for name in lab.cameras},
        "sync_mode": "hardware",
    }
    devices = {
        "config": {
            "lab": {"name": "Simulated lab", "treadmill": lab.setup.treadmill},
            "sync": {"mode": "hardware"},
            "cameras": [
                {"name": n, "view": m.view, "rate_hz": rate} for n, m in lab.cameras.items()
            ],
            "simulation": {"lab": lab.to_dict()},
        },
        "plates": plates,
        "cameras": {name: {"plane": cal.to_dict()} for name, cal in calibrations.items()},
        "sync": {"mode": "hardware"},
    }
    return SimulatedSessionLayout(calibrations, cameras, live, devices)
