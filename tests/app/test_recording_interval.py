"""Every stream of a session file covers the same session interval (app/recorder.py docstring).

At pace "fast" the DAQ runs ahead of the cameras and the cameras of each other; a recording must
still start and stop at one session time for all of them: the DAQ's first sample, and each
camera's first frame, at the start; the same stop for all."""

from __future__ import annotations

import h5py
import pytest

from app.session_controller import SessionController
from drivers.config import parse_config

RATE_HZ, FPS = 2000.0, 250.0


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": RATE_HZ},
        "cameras": [
            {"name": view, "kind": "sim.camera", "view": view, "rate_hz": FPS}
            for view in ("sagittal", "posterior")
        ],
        "simulation": {"duration_s": 60.0, "setup": {"image_width": 160, "image_height": 120}},
    }
    folder = tmp_path_factory.mktemp("interval")
    controller = SessionController(parse_config(raw), pace="fast")
    controller.connect()
    out = {}
    try:
        # "1 s, then stop": the stop comes as soon as every device has delivered 1 s
        path = controller.start_recording(folder / "one-second.midstance.h5")
        start = controller.recording_started_s
        assert controller.wait_for_session_time(start + 1.0, timeout_s=60)
        controller.stop_recording()
        out["stopped"] = (path, start)
        # a recording of a set duration stops exactly there, whatever was delivered beyond
        path = controller.start_recording(folder / "set.midstance.h5", duration_s=1.0)
        start = controller.recording_started_s
        assert controller.wait_for_session_time(start + 1.5, timeout_s=60)
        controller.stop_recording()
        out["set"] = (path, start)
    finally:
        controller.close()
    return out


def streams(path):
    with h5py.File(path, "r") as f:
        analog = f["daq/analog"]
        first = analog.attrs["start_index"] / RATE_HZ
        daq = (first, first + analog.shape[0] / RATE_HZ, analog.shape[0])
        cams = {
            c: (f[f"cameras/{c}/session_time"][0], f[f"cameras/{c}/session_time"][-1],
                f[f"cameras/{c}/session_time"].shape[0])
            for c in f["cameras"]
        }  # fmt: skip
    return daq, cams


def test_a_stopped_recording_has_every_stream_over_the_same_interval(recordings):
    path, start = recordings["stopped"]
    (daq_start, daq_end, n), cams = streams(path)
    assert daq_start == pytest.approx(start, abs=1e-9)
    assert daq_end - daq_start >= 1.0
    for first, last, frames in cams.values():
        # first frame at or just after the first sample; last frame inside the last period
        assert 0 <= first - daq_start < 1 / FPS
        assert 0 <= daq_end - last <= 1 / FPS + 1e-9
        assert frames == pytest.approx(n * FPS / RATE_HZ, abs=1)
    assert len({c[2] for c in cams.values()}) == 1  # both cameras: the same number of frames


def test_a_recording_of_set_duration_holds_exactly_that(recordings):
    path, start = recordings["set"]
    (daq_start, _, n), cams = streams(path)
    assert daq_start == pytest.approx(start, abs=1e-9)
    assert n == 2000
    assert {c: v[2] for c, v in cams.items()} == {"sagittal": 250, "posterior": 250}
