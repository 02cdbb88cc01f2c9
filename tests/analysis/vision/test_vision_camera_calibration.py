"""Camera intrinsics from the real pose2sim checkerboard photos, compared with the lab's own
Qualisys calibration of the same camera (docs/vision.md "Camera calibration")."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analysis.camera_calibration import (
    calibrate_camera,
    field_of_view_deg,
    image_files,
    read_qualisys_intrinsics,
)
from analysis.errors import AnalysisError, InputError


@pytest.fixture(scope="module")
def pose2sim(real_data):
    folder = real_data / "pose2sim"
    calibration = calibrate_camera(image_files(folder / "intrinsics_cam01"), (4, 7), 60.0)
    qualisys = read_qualisys_intrinsics(folder / "Calib.qca.txt")
    return calibration, qualisys


def _distortion_shift_px(intrinsics, radius_px: float) -> float:
    """How far the lens model moves a point at ``radius_px`` from the principal point."""
    k = intrinsics
    point = np.array([[[k.cx + radius_px / np.sqrt(2), k.cy + radius_px / np.sqrt(2)]]])
    back = cv2.undistortPoints(point, k.K, np.asarray(k.dist), P=k.K)
    return float(np.linalg.norm(back - point))


@pytest.mark.real_data
def test_qualisys_file_is_read_in_pixels(pose2sim):
    _, qualisys = pose2sim
    assert sorted(qualisys) == ["cam01", "cam02", "cam03", "cam04"]
    cam = qualisys["cam01"]
    # 107599.67 / 64 subpixels; the image is 1088 wide and 1920 high (portrait)
    assert cam.fx == pytest.approx(1681.245, abs=1e-3)
    assert (cam.cx, cam.cy) == pytest.approx((532.974, 948.137), abs=1e-3)
    assert cam.image_size == (1088, 1920)
    assert cam.dist[:2] == (-0.046183, 0.139983)


@pytest.mark.real_data
def test_real_checkerboards_agree_with_the_labs_calibration(pose2sim):
    calibration, qualisys = pose2sim
    ours, lab = calibration.intrinsics, qualisys["cam01"]
    assert ours.image_size == lab.image_size
    # photo 02 is only found by the sector detector and its edges are 7.3 px wide: rejected
    rejected = {im.path.rsplit("/", 1)[-1]: im.reason for im in calibration.rejected}
    assert list(rejected) == ["cam01_02_int.jpg"] and rejected["cam01_02_int.jpg"].startswith(
        "blurred"
    )
    assert len(calibration.used) == 6
    assert calibration.rms_px < 0.3  # measured 0.21 px
    # focal length: measured −0.58 % (fx 1671.4 vs 1681.2 px); within 1 % (a 1 % focal error is
    # a 1 % scale error only without a plane calibration, which Midstance always applies)
    assert ours.fx == pytest.approx(lab.fx, rel=0.01)
    assert ours.fy == pytest.approx(lab.fy, rel=0.01)
    fov_ours, fov_lab = field_of_view_deg(ours), field_of_view_deg(lab)
    assert abs(fov_ours[1] - fov_lab[1]) < 0.5  # degrees of vertical field of view
    # principal point: measured +31.6 px (cx) and −15.1 px (cy). Six near-fronto-parallel views
    # of a small board constrain it weakly (OpenCV's 1-sigma from corner noise alone, ~3 px,
    # understates it); 40 px is 1.4° of optical-axis direction at this focal length.
    assert abs(ours.cx - lab.cx) < 40 and abs(ours.cy - lab.cy) < 40
    # lens distortion: compare what the models do, not the correlated coefficients: within the
    # central 500 px the two displace a point by the same amount to 0.6 px (measured ≤ 0.5 px)
    for radius in (200, 350, 500):
        assert abs(_distortion_shift_px(ours, radius) - _distortion_shift_px(lab, radius)) < 0.6


def test_too_few_usable_photos_names_each_reason(tmp_path):
    blank = np.full((120, 160), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "blank.png"), blank)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(AnalysisError) as err:
        calibrate_camera(image_files(tmp_path), (4, 7), 60.0)
    message = err.value.sentence()
    assert "blank.png: no 4x7 board found" in message
    assert "broken.jpg: not a readable image" in message


def test_bad_folder_and_board_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        image_files(tmp_path / "nope")
    with pytest.raises(InputError, match="no images"):
        image_files(tmp_path)
    with pytest.raises(InputError, match="INNER corners"):
        calibrate_camera([], (1, 7), 60.0)
    bad = tmp_path / "calib.qca.txt"
    bad.write_text("<calibration><cameras/></calibration>")
    with pytest.raises(InputError, match="no <camera>"):
        read_qualisys_intrinsics(bad)
