"""Stopping a recording while the disk is slow: acquired frames are never cut.

The stop grace period exists so that a camera that has not *delivered* frames up to the stop time
cannot hold the stop forever. It must never cut frames the camera did deliver and that were
waiting in the ring for a slow disk: the live analysis has already measured those frames, and a
file that lacks them could not reproduce its own results.
"""

from __future__ import annotations

import time

import h5py
import pytest

from app import recorder as recorder_module
from app import session_controller
from app.session_controller import SessionController
from data.session_writer import SessionWriter
from drivers.config import parse_config


@pytest.mark.soak  # real time: needs the tracker to keep up with 250 fps (varies on 2 cores)
def test_frames_waiting_for_a_slow_disk_are_written_before_the_stream_is_cut(tmp_path, monkeypatch):
    original = SessionWriter.append_frame

    def slow_append(self, *args, **kwargs):
        time.sleep(0.012)  # a disk three times too slow for 250 fps, not a wait for an event
        return original(self, *args, **kwargs)

    tracked: dict[str, int] = {}
    add_markers = recorder_module.Recorder.add_markers

    def remember(self, camera, index, xy, quality):
        tracked[camera] = max(tracked.get(camera, -1), int(index))
        return add_markers(self, camera, index, xy, quality)

    monkeypatch.setattr(SessionWriter, "append_frame", slow_append)
    monkeypatch.setattr(recorder_module.Recorder, "add_markers", remember)
    monkeypatch.setitem(session_controller.STOP_GRACE_S, "realtime", 0.2)
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": 250.0}
        ],
        "simulation": {"duration_s": 30.0, "setup": {"image_width": 160, "image_height": 120}},
    }
    controller = SessionController(parse_config(raw), pace="realtime")
    path = tmp_path / "slow-stop.midstance.h5"
    controller.connect()
    try:
        controller.start_recording(path)
        assert controller.wait_for_session_time(1.5, timeout_s=30)
        seen_before_stop = dict(tracked)  # the live view goes on after the stop; these may not
        controller.stop_recording()
    finally:
        controller.close()
    with h5py.File(path, "r") as f:
        frame_index = f["cameras/sagittal/frame_index"][:]
    last_seen = seen_before_stop.get("sagittal", -1)
    assert frame_index.size > 0 and last_seen > frame_index[0]
    # every frame the live analysis had measured when the stop was asked for is in the file
    assert frame_index[-1] >= last_seen, (frame_index[-1], last_seen)
