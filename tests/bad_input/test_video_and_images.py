"""Video files and checkerboard photos that cannot be used, and a posterior camera that sees no
marker at all: refused with a sentence naming the file, or flagged — never numbers from nothing.
(A random-bytes video, a variable frame rate and a truncated real video are in
tests/drivers/camera; blank and broken photos in tests/analysis/vision.)"""

from __future__ import annotations

import cv2
import pytest

from analysis.camera_calibration import calibrate_camera, image_files
from analysis.errors import MidstanceError
from drivers.camera.video_file import VideoFileCamera


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, b"GIF89a" + b"\x01" * 200],
    ids=["empty file", "an MP4 header and nothing else", "a GIF header renamed .mp4"],
)
def test_unreadable_video_files_are_named(tmp_path, content):
    path = tmp_path / "trial.mp4"
    path.write_bytes(content)
    health = VideoFileCamera.probe("sagittal", {"path": str(path)})
    assert str(path) in health.reason
    with pytest.raises(MidstanceError) as caught:
        VideoFileCamera("sagittal", {"path": str(path)}).open()
    assert str(path) in caught.value.sentence()


@pytest.mark.real_data
def test_real_photos_without_a_board_are_named_not_used(real_data, tmp_path):
    """Frames of a real walking video (no checkerboard) among too few real board photos: the
    calibration is refused, naming each photo without a board."""
    board_photo = sorted((real_data / "pose2sim").glob("intrinsics_cam01/*.jpg"))[0]
    (tmp_path / board_photo.name).write_bytes(board_photo.read_bytes())
    height, width = cv2.imread(str(board_photo), cv2.IMREAD_GRAYSCALE).shape
    capture = cv2.VideoCapture(str(real_data / "sports2d" / "demo.mp4"))
    for k in range(2):
        ok, frame = capture.read()
        assert ok
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (width, height))
        cv2.imwrite(str(tmp_path / f"walk{k}.jpg"), grey)  # same size as the camera's photos
    capture.release()
    with pytest.raises(MidstanceError) as caught:
        calibrate_camera(image_files(tmp_path), (4, 7), 60.0)
    message = caught.value.sentence()
    assert "walk0.jpg: no 4x7 board found" in message and "walk1.jpg" in message


def test_a_posterior_camera_that_sees_no_marker_gives_no_valgus_numbers(tmp_path):
    """Every marker of the posterior view occluded (lens cap, lights off): stances carry force
    results but no FPPA or pelvic drop — nothing is interpolated from nowhere."""
    from app.session_controller import SessionController
    from app.session_setup import registry_factory
    from drivers.config import parse_config

    def capped(kind, name, settings, shared):
        device = registry_factory(kind, name, settings, shared)
        if name == "posterior":
            original = device._read

            def dark(out, timeout_s):
                chunk = original(out, timeout_s)
                out[: chunk.count] = 0
                return chunk

            device._read = dark
        return device

    raw = {
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": 250.0},
            {"name": "posterior", "kind": "sim.camera", "view": "posterior", "rate_hz": 250.0},
        ],
        "simulation": {"preset": "valgus-left", "seed": 3, "duration_s": 8.0,
                       "setup": {"image_width": 320, "image_height": 240}},
    }  # fmt: skip
    controller = SessionController(parse_config(raw), pace="fast", device_factory=capped)
    controller.connect()
    try:
        controller.set_subject({"id": "OCC", "body_mass_kg": 70.0})
        assert controller.wait_for_stances(6, timeout_s=120)
        stances = [s.to_dict() for s in controller.stances()]
        frame = controller.latest_frame("posterior")
    finally:
        controller.close()
    assert frame is not None and not frame.markers
    for d in stances:
        assert d["valr_N_s"] is not None and d["valr_N_s"] > 0
        assert d.get("fppa_midstance_deg") is None and d.get("pelvic_drop_deg") is None, d
    assert any(d.get("hip_ankle_midstance_m") is not None for d in stances)  # sagittal still seen
