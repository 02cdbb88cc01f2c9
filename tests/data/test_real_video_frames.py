"""Real lab video (the pose2sim treadmill clip with skin markers) through every video codec."""

from __future__ import annotations

import numpy as np
import pytest

from data import open_session
from data.session_writer import CameraSpec, SessionWriter
from data.video_codecs import CodecChoice

N_FRAMES = 12


@pytest.fixture(scope="module")
def real_frames(real_data):
    import cv2

    capture = cv2.VideoCapture(str(real_data / "pose2sim" / "videos" / "cam01.mp4"))
    frames = []
    while len(frames) < N_FRAMES:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    capture.release()
    assert len(frames) == N_FRAMES
    return frames


@pytest.mark.real_data
def test_real_frames_through_each_codec(real_frames, tmp_path):
    h, w = real_frames[0].shape
    sizes = {}
    for codec in ("none", "lossless", "jpeg"):
        path = tmp_path / f"{codec}.midstance.h5"
        camera = CameraSpec("sagittal", h, w, 60.0, "sagittal", CodecChoice(codec))
        with SessionWriter(path, channel_names=("a",), daq_rate_hz=1200.0, cameras=[camera]) as wr:
            for k, frame in enumerate(real_frames):
                wr.append_frame("sagittal", frame, frame_index=k, session_time_s=k / 60.0)
        with open_session(path) as s:
            cam = s.camera("sagittal")
            assert cam.n_frames == N_FRAMES
            for k in (0, 5, N_FRAMES - 1):
                got = cam.frame(k).astype(float)
                if codec == "jpeg":
                    mse = np.mean((got - real_frames[k]) ** 2)
                    assert 10 * np.log10(255.0**2 / mse) > 38.0
                else:
                    np.testing.assert_array_equal(got, real_frames[k])
            frames = cam.h5_group["frames_jpeg" if codec == "jpeg" else "frames"]
            sizes[codec] = frames.id.get_storage_size()
    raw = N_FRAMES * h * w
    assert sizes["none"] == raw
    assert sizes["lossless"] < 0.65 * raw  # measured 0.54
    assert sizes["jpeg"] < 0.15 * raw  # measured 0.09, zero padding included
