"""Ground truth of the simulated lab, measured on the noise-free model exactly as SCIENCE.md says.

Force events and loading rates come from the continuous force (gait.py); kinematic quantities from
the body model, in the lab frame (hip–ankle distance, knee flexion, shank angle) or in the
posterior camera's undistorted image of the noise-free projection (FPPA, pelvic drop), with the
sign rules of docs/architecture.md. Midstance instants M1/M2 are found on a 1 ms grid refined by
a parabola through the neighbours.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from drivers.sim.body import BodyModel
from drivers.sim.cameras import CameraModel
from drivers.sim.gait import StanceSchedule

SIDE_NAMES = ("L", "R")
DENSE_STEP_S = 1e-3


@dataclass(frozen=True)
class StanceTruth:
    """One stance; field names and units as docs/architecture.md (seconds are session time)."""

    index: int
    side: str
    plate: str
    contact_s: float
    toe_off_s: float
    midstance_knee_flexion_s: float  # M1
    midstance_pelvis_low_s: float  # M2
    midstance_peak_vgrf_s: float  # M3
    midstance_ap_s: float  # M4
    midstance_half_s: float  # M5
    impact_peak_N: float | None
    impact_peak_s: float | None
    valr_N_s: float
    vilr_N_s: float
    loading_rate_reference: str  # "impact_peak" | "stance_13pct"
    peak_vertical_N: float
    peak_braking_N: float  # magnitude (positive)
    braking_impulse_Ns: float  # magnitude (positive)
    propulsive_impulse_Ns: float  # positive
    hip_ankle_contact_m: float
    hip_ankle_midstance_m: float  # at M1
    knee_flexion_contact_deg: float
    knee_flexion_peak_deg: float
    shank_angle_contact_deg: float  # + = ankle ahead of the knee
    fppa_midstance_deg: float  # at M1, + = valgus
    fppa_peak_deg: float  # largest valgus during stance
    knee_medial_displacement_m: float  # at M1, + = medial
    pelvic_drop_deg: float  # at M1, + = contralateral side lower

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FrameTruth:
    """What frame k of a camera shows. ``pixels`` are where the markers are drawn (distorted);
    ``pixels_undistorted`` the ideal pinhole projection of the same points."""

    camera: str
    index: int
    names: tuple[str, ...]
    pixels: np.ndarray  # (n, 2) distorted
    pixels_undistorted: np.ndarray  # (n, 2)
    lab_m: np.ndarray  # (n, 3)
    visible: np.ndarray  # (n,) bool: drawn (not occluded)
    radius_px: np.ndarray  # (n,) drawn marker radius
    stray_pixels: np.ndarray  # (m, 2) stray reflections drawn (not markers)
    led_level: float  # 0..1, fraction of the exposure the sync LED was on
    session_time_s: float  # exposure start on the session clock
    camera_time_s: float  # the same instant on the camera's clock
    dropped: bool  # the camera exposed this frame but never delivered it


@dataclass
class LabTruth:
    stances: list[StanceTruth]
    body_weight_N: float
    led_on_s: np.ndarray  # onsets of the sync LED flashes (session time)
    led_off_s: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "body_weight_N": self.body_weight_N,
            "stances": [s.to_dict() for s in self.stances],
            "led_on_s": self.led_on_s.tolist(),
            "led_off_s": self.led_off_s.tolist(),
        }


# -- kinematic measures (vectorised over time) --------------------------------------------------


def knee_flexion_deg(points: dict[str, np.ndarray], side: str) -> np.ndarray:
    """Sagittal (lab x–z) angle between thigh and shank from the lateral markers."""
    hip, knee, ankle = (points[f"{side}_{m}"] for m in ("trochanter", "epicondyle", "malleolus"))
    thigh = (knee - hip)[:, [0, 2]]
    shank = (ankle - knee)[:, [0, 2]]
    cross = thigh[:, 0] * shank[:, 1] - thigh[:, 1] * shank[:, 0]
    dot = np.sum(thigh * shank, axis=1)
    return np.degrees(np.abs(np.arctan2(cross, dot)))


def shank_angle_deg(points: dict[str, np.ndarray], side: str) -> np.ndarray:
    knee, ankle = points[f"{side}_epicondyle"], points[f"{side}_malleolus"]
    return np.degrees(np.arctan2(ankle[:, 0] - knee[:, 0], knee[:, 2] - ankle[:, 2]))


def hip_ankle_m(points: dict[str, np.ndarray], side: str) -> np.ndarray:
    return points[f"{side}_malleolus"][:, 0] - points[f"{side}_trochanter"][:, 0]


def _signed_angle_medial(proximal, knee, distal, midline_dir: np.ndarray) -> np.ndarray:
    """FPPA from 2-D points: 0 straight, sign + when the knee lies toward ``midline_dir``."""
    v1, v2 = knee - proximal, distal - knee
    cross = v1[:, 0] * v2[:, 1] - v1[:, 1] * v2[:, 0]
    angle = np.degrees(np.abs(np.arctan2(cross, np.sum(v1 * v2, axis=1))))
    line = distal - proximal
    normal = np.column_stack((-line[:, 1], line[:, 0]))
    normal *= np.sign(np.sum(normal * midline_dir, axis=1))[:, None]
    offset = np.sum((knee - proximal) * normal, axis=1)
    return np.where(offset >= 0, angle, -angle), offset / np.linalg.norm(normal, axis=1)


def fppa_image_deg(points: dict[str, np.ndarray], side: str, camera: CameraModel) -> np.ndarray:
    names = (f"{side}_thigh", f"{side}_knee_joint", f"{side}_ankle_joint", "pelvis")
    pix = [camera.project(points[n])[1] for n in names]
    midline = np.zeros_like(pix[1])
    midline[:, 0] = pix[3][:, 0] - pix[1][:, 0]
    return _signed_angle_medial(pix[0], pix[1], pix[2], midline)[0]


def knee_medial_displacement_m(points: dict[str, np.ndarray], side: str) -> np.ndarray:
    proximal, knee, ankle = (
        points[f"{side}_{m}"][:, 1:] for m in ("thigh", "knee_joint", "ankle_joint")
    )
    midline = np.zeros_like(knee)
    midline[:, 0] = -knee[:, 0]
    return _signed_angle_medial(proximal, knee, ankle, midline)[1]


def pelvic_drop_image_deg(
    points: dict[str, np.ndarray], stance_side: str, camera: CameraModel
) -> np.ndarray:
    left = camera.project(points["L_psis"])[1]
    right = camera.project(points["R_psis"])[1]
    lower = left if stance_side == "R" else right  # the contralateral side
    upper = right if stance_side == "R" else left
    return np.degrees(np.arctan2(lower[:, 1] - upper[:, 1], np.abs(lower[:, 0] - upper[:, 0])))


def _refine_extremum(t: np.ndarray, y: np.ndarray, k: int) -> float:
    if 0 < k < len(y) - 1:
        denom = y[k - 1] - 2 * y[k] + y[k + 1]
        if denom != 0:
            shift = 0.5 * (y[k - 1] - y[k + 1]) / denom
            return float(t[k] + np.clip(shift, -1, 1) * (t[1] - t[0]))
    return float(t[k])


def stance_truth(
    i: int,
    index: int,
    *,
    schedule: StanceSchedule,
    body: BodyModel,
    posterior: CameraModel,
    plate: str,
) -> StanceTruth:
    """Measure stance ``i`` of the schedule on the noise-free model."""
    sch = schedule
    onset = float(sch.onset_s[i])
    tc = float(sch.contact_s[i])
    side = SIDE_NAMES[sch.side[i]]
    lr = sch.loading_rate(i)
    contact, toe_off = onset + lr.contact_s, onset + lr.toe_off_s
    tau = np.arange(0, tc, 2e-5)
    fz = sch.vertical(i, tau)
    k = int(np.argmax(fz))
    peak_s = onset + _refine_extremum(tau, fz, k)
    peak_n = float(sch.vertical(i, np.array([peak_s - onset]))[0])
    sb = float(sch.braking_fraction[i])
    braking_n = float(sch.peak_braking_N[i])
    propulsive_n = float(sch.peak_propulsive_N[i])
    t = np.arange(contact, toe_off, DENSE_STEP_S)
    pts = body.points(t)
    flexion = knee_flexion_deg(pts, side)
    m1 = _refine_extremum(t, flexion, int(np.argmax(flexion)))
    pelvis_z = pts["pelvis"][:, 2]
    m2 = _refine_extremum(t, pelvis_z, int(np.argmin(pelvis_z)))
    fppa = fppa_image_deg(pts, side, posterior)
    at_contact = body.points(np.array([contact]))
    at_m1 = body.points(np.array([m1]))
    return StanceTruth(
        index=index,
        side=side,
        plate=plate,
        contact_s=contact,
        toe_off_s=toe_off,
        midstance_knee_flexion_s=m1,
        midstance_pelvis_low_s=m2,
        midstance_peak_vgrf_s=peak_s,
        midstance_ap_s=onset + sb * tc,
        midstance_half_s=(contact + toe_off) / 2,
        impact_peak_N=lr.impact_peak_N,
        impact_peak_s=None if lr.impact_peak_s is None else onset + lr.impact_peak_s,
        valr_N_s=lr.valr_N_s,
        vilr_N_s=lr.vilr_N_s,
        loading_rate_reference=lr.reference,
        peak_vertical_N=peak_n,
        peak_braking_N=braking_n,
        braking_impulse_Ns=braking_n * 2 * sb * tc / np.pi,
        propulsive_impulse_Ns=propulsive_n * 2 * (1 - sb) * tc / np.pi,
        hip_ankle_contact_m=float(hip_ankle_m(at_contact, side)[0]),
        hip_ankle_midstance_m=float(hip_ankle_m(at_m1, side)[0]),
        knee_flexion_contact_deg=float(knee_flexion_deg(at_contact, side)[0]),
        knee_flexion_peak_deg=float(knee_flexion_deg(at_m1, side)[0]),
        shank_angle_contact_deg=float(shank_angle_deg(at_contact, side)[0]),
        fppa_midstance_deg=float(fppa_image_deg(at_m1, side, posterior)[0]),
        fppa_peak_deg=float(np.max(fppa)),
        knee_medial_displacement_m=float(knee_medial_displacement_m(at_m1, side)[0]),
        pelvic_drop_deg=float(pelvic_drop_image_deg(at_m1, side, posterior)[0]),
    )
