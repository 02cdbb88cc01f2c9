"""The simulated DAQ and cameras through the driver contract (drivers.contract.exercise_device)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from drivers.base import DeviceLost, DeviceUnavailable, HealthStatus, monotonic
from drivers.contract import exercise_device
from drivers.registry import create_device, probe
from drivers.sim import LabSetup, SimulatedLab, preset

BASE = {"preset": "healthy", "seed": 2, "duration_s": 2.0, "pace": "fast"}


def _pair(sync_mode: str = "hardware", **setup):
    """A DAQ and a sagittal camera sharing one lab, as a session would create them."""
    shared = {"sim.settings": {"sync_mode": sync_mode, "setup": setup}}
    daq = create_device("sim.daq", "force", {**BASE, "rate_hz": 2000}, shared)
    cam = create_device("sim.camera", "sagittal", {**BASE, "rate_hz": 250}, shared)
    return daq, cam, shared


def test_daq_delivers_every_sample_once_with_the_lab_voltages():
    daq, _, shared = _pair()
    report = exercise_device(daq, 4000, chunk_items=300)
    lab: SimulatedLab = shared["sim.lab"]
    assert lab.n_samples == 4000
    np.testing.assert_array_equal(report.indices, np.arange(4000))
    np.testing.assert_array_equal(report.data, lab.analog(0, 4000))
    assert report.dropped == 0
    assert daq.state.value == "closed"


def test_camera_delivers_every_frame_once_in_software_sync():
    shared = {"sim.settings": {"sync_mode": "software"}}
    cam = create_device("sim.camera", "posterior", {**BASE, "rate_hz": 250}, shared)
    report = exercise_device(cam, 400, chunk_items=16)
    lab = shared["sim.lab"]
    np.testing.assert_array_equal(report.indices, np.arange(400))
    for k in (0, 17, 399):
        np.testing.assert_array_equal(report.data[k], lab.frame("posterior", k))


def test_dropped_frames_are_missing_indices_and_counted():
    shared = {
        "sim.settings": {
            "sync_mode": "software",
            "setup": {"dropped_frames": {"sagittal": [3, 4, 40]}, "drop_probability": 0.02},
        }
    }
    cam = create_device("sim.camera", "sagittal", {**BASE, "rate_hz": 250}, shared)
    report = exercise_device(cam, 300, chunk_items=10)
    lab: SimulatedLab = shared["sim.lab"]
    dropped = lab.dropped_frames("sagittal")
    expected = np.setdiff1d(np.arange(report.indices[-1] + 1), dropped)
    np.testing.assert_array_equal(report.indices, expected)
    assert report.dropped == np.count_nonzero(dropped <= report.indices[-1])
    assert {3, 4, 40} <= set(dropped.tolist()) and len(dropped) > 5
    np.testing.assert_array_equal(report.data[3], lab.frame("sagittal", 5))


def test_camera_chunks_carry_camera_clock_times_and_explicit_indices_after_drops():
    shared = {
        "sim.settings": {"sync_mode": "software", "setup": {"dropped_frames": {"sagittal": [5]}}}
    }
    cam = create_device("sim.camera", "sagittal", {**BASE, "rate_hz": 250}, shared)
    cam.open()
    cam.start()
    buffer = cam.describe().empty_buffer(10)
    chunk = cam.read(buffer)
    lab: SimulatedLab = shared["sim.lab"]
    assert chunk.count == 10 and chunk.dropped == 1
    np.testing.assert_array_equal(chunk.item_indices(), [0, 1, 2, 3, 4, 6, 7, 8, 9, 10])
    np.testing.assert_allclose(chunk.device_time_s, chunk.item_indices() / 250, atol=1e-12)
    np.testing.assert_allclose(
        lab.camera_time(lab.frame_time("sagittal", chunk.item_indices())), chunk.device_time_s
    )
    cam.close()


def test_hardware_triggered_cameras_wait_for_the_daq():
    daq, cam, _ = _pair("hardware")
    cam.open()
    cam.start()
    buffer = cam.describe().empty_buffer(4)
    assert cam.read(buffer, timeout_s=0.05).count == 0  # not triggered yet
    daq.open()
    daq.start()
    chunk = cam.read(buffer, timeout_s=1.0)
    assert chunk.count == 4 and chunk.first_index == 0
    cam.close()
    daq.close()


def test_stop_releases_a_blocked_read():
    _, cam, _ = _pair("hardware")
    cam.open()
    cam.start()
    buffer = cam.describe().empty_buffer(4)
    result = {}

    def reader():
        result["chunk"] = cam.read(buffer, timeout_s=30.0)

    thread = threading.Thread(target=reader)
    thread.start()
    cam.stop()
    thread.join(timeout=10.0)
    assert not thread.is_alive()
    assert result["chunk"].count == 0
    cam.close()


def test_realtime_pace_never_delivers_an_item_before_its_time():
    shared = {"sim.settings": {"sync_mode": "hardware"}}
    settings = {**BASE, "pace": "realtime"}
    daq = create_device("sim.daq", "force", {**settings, "rate_hz": 2000}, shared)
    cam = create_device("sim.camera", "sagittal", {**settings, "rate_hz": 250}, shared)
    daq.open()
    cam.open()
    daq.start()
    cam.start()
    origin = shared["sim.clock"].origin
    lab: SimulatedLab = shared["sim.lab"]
    samples, frames = [], []
    daq_buffer = daq.describe().empty_buffer(200)
    cam_buffer = cam.describe().empty_buffer(8)
    while len(samples) < 1000 or len(frames) < 100:  # 0.5 s and 0.4 s of data
        if len(samples) < 1000:
            chunk = daq.read(daq_buffer, timeout_s=1.0)
            for i in chunk.item_indices():
                assert chunk.host_time_s - origin >= i / 2000
            samples += chunk.item_indices().tolist()
        if len(frames) < 100:
            chunk = cam.read(cam_buffer, timeout_s=1.0)
            exposure_end = lab.frame_time("sagittal", chunk.item_indices()) + 0.001
            assert np.all(chunk.host_time_s - origin >= exposure_end)
            frames += chunk.item_indices().tolist()
            np.testing.assert_array_equal(
                cam_buffer[: chunk.count], lab.frames("sagittal", chunk.item_indices())
            )
    assert samples[:1000] == list(range(1000)) and frames[:100] == list(range(100))
    daq.close()
    cam.close()
    assert monotonic() - origin >= 0.5


def test_end_of_session_and_bad_settings_are_clear():
    daq = create_device("sim.daq", "force", {**BASE, "duration_s": 0.5, "rate_hz": 2000}, {})
    daq.open()
    daq.start()
    buffer = daq.describe().empty_buffer(2000)
    assert daq.read(buffer).count == 1000
    with pytest.raises(DeviceLost, match=r"ended after 0\.5 s"):
        daq.read(buffer)
    daq.close()
    health = probe("sim.daq", "force", {"pace": "warp"})
    assert health.status is HealthStatus.MISCONFIGURED and "warp" in health.reason
    health = probe("sim.camera", "front", {})
    assert health.status is HealthStatus.MISCONFIGURED
    bad = create_device("sim.daq", "force", {"preset": "sprinter"}, {})
    with pytest.raises(DeviceUnavailable, match="healthy, overstrider"):
        bad.open()


def test_a_lab_placed_in_shared_is_used_as_is():
    lab = SimulatedLab(preset("forefoot"), LabSetup(treadmill="split-belt"), seed=8, duration_s=1)
    shared = {"sim.lab": lab}
    daq = create_device("sim.daq", "force", {"pace": "fast"}, shared)
    description = daq.open()
    assert description.channel_names[:2] == ("left.Fx", "left.Fy")
    assert description.settings["lab"]["runner"]["foot_strike"] == "forefoot"
    daq.close()


def test_session_zero_is_the_daq_start_and_a_restart_begins_again():
    shared = {"sim.settings": {"sync_mode": "hardware"}}
    settings = {**BASE, "pace": "realtime"}
    daq = create_device("sim.daq", "force", {**settings, "rate_hz": 2000}, shared)
    cam = create_device("sim.camera", "sagittal", {**settings, "rate_hz": 250}, shared)
    cam.open()
    daq.open()
    cam.start()  # before the DAQ: waits for its trigger
    camera_started = shared["sim.clock"].origin
    daq.start()
    origin = shared["sim.clock"].origin
    assert origin >= camera_started
    frames = cam.describe().empty_buffer(2)
    chunk = cam.read(frames, timeout_s=2.0)
    assert chunk.first_index == 0 and chunk.host_time_s - origin >= 0.001
    samples = daq.describe().empty_buffer(50)
    first = daq.read(samples, timeout_s=2.0)
    assert first.first_index == 0
    daq.stop()
    daq.start()
    again = daq.read(samples, timeout_s=2.0)
    assert again.first_index == 0 and shared["sim.clock"].origin > origin
    np.testing.assert_array_equal(samples[: again.count], shared["sim.lab"].analog(0, again.count))
    daq.close()
    cam.close()
