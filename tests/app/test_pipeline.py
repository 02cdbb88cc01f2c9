"""The live pipeline under faults: a consumer that raises and a camera unplugged mid-recording.

One recorded session (simulated lab, hardware sync, pace "fast") carries both faults: the force
analysis raises on its 30th block, and the posterior camera is "unplugged" at frame 400. The DAQ
and the sagittal camera must be recorded to the end regardless, the file must stay valid with
everything up to the fault, and the status and listeners must say what happened.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app import force_worker
from app.session_controller import SessionController
from app.session_setup import registry_factory
from drivers.base import DeviceLost
from drivers.config import parse_config
from drivers.sim.devices import SimulatedCamera

UNPLUG_AT_FRAME = 400
FAIL_AT_BLOCK = 30


class UnpluggedCamera(SimulatedCamera):
    """The simulated camera, pulled out of its socket at a given frame."""

    def _read(self, out, timeout_s):
        chunk = super()._read(out, timeout_s)
        if chunk.count and chunk.first_index + chunk.count > UNPLUG_AT_FRAME:
            raise DeviceLost(
                self.name,
                "the camera stopped answering (cable unplugged?)",
                "Check the camera's cable and power, then connect again.",
            )
        return chunk


def factory(kind, name, settings, shared):
    if name == "posterior":
        return UnpluggedCamera(name, settings, shared)
    return registry_factory(kind, name, settings, shared)


class FailingAnalyser(force_worker.StreamingForceAnalyser):
    pushes = 0

    def push(self, volts):
        FailingAnalyser.pushes += 1
        if FailingAnalyser.pushes == FAIL_AT_BLOCK:
            raise RuntimeError("analysis bug injected by the test")
        return super().push(volts)


@pytest.fixture(scope="module")
def faulty_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "faults.midstance.h5"
    raw = {
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": 250.0},
            {"name": "posterior", "kind": "sim.camera", "view": "posterior", "rate_hz": 250.0},
        ],
        "simulation": {
            "seed": 5,
            "duration_s": 8.0,
            "setup": {"image_width": 320, "image_height": 240},
        },
    }
    patch = pytest.MonkeyPatch()
    patch.setattr(force_worker, "StreamingForceAnalyser", FailingAnalyser)
    events = []
    try:
        controller = SessionController(parse_config(raw), pace="fast", device_factory=factory)
        controller.add_listener(lambda kind, payload: events.append((kind, payload)))
        controller.connect()
        controller.start_recording(path)
        reached = controller.wait_for_session_time(3.0, timeout_s=120)
        controller.stop_recording()
        status = controller.status()
        controller.close()
    finally:
        patch.undo()
    return {"path": path, "status": status, "events": events, "reached": reached}


def test_acquisition_and_recording_go_on_when_a_consumer_raises(faulty_session):
    status = faulty_session["status"]
    assert faulty_session["reached"]
    assert "analysis bug injected" in status.consumer_errors["analyse-force"]
    with h5py.File(faulty_session["path"], "r") as f:
        analog = f["daq/analog"]
        assert analog.shape[0] >= 3.0 * 2000 - analog.attrs["start_index"] - 1
        assert np.isfinite(analog[:]).all()
        # the sagittal camera was recorded to the end, frame after frame
        index = f["cameras/sagittal/frame_index"][:]
        np.testing.assert_array_equal(np.diff(index), 1)
        assert f["cameras/sagittal/session_time"][-1] > 2.9
        assert "live analysis 'analyse-force' failed" in f.attrs["recording_note"]


def test_an_unplugged_camera_is_reported_and_the_file_keeps_everything_before(faulty_session):
    status, events = faulty_session["status"], faulty_session["events"]
    errors = [p for kind, p in events if kind == "device-error"]
    assert [e["device"] for e in errors] == ["posterior"]
    assert "unplugged" in errors[0]["message"]
    banner = next(b for b in status.banners if "posterior" in b.text)
    assert banner.level == "error" and "cable" in banner.remedy
    posterior = next(d for d in status.devices if d.name == "posterior")
    assert posterior.health == "faulted"
    with h5py.File(faulty_session["path"], "r") as f:
        assert f.attrs["recording_state"] == "complete"
        frames = f["cameras/posterior/frame_index"][:]
        assert frames.size > 0 and frames[-1] < UNPLUG_AT_FRAME
        np.testing.assert_array_equal(np.diff(frames), 1)
        assert f["cameras/posterior/frames"].shape[0] == frames.size
        assert "device 'posterior' failed" in f.attrs["recording_note"]


def test_a_slow_recorder_holds_acquisition_up_loses_nothing_and_says_so(
    tmp_path, monkeypatch, prerendered_camera
):
    """A disk three times too slow for the frames (at least 12 ms a frame for 250 fps), under a
    camera that serves pre-rendered frames on the real-time trigger timeline (so it delivers at
    full rate on any machine): the camera's producer waits for the recorder once the 2 s ring is
    full, the session is flagged, and every recorded frame is there, in order."""
    import threading

    from data.session_writer import SessionWriter

    original = SessionWriter.append_frame
    disk = threading.Event()  # never set: wait() is the slow disk's latency

    def slow_append(self, *args, **kwargs):
        disk.wait(0.012)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SessionWriter, "append_frame", slow_append)
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {
                "name": "sagittal",
                "kind": prerendered_camera.KIND,
                "view": "sagittal",
                "rate_hz": 250.0,
                "track_markers": False,
            }
        ],
        "simulation": {"duration_s": 60.0, "setup": {"image_width": 160, "image_height": 120}},
    }
    events = []
    behind = threading.Event()

    def listen(kind, payload):
        events.append(kind)
        if kind == "recorder-behind":
            behind.set()

    controller = SessionController(
        parse_config(raw), pace="realtime", device_factory=prerendered_camera.factory
    )
    controller.add_listener(listen)
    path = tmp_path / "slow.midstance.h5"
    controller.connect()
    try:
        controller.start_recording(path)
        filled = behind.wait(timeout=40.0)  # ~3 s; the bound only stops a hang
        status = controller.status()
        controller.stop_recording()
    finally:
        controller.close()
    assert filled, "the ring never filled: the recorder kept up with a disk 3x too slow"
    assert status.recorder_behind and "recorder-behind" in events
    assert any("recorder fell behind" in b.text for b in status.banners)
    with h5py.File(path, "r") as f:
        assert "the recorder fell behind" in f.attrs["recording_note"]
        index = f["cameras/sagittal/frame_index"][:]
        np.testing.assert_array_equal(np.diff(index), 1)  # nothing dropped in between
        assert index.size > 2.0 * 250  # at least the full ring the recorder was behind by
        assert f["cameras/sagittal/frames"].shape[0] == index.size
