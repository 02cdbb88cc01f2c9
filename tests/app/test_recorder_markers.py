"""Marker rows reach the file for exactly the frames recorded, once each, in frame order — also
when the tracker is ahead of the recorder (its rows wait for their frames) and when a batch of
rows straddles the recording's start or stop (app/recorder.py)."""

from __future__ import annotations

from types import SimpleNamespace

import h5py
import numpy as np

from app.pipeline import wait_until
from app.recorder import Recorder
from app.ring_buffer import RingBuffer
from data.session_writer import CameraSpec, SessionWriter

DAQ_HZ, FPS, SIZE = 1000.0, 100.0, (8, 8)
LABELS = ("hip", "knee")


def stream(name: str, rate_hz: float, shape: tuple[int, ...], dtype: str, capacity: int):
    return SimpleNamespace(
        name=name, rate_hz=rate_hz, ring=RingBuffer(name, shape, dtype, capacity), fault=None
    )


def rows(first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marker rows of frames first..last: every value says which frame and marker it is."""
    index = np.arange(first, last + 1)
    per_frame = np.stack([index + 0.25, -index.astype(float)], axis=-1)
    xy = per_frame[:, None, :] + np.array([[0.0, 0.0], [1000.0, 1000.0]])  # (frames, markers, 2)
    quality = np.tile([1.0, 0.0], (len(index), 1))
    return index, xy, quality


def test_rows_of_recorded_frames_only_once_each_in_order_whenever_they_arrive(tmp_path):
    path = tmp_path / "markers.midstance.h5"
    daq = stream("force", DAQ_HZ, (1,), "f8", 2000)
    cam = stream("cam", FPS, SIZE, "u1", 64)
    spec = CameraSpec("cam", *SIZE, FPS, "sagittal", marker_labels=LABELS)

    def make_writer(start_index: int) -> SessionWriter:
        return SessionWriter(
            path, channel_names=("fz",), daq_rate_hz=DAQ_HZ, cameras=[spec],
            start_index=start_index,
        )  # fmt: skip

    recorder = Recorder(make_writer, daq, [cam], stop_grace_s=5.0)

    def write_frames(first: int, last: int) -> None:
        for k in range(first, last + 1):  # frame k shows its counter in every pixel
            image = np.full((1, *SIZE), k, np.uint8)
            cam.ring.write(image, first_index=k, session_time_s=np.array([k / FPS]))

    def recorder_has(frames_written: int) -> None:
        assert wait_until(
            lambda: recorder.queue.empty() and recorder.frames_written("cam") == frames_written,
            timeout_s=10.0,
        )

    # the tracker ahead of the recorder: rows of frames not delivered yet, the first batch
    # straddling the start (frames 95-99 come before it and are not recorded)
    recorder.add_markers("cam", *rows(95, 104))
    recorder.add_markers("cam", *rows(105, 108))
    recorder.start(at_s=1.0)
    samples = np.arange(900, 1600)
    daq.ring.write(samples[:, None] * 1.0, first_index=900, session_time_s=samples / DAQ_HZ)
    assert recorder.created.wait(10.0)
    recorder_has(0)  # the rows are waiting: no frame of this camera is written yet
    write_frames(90, 102)
    recorder_has(3)
    recorder.add_markers("cam", *rows(109, 112))  # a batch whose frames are all still to come
    recorder_has(3)
    write_frames(103, 118)
    recorder_has(19)
    recorder.add_markers("cam", *rows(113, 121))  # frames partly written, partly not
    write_frames(119, 130)
    recorder.add_markers("cam", *rows(122, 130))  # straddles the stop: 125-130 not recorded
    recorder.stop_at(1.25)
    daq.ring.close()
    cam.ring.close()
    assert recorder.join(30.0)
    assert recorder.error is None
    recorder.writer.close()

    with h5py.File(path, "r") as f:
        recorded = f["cameras/cam/frame_index"][:]
        m = f["cameras/cam/markers"]
        index, xy, quality = m["frame_index"][:], m["xy"][:], m["quality"][:]
        first_pixel = f["cameras/cam/frames"][:, 0, 0]
    np.testing.assert_array_equal(recorded, np.arange(100, 125))
    np.testing.assert_array_equal(first_pixel, np.arange(100, 125))
    np.testing.assert_array_equal(index, recorded)  # once each, in order, nothing else
    _, expected_xy, expected_quality = rows(100, 124)
    np.testing.assert_array_equal(xy, expected_xy.astype("f4"))
    np.testing.assert_array_equal(quality, expected_quality.astype("f4"))
