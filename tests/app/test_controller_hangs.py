"""Issue #9 and the stop/close hangs, Qt-free: what the window does between recordings at pace
"fast" (zero, then record again) and a device that goes silent while recording."""

from __future__ import annotations

import threading
import time

import h5py
import pytest

from app import session_controller as controller_mod
from app.session_controller import SessionController
from app.session_setup import registry_factory
from drivers.base import Chunk
from drivers.config import parse_config


def daq_only(duration_s: float = 200.0) -> SessionController:
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [],
        "simulation": {"duration_s": duration_s},
    }
    return SessionController(parse_config(raw), pace="fast")


def analysis_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "analyse-force"]


def test_new_plate_offsets_keep_one_force_analysis_and_the_daq_delivering(tmp_path):
    """A zero replaced the force analysis: the old one never met an empty read at pace "fast",
    so it ran on beside the new one; had it ended, its lossless reader stayed on the DAQ ring and
    the DAQ stopped one ring (20 s) later, so the next recording got no sample (issue #9)."""
    controller = daq_only()
    controller.connect()
    try:
        start, _ = controller.step_off_belt(1.5)
        result = controller.zero_plates(0.5, start_s=start + 0.1)
        offsets = result["plates"]["belt"]["zeroing"]["offsets_V"]
        assert analysis_threads() == ["analyse-force"]
        assert controller.force.plates[0].offsets_V.tolist() == list(offsets)
        zeroed = controller.daq_stream.latest_session_time_s
        assert controller.wait_for_session_time(zeroed + 30.0, timeout_s=120)
        after = [s for s in controller.stances() if s.contact_s > zeroed]
        assert len(after) >= 20  # the analysis goes on (about 1.4 stances a second)
        assert analysis_threads() == ["analyse-force"]
        controller.start_recording(tmp_path / "after-zero.midstance.h5", duration_s=0.5)
        assert controller.wait_for_session_time(controller.recording_started_s + 0.5, 60)
        path = controller.stop_recording()
    finally:
        controller.close()
    with h5py.File(path, "r") as f:
        assert f["daq/analog"].shape[0] == 1000  # 0.5 s at 2 kHz
    assert analysis_threads() == []


class GatedDevices:
    """The registry's simulated devices, but a gated device delivers nothing while its gate is
    closed (``read`` waits its timeout and returns no item, as a silent device does: no error)."""

    def __init__(self, **open_gates: bool) -> None:
        self.gates = {name: threading.Event() for name in open_gates}
        for name, is_open in open_gates.items():
            if is_open:
                self.gates[name].set()
        self.asked = dict.fromkeys(open_gates, 0)

    def factory(self, kind, name, settings, shared):
        device = registry_factory(kind, name, settings, shared)
        gate = self.gates.get(name)
        if gate is not None:
            original = device._read

            def read(out, timeout_s):
                if gate.is_set():
                    return original(out, timeout_s)
                self.asked[name] += 1
                gate.wait(timeout_s)
                return Chunk(count=0, first_index=0, host_time_s=time.monotonic())

            device._read = read
        return device


def lab_config(duration_s: float = 120.0):
    raw = {
        "lab": {"name": "gated lab", "treadmill": "single-belt"},
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": 250.0},
            {"name": "posterior", "kind": "sim.camera", "view": "posterior", "rate_hz": 250.0},
        ],
        "simulation": {
            "preset": "healthy",
            "seed": 4,
            "duration_s": duration_s,
            "setup": {"image_width": 320, "image_height": 240},
        },
    }
    return parse_config(raw)


def test_a_recording_starts_when_one_camera_runs_far_ahead_of_the_other(tmp_path):
    """Pace "fast": the DAQ is held near the slowest camera, and the recording starts after the
    newest item of any device. The recorder's reader held the slow camera a ring (2 s) past
    where it was, so the DAQ was held short of the start for ever: no sample was recorded."""
    gated = GatedDevices(posterior=False)
    controller = SessionController(lab_config(), pace="fast", device_factory=gated.factory)
    controller.connect()
    try:
        sagittal = controller.camera_streams["sagittal"]
        assert controller._wait(lambda: sagittal.latest_session_time_s > 5.0, 60)
        assert controller.daq_stream.latest_session_time_s <= 0.5 + 0.05  # held back
        controller.start_recording(tmp_path / "ahead.midstance.h5", duration_s=0.5)
        start = controller.recording_started_s
        assert start > 5.0
        gated.gates["posterior"].set()  # the slow camera catches up from its frame 0
        assert controller.wait_for_session_time(start + 0.5, timeout_s=120)
        path = controller.stop_recording()
    finally:
        controller.close()
    with h5py.File(path, "r") as f:
        assert f.attrs["recording_state"] == "complete"
        assert f["daq/analog"].shape[0] == 1000
        for camera in ("sagittal", "posterior"):
            assert f[f"cameras/{camera}/frame_index"].shape[0] == 125  # 0.5 s at 250 fps


@pytest.mark.parametrize("pace", ["realtime", "fast"])
def test_stop_and_close_are_bounded_when_the_daq_goes_silent(tmp_path, pace, monkeypatch):
    """The DAQ stops delivering (no error) after the recording began: the status says so once it
    lasts, the stop gives it up as failed after SILENT_AFTER_S, and the file closes complete with
    what was recorded and says why."""
    monkeypatch.setitem(controller_mod.SILENT_AFTER_S, "fast", 2.0)
    gated = GatedDevices(force=True)
    controller = SessionController(lab_config(), pace=pace, device_factory=gated.factory)
    controller.connect()
    try:
        path = controller.start_recording(tmp_path / "silent.midstance.h5")
        start = controller.recording_started_s
        assert controller.wait_for_session_time(start + 0.5, timeout_s=60)
        gated.gates["force"].clear()
        asked = gated.asked["force"]
        assert controller._wait(lambda: gated.asked["force"] > asked + 2, 30)
        silent_at = controller.daq_stream.latest_session_time_s

        def daq_message() -> str:
            return next(d for d in controller.status().devices if d.name == "force").message

        assert daq_message() == ""  # silent, but not for long yet
        assert controller._wait(lambda: daq_message().startswith("no data for"), 30)
        began = time.monotonic()
        controller.stop_recording()
        took = time.monotonic() - began
        status = controller.status()
    finally:
        not_stopped = controller.close()
    assert not_stopped == [] and controller.state == "closed"
    assert took < controller_mod.RECORDER_JOIN_S  # bounded by the silence, not the recorder's wait
    daq = next(d for d in status.devices if d.name == "force")
    assert daq.health == "faulted" and "delivered no data" in daq.message
    with h5py.File(path, "r") as f:
        assert f.attrs["recording_state"] == "complete"
        assert "device 'force' failed" in f.attrs["recording_note"]
        rows = f["daq/analog"].shape[0]
        start_index = int(f["daq/analog"].attrs["start_index"])
    assert rows >= 1000 and (start_index + rows - 1) / 2000.0 == pytest.approx(silent_at, abs=1e-9)


def test_stop_is_bounded_when_a_camera_never_delivers(tmp_path, monkeypatch):
    """Pace "fast": a camera that sends nothing holds the DAQ back and, at the stop, would be
    waited for the whole grace (120 s). It is given up as failed; the file closes complete with
    the DAQ and the other camera up to the stop, and names the silent camera."""
    monkeypatch.setitem(controller_mod.SILENT_AFTER_S, "fast", 2.0)
    gated = GatedDevices(posterior=False)
    controller = SessionController(lab_config(), pace="fast", device_factory=gated.factory)
    controller.connect()
    try:
        sagittal = controller.camera_streams["sagittal"]
        assert controller._wait(lambda: sagittal.latest_session_time_s > 2.0, 60)
        path = controller.start_recording(tmp_path / "no-posterior.midstance.h5")
        assert controller._wait(path.is_file, 60)
        began = time.monotonic()
        controller.stop_recording()
        took = time.monotonic() - began
        summary = controller.last_recording
    finally:
        assert controller.close() == []
    assert took < 60.0  # the silence (2 s here) ended the wait, not the 120 s grace
    assert "device_failed:posterior" in summary["acquisition"]["flags"]
    stop_s = summary["acquisition"]["stop_session_time_s"]
    with h5py.File(path, "r") as f:
        assert f.attrs["recording_state"] == "complete"
        assert "device 'posterior' failed" in f.attrs["recording_note"]
        assert f["cameras/posterior/frame_index"].shape[0] == 0
        analog = f["daq/analog"]
        end_s = (int(analog.attrs["start_index"]) + analog.shape[0]) / 2000.0
        assert end_s == pytest.approx(stop_s, abs=1 / 2000.0)
        assert f["cameras/sagittal/session_time"][-1] < stop_s
