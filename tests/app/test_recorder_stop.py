"""Stopping a recording while the disk is slow: acquired frames are never cut.

The stop grace period exists so that a camera that has not *delivered* frames up to the stop time
cannot hold the stop forever. It must never cut frames the camera did deliver and that were
waiting in the ring for a slow disk: the live analysis has already measured those frames, and a
file that lacks them could not reproduce its own results.
"""

from __future__ import annotations

import threading

import h5py

from app import recorder as recorder_module
from app import session_controller
from app.session_controller import SessionController
from data.session_writer import SessionWriter
from drivers.config import parse_config

WAITING_FRAMES = 100  # frames measured live but not yet on disk when the stop is asked for


def test_frames_waiting_for_a_slow_disk_are_written_before_the_stream_is_cut(
    tmp_path, monkeypatch, prerendered_camera
):
    """Real time with a 0.2 s stop grace, a disk three times too slow for 250 fps (at least
    12 ms a frame) and a camera serving pre-rendered frames on the trigger timeline. The stop is
    asked for once the live tracker has measured a frame ``WAITING_FRAMES`` past what the
    recorder has written — frames that need ~1.2 s of writing, six times the grace — so the test
    is decided by the stop rule, not by how fast this machine tracks."""
    original = SessionWriter.append_frame
    disk = threading.Event()  # never set: wait() is the slow disk's latency

    def slow_append(self, *args, **kwargs):
        disk.wait(0.012)
        return original(self, *args, **kwargs)

    tracked: dict[str, int] = {}
    waiting = threading.Event()
    add_markers = recorder_module.Recorder.add_markers

    def remember(self, camera, index, xy, quality):
        newest = int(max(index))
        tracked[camera] = max(tracked.get(camera, -1), newest)
        first = self.first_frame_index(camera)
        if first is not None and newest - (first + self.frames_written(camera)) > WAITING_FRAMES:
            waiting.set()
        return add_markers(self, camera, index, xy, quality)

    monkeypatch.setattr(SessionWriter, "append_frame", slow_append)
    monkeypatch.setattr(recorder_module.Recorder, "add_markers", remember)
    monkeypatch.setitem(session_controller.STOP_GRACE_S, "realtime", 0.2)
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {
                "name": "sagittal",
                "kind": prerendered_camera.KIND,
                "view": "sagittal",
                "rate_hz": 250.0,
            }
        ],
        "simulation": {"duration_s": 60.0, "setup": {"image_width": 160, "image_height": 120}},
    }
    controller = SessionController(
        parse_config(raw), pace="realtime", device_factory=prerendered_camera.factory
    )
    path = tmp_path / "slow-stop.midstance.h5"
    controller.connect()
    try:
        controller.start_recording(path)
        assert waiting.wait(timeout=40.0), "the tracker never got ahead of the slow disk"
        seen_before_stop = dict(tracked)  # the live view goes on after the stop; these may not
        controller.stop_recording()
    finally:
        controller.close()
    with h5py.File(path, "r") as f:
        frame_index = f["cameras/sagittal/frame_index"][:]
    last_seen = seen_before_stop["sagittal"]
    assert frame_index.size > WAITING_FRAMES
    # every frame the live analysis had measured when the stop was asked for is in the file
    assert frame_index[-1] >= last_seen, (frame_index[-1], last_seen)
    assert (frame_index == range(frame_index[0], frame_index[-1] + 1)).all()
