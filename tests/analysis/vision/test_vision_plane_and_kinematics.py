"""Plane calibration (scale, roll, homography, verification) and the metric formulas on
hand-built geometry with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from analysis import kinematics as kin
from analysis.camera_calibration import CameraIntrinsics
from analysis.errors import InputError
from analysis.marker_sets import ImageOrientation
from analysis.plane_calibration import PlaneCalibration, from_known_length, from_points

RIGHT = ImageOrientation(forward_x=1)
LEFT = ImageOrientation(forward_x=-1)


def test_known_length_gives_scale_roll_and_body_axes():
    # a 1.000 m treadmill rail seen 800 px long, tilted 2° (camera roll), runner facing right
    roll = math.radians(2.0)
    p1 = np.array([100.0, 400.0])
    p2 = p1 + 800 * np.array([math.cos(roll), math.sin(roll)])
    cal = from_known_length(p1, p2, 1.0, view="sagittal", orientation=RIGHT)
    assert cal.to_plane(p2) == pytest.approx([1.0, 0.0], abs=1e-9)
    # a point 100 px straight "up" the tilted image is 0.125 m up, not forward
    up = p1 + 100 * np.array([math.sin(roll), -math.cos(roll)])
    assert cal.to_plane(up) == pytest.approx([0.0, 0.125], abs=1e-9)
    # the same scene with the runner facing left: forward is image −x
    mirrored = from_known_length(p1, p2, 1.0, view="sagittal", orientation=LEFT)
    assert mirrored.to_plane(p2) == pytest.approx([-1.0, 0.0], abs=1e-9)
    # posterior view: the horizontal axis is the runner's left (image left when seen from behind)
    back = from_known_length(p1, p2, 1.0, view="posterior", orientation=ImageOrientation(left_x=-1))
    assert back.to_plane(p2)[0] == pytest.approx(-1.0)


def test_homography_from_four_points_and_verification_across_the_field():
    # a camera looking obliquely at the plane: a real perspective mapping
    truth = np.array([[1.2e-3, 1e-5, -0.4], [2e-5, -1.25e-3, 0.9], [2e-5, 1e-6, 1.0]])
    inverse = np.linalg.inv(truth)

    def pixel(ab):
        p = inverse @ np.array([ab[0], ab[1], 1.0])
        return p[:2] / p[2]

    corners = [(-0.5, 0.0), (0.5, 0.0), (0.5, 1.0), (-0.5, 1.0)]
    cal = from_points([pixel(c) for c in corners], corners, view="sagittal", orientation=RIGHT)
    segments = [
        (label, pixel((x - 0.25, 0.5)), pixel((x + 0.25, 0.5)), 0.5)
        for label, x in (("left", -0.6), ("centre", 0.0), ("right", 0.6))
    ]
    checked = cal.verified(segments)
    assert [c.label for c in checked.checks] == ["left", "centre", "right"]
    assert checked.max_check_error_m < 1e-6
    # a scale-only calibration of the same oblique view is honestly worse across the field
    scale_only = from_known_length(
        pixel((-0.5, 0)), pixel((0.5, 0)), 1.0, view="sagittal", orientation=RIGHT
    ).verified(segments)
    assert scale_only.max_check_error_m > 0.005
    restored = PlaneCalibration.from_dict(checked.to_dict())
    assert np.allclose(restored.homography, checked.homography)
    assert restored.checks == checked.checks and restored.orientation == RIGHT


def test_lens_distortion_is_removed_before_the_plane_mapping():
    k = CameraIntrinsics(900.0, 900.0, 320.0, 240.0, (-0.3, 0.1, 0.0, 0.0, 0.0), (640, 480))
    ideal = np.array([[40.0, 240.0], [600.0, 240.0], [320.0, 240.0]])
    rays = np.column_stack([(ideal - [320, 240]) / 900.0, np.ones(3)])
    seen, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), k.K, np.asarray(k.dist))
    seen = seen.reshape(-1, 2)
    cal = from_known_length(
        seen[0], seen[1], 1.12, view="sagittal", orientation=RIGHT, intrinsics=k
    )
    # the midpoint of the undistorted segment is exactly half-way
    assert cal.to_plane(seen[2])[0] == pytest.approx(0.56, abs=1e-6)
    assert PlaneCalibration.from_dict(cal.to_dict()).intrinsics == k


def test_bad_calibration_input_is_named():
    with pytest.raises(InputError, match="10 px"):
        from_known_length([0, 0], [3, 0], 1.0, view="sagittal", orientation=RIGHT)
    with pytest.raises(InputError, match="one line"):
        from_points(
            [[0, 0], [1, 0], [2, 0], [0, 1]],
            [[0, 0], [1, 0], [2, 0], [0, 1]],
            view="sagittal",
            orientation=RIGHT,
        )
    with pytest.raises(InputError, match="at least 4"):
        from_points([[0, 0]], [[0, 0]], view="sagittal", orientation=RIGHT)
    with pytest.raises(InputError, match="incomplete"):
        PlaneCalibration.from_dict({"view": "sagittal"})


def test_sagittal_formulas():
    hip, knee = np.array([0.0, 0.9]), np.array([0.05, 0.5])
    ankle_ahead = np.array([0.15, 0.1])  # the foot reaching forward
    assert kin.hip_ankle_m(hip, ankle_ahead) == pytest.approx(0.15)
    straight = kin.knee_flexion_deg(hip, np.array([0.0, 0.5]), np.array([0.0, 0.1]))
    assert straight == pytest.approx(0.0)
    # thigh 14.04° forward of vertical; the shank folded 30° back from the thigh line
    thigh_deg = math.degrees(math.atan2(0.1, 0.4))
    shank = math.radians(thigh_deg - 30.0)
    flexed_knee = np.array([0.1, 0.5])
    flexed_ankle = flexed_knee + 0.4 * np.array([math.sin(shank), -math.cos(shank)])
    bent = kin.knee_flexion_deg(hip, flexed_knee, flexed_ankle)
    assert bent == pytest.approx(30.0)
    assert kin.shank_angle_deg(knee, ankle_ahead) == pytest.approx(
        math.degrees(math.atan2(0.1, 0.4))
    )
    assert kin.trunk_lean_deg(np.array([0.1, 1.4]), hip) == pytest.approx(
        math.degrees(math.atan2(0.1, 0.5))
    )


@pytest.mark.parametrize("side", ["L", "R"])
def test_fppa_sign_is_valgus_positive_for_either_leg(side):
    # posterior plane: a = toward the runner's left. The left leg sits at a > 0.
    lateral = 0.12 if side == "L" else -0.12
    toward_midline = -1 if side == "L" else 1
    thigh, ankle = np.array([lateral, 0.7]), np.array([lateral, 0.1])
    knee = np.array([lateral + toward_midline * 0.03, 0.45])  # 3 cm medial: valgus
    expected = math.degrees(math.atan2(0.03, 0.25)) + math.degrees(math.atan2(0.03, 0.35))
    assert kin.fppa_deg(thigh, knee, ankle, side) == pytest.approx(expected)
    assert kin.knee_medial_offset_m(thigh, knee, ankle, side) == pytest.approx(0.03)
    varus = np.array([lateral - toward_midline * 0.03, 0.45])
    assert kin.fppa_deg(thigh, varus, ankle, side) == pytest.approx(-expected)


def test_pelvic_drop_is_contralateral_positive():
    left, right = np.array([0.1, 1.0]), np.array([-0.1, 1.0 - 0.2 * math.tan(math.radians(5))])
    # the right side is 5° lower: a drop during LEFT stance, a hike during right stance
    assert kin.pelvic_drop_deg(left, right, "L") == pytest.approx(5.0)
    assert kin.pelvic_drop_deg(left, right, "R") == pytest.approx(-5.0)
    with pytest.raises(InputError):
        kin.pelvic_drop_deg(left, right, "X")
