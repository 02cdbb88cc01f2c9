"""UVC cameras through OpenCV: absent cameras are a state (fast, no hang); the grab loop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drivers.base import DeviceLost, DeviceState, DeviceUnavailable, HealthStatus
from drivers.camera import opencv_camera
from drivers.camera.opencv_camera import UvcCamera
from drivers.contract import exercise_device


def test_a_camera_index_that_does_not_exist_is_absent():
    health = UvcCamera.probe("posterior", {"index": 87, "rate_hz": 30.0})
    assert health.status is HealthStatus.ABSENT
    assert "no camera at index 87" in health.reason
    with pytest.raises(DeviceUnavailable, match="no camera at index 87"):
        UvcCamera("posterior", {"index": 87}).open()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"index": -1}, "index: -1 is outside"),
        ({"index": "usb0"}, "index: must be a number"),
        ({"backend": "gstreamer"}, "backend: 'gstreamer' is not allowed"),
    ],
)
def test_bad_settings_are_misconfigured(settings, message):
    health = UvcCamera.probe("posterior", settings)
    assert health.status is HealthStatus.MISCONFIGURED
    assert message in health.reason


@pytest.fixture
def camera_from_video(monkeypatch, make_video, tmp_path, disc_images):
    """Stand a lossless video in for camera 0 (a frame source OpenCV decodes the same way), so
    the UVC grab loop runs without a webcam. Returns the frames the camera will send."""
    _, frames = disc_images
    frames = np.concatenate([frames] * 4)
    path = make_video(tmp_path / "webcam.mkv", frames, 30.0)
    monkeypatch.setattr(opencv_camera, "video_device_nodes", lambda: ["/dev/video0"])
    monkeypatch.setattr(
        opencv_camera, "open_capture", lambda index, backend: cv2.VideoCapture(str(path))
    )
    return frames


def test_the_grab_loop_delivers_one_mono8_frame_per_chunk_in_order(camera_from_video):
    frames = camera_from_video
    camera = UvcCamera("posterior", {"index": 0, "rate_hz": 30.0})
    n = len(frames) - 1  # opening reads one frame to learn the real size
    report = exercise_device(camera, n, chunk_items=8)
    np.testing.assert_array_equal(report.data, frames[1:])
    np.testing.assert_array_equal(report.indices, np.arange(n))
    assert len(report.host_times) == n  # one host time per frame
    assert np.all(np.diff(report.host_times) >= 0)


def test_a_camera_that_stops_sending_is_lost(camera_from_video):
    frames = camera_from_video
    with UvcCamera("posterior", {"index": 0}) as camera:
        camera.start()
        out = camera.describe().empty_buffer(1)
        for _ in range(len(frames) - 1):
            camera.read(out)
        with pytest.raises(
            DeviceLost, match=f"stopped sending frames after frame {len(frames) - 2}"
        ):
            camera.read(out)
        assert camera.state is DeviceState.FAULTED


def test_a_rate_the_camera_does_not_run_at_is_refused(camera_from_video):
    with pytest.raises(DeviceUnavailable, match="runs at 30 fps, not 60") as raised:
        UvcCamera("posterior", {"index": 0, "rate_hz": 60.0}).open()
    assert raised.value.health.status is HealthStatus.MISCONFIGURED


def test_a_size_the_camera_does_not_deliver_is_refused(camera_from_video):
    with pytest.raises(DeviceUnavailable, match="delivers 128×96, not the requested width 640"):
        UvcCamera("posterior", {"index": 0, "width": 640}).open()
