"""Recorded videos as cameras: real files from other labs, lossless synthetic files, bad files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drivers.base import DeviceUnavailable, HealthStatus
from drivers.camera.video_file import VideoFileCamera
from drivers.contract import exercise_device


def disc_video(make_video, tmp_path, disc_images, *, fps=25.0, repeat=3, timestamps_ms=None):
    _, frames = disc_images
    frames = np.concatenate([frames] * repeat)
    return make_video(tmp_path / "discs.mkv", frames, fps, timestamps_ms), frames


def stream_all(camera: VideoFileCamera, chunk_items: int = 16):
    """Read a whole file in chunks; per-frame means, indices, device times, and the shape."""
    means, indices, times = [], [], []
    with camera:
        description = camera.describe()
        camera.start()
        buffer = description.empty_buffer(chunk_items)
        while not camera.end_of_file:
            chunk = camera.read(buffer, timeout_s=5.0)
            means.extend(buffer[: chunk.count].mean(axis=(1, 2)).tolist())
            indices.extend(chunk.item_indices().tolist())
            times.extend(chunk.device_time_s.tolist())
        assert camera.read(buffer, timeout_s=0.05).count == 0  # nothing after the last frame
    return np.array(means), np.array(indices), np.array(times), description


def independent_means(path) -> np.ndarray:
    """Per-frame mean grey level from a plain OpenCV decode, to check order and completeness."""
    capture = cv2.VideoCapture(str(path))
    means = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        means.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).mean())
    capture.release()
    return np.array(means)


def test_a_lossless_video_passes_the_contract_pixel_exact(make_video, tmp_path, disc_images):
    path, frames = disc_video(make_video, tmp_path, disc_images)
    report = exercise_device(
        VideoFileCamera("sagittal", {"path": str(path)}), len(frames), chunk_items=4
    )
    np.testing.assert_array_equal(report.data, frames)
    np.testing.assert_array_equal(report.indices, np.arange(len(frames)))
    assert report.dropped == 0


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("relative", "n_frames", "shape", "fps"),
    [
        ("sports2d/demo.mp4", 230, (994, 1768), 30.0),
        ("pose2sim/videos/cam01.mp4", 100, (1920, 1080), 60.0),
    ],
)
def test_real_videos_deliver_every_frame_once_in_order(real_data, relative, n_frames, shape, fps):
    path = real_data / relative
    camera = VideoFileCamera("sagittal", {"path": str(path), "rate_hz": fps})
    means, indices, times, description = stream_all(camera)
    assert description.shape == shape and description.dtype == "uint8"
    assert description.rate_hz == pytest.approx(fps, rel=1e-6)
    assert description.settings["timing"] == "constant frame rate: container timestamps"
    np.testing.assert_array_equal(indices, np.arange(n_frames))
    np.testing.assert_allclose(times, np.arange(n_frames) / fps, atol=1e-6)
    if n_frames <= 100:  # a second, independent decode (skipped for the long file: time)
        np.testing.assert_array_equal(means, independent_means(path))
    assert np.all(np.diff(means) != 0)  # no frame delivered twice in a row


def test_a_variable_frame_rate_file_is_refused_naming_the_file(make_video, tmp_path, disc_images):
    stamps = [0, 40, 80, 150, 190, 230, 300, 340, 380, 420, 460, 500, 540, 580, 620]
    path, _ = disc_video(make_video, tmp_path, disc_images, timestamps_ms=stamps)
    camera = VideoFileCamera("sagittal", {"path": str(path)})
    with pytest.raises(DeviceUnavailable, match="has a variable frame rate") as raised:
        camera.open()
    assert raised.value.health.status is HealthStatus.MISCONFIGURED
    assert str(path) in str(raised.value)
    assert "intervals 40.00–70.00 ms" in str(raised.value)


def test_a_variable_frame_rate_file_can_be_timed_by_its_own_timestamps(
    make_video, tmp_path, disc_images
):
    stamps = [0, 40, 80, 150, 190, 230, 300, 340, 380, 420, 460, 500, 540, 580, 620]
    path, frames = disc_video(make_video, tmp_path, disc_images, timestamps_ms=stamps)
    settings = {"path": str(path), "variable_frame_rate": "timestamps", "rate_hz": 25.0}
    camera = VideoFileCamera("sagittal", settings)  # rate_hz: not matched against a VFR file
    _, indices, times, description = stream_all(camera, chunk_items=4)
    np.testing.assert_array_equal(indices, np.arange(len(frames)))
    np.testing.assert_allclose(times, np.array(stamps) / 1000.0, atol=1e-9)
    assert description.settings["timing"].startswith("variable frame rate")
    assert description.rate_hz == pytest.approx(14 / 0.620)  # frames per second over the file


def test_a_configured_rate_that_differs_from_the_file_is_misconfigured(
    make_video, tmp_path, disc_images
):
    path, _ = disc_video(make_video, tmp_path, disc_images)
    with pytest.raises(DeviceUnavailable, match=r"rate_hz is 30 but .* recorded at 25 fps"):
        VideoFileCamera("sagittal", {"path": str(path), "rate_hz": 30.0}).open()


def test_realtime_pace_never_delivers_a_frame_before_its_time(make_video, tmp_path, disc_images):
    path, _ = disc_video(make_video, tmp_path, disc_images, fps=1.0, repeat=1)
    with VideoFileCamera("sagittal", {"path": str(path), "pace": "realtime"}) as camera:
        camera.start()
        buffer = camera.describe().empty_buffer(5)
        chunk = camera.read(buffer, timeout_s=0.2)  # frame 1 is due 1 s after start
        assert (chunk.count, chunk.first_index) == (1, 0)


def test_a_missing_file_is_absent(tmp_path):
    health = VideoFileCamera.probe("sagittal", {"path": str(tmp_path / "nope.mp4")})
    assert health.status is HealthStatus.ABSENT
    assert "nope.mp4 does not exist" in health.reason


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    health = VideoFileCamera.probe("sagittal", {"path": str(path)})
    assert health.status is HealthStatus.ERROR
    assert f"{path} cannot be read as a video" in health.reason
    with pytest.raises(DeviceUnavailable, match="cannot be read as a video"):
        VideoFileCamera("sagittal", {"path": str(path)}).open()


@pytest.mark.real_data
def test_a_truncated_real_video_is_refused_not_cut_short(real_data, tmp_path):
    original = (real_data / "sports2d/demo.mp4").read_bytes()
    path = tmp_path / "demo_truncated.mp4"
    path.write_bytes(original[: len(original) * 2 // 5])
    with pytest.raises(
        DeviceUnavailable, match=r"demo_truncated\.mp4 is damaged or truncated"
    ) as e:
        VideoFileCamera("sagittal", {"path": str(path)}).open()
    assert "announces 230 frames but decoding stops after" in str(e.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "path: is missing"),
        ({"path": "x.mp4", "pace": "slow"}, "pace: 'slow' is not allowed"),
        ({"path": "x.mp4", "variable_frame_rate": "guess"}, "variable_frame_rate: 'guess'"),
    ],
)
def test_bad_settings_are_misconfigured(settings, message):
    health = VideoFileCamera.probe("sagittal", settings)
    assert health.status is HealthStatus.MISCONFIGURED
    assert message in health.reason
