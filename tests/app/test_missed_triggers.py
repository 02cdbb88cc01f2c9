"""A camera that ignores trigger pulses (missed triggers): its counter counts exposures and runs
behind the pulses; the file still holds each frame at its pulse index and exact session time,
names every missing frame by pulse, and says that the live video metrics predate the fix."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from app.session_controller import SessionController
from drivers.config import parse_config

MISSED = (150, 520)  # pulses the posterior camera ignores (one before the recording starts)
DROPPED = (600,)  # exposed, lost in transfer
RATE = 250.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    raw = {
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": RATE},
            {"name": "posterior", "kind": "sim.camera", "view": "posterior", "rate_hz": RATE},
        ],
        "simulation": {
            "preset": "healthy",
            "seed": 6,
            "duration_s": 4.0,
            "setup": {
                "image_width": 320,
                "image_height": 240,
                "missed_triggers": {"posterior": list(MISSED)},
                "dropped_frames": {"posterior": list(DROPPED)},
            },
        },
    }
    path = tmp_path_factory.mktemp("missed") / "missed.midstance.h5"
    controller = SessionController(parse_config(raw), pace="fast")
    controller.connect()
    try:
        assert controller.wait_for_session_time(1.0, timeout_s=120)
        controller.start_recording(path)
        assert controller.wait_for_session_time(3.5, timeout_s=120)
        result = controller.stop_recording()
        lab = controller.shared["sim.lab"]
        brief = controller.last_recording
    finally:
        controller.close()
    return result, lab, brief


def test_the_simulated_camera_counts_exposures_not_pulses(recording):
    _, lab, _ = recording
    pulses = np.arange(1000)
    counters = lab.frame_counters("posterior", pulses)
    assert counters[149] == 149 and counters[151] == 150 and counters[521] == 519
    np.testing.assert_array_equal(lab.missed_triggers("posterior"), MISSED)
    np.testing.assert_array_equal(lab.frame_counters("sagittal", pulses), pulses)


def test_each_frame_is_stored_at_its_pulse_and_exact_time(recording):
    path, lab, _ = recording
    with h5py.File(path, "r") as f:
        cam = f["cameras/posterior"]
        n = len(cam["session_time"])
        index = cam["frame_index"][:n]
        times = cam["session_time"][:n]
        dropped = cam["dropped_frames"][:]
        markers = cam["markers/frame_index"][:]
        assert cam.attrs["frame_index_from_witness"]
        sync = json.loads(f["devices"].attrs["sync_result_json"])["cameras"]["posterior"]
        note = f.attrs["recording_note"]
        other = f["cameras/sagittal"]
        assert "frame_index_from_witness" not in other.attrs  # nothing to correct there
    first, last = int(index[0]), int(index[-1])
    assert first > MISSED[0] and first < MISSED[1] < DROPPED[0] < last
    expected = [k for k in range(first, last + 1) if k not in MISSED and k not in DROPPED]
    np.testing.assert_array_equal(index, expected)  # every pulse, none renumbered away
    np.testing.assert_allclose(times, lab.frame_time("posterior", index), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(dropped, [MISSED[1], DROPPED[0]])  # by pulse, in the file
    assert set(markers.tolist()) <= set(index.tolist())  # marker rows follow their frames
    assert len(markers) >= 0.9 * len(index)
    assert sync["missed_trigger"] == list(MISSED)
    assert sync["dropped_in_transfer"] == list(DROPPED)
    assert sync["missing_in_recording"] == [MISSED[1], DROPPED[0]]
    assert "missed triggers" in note and "re-analyse" in note


def test_the_frame_stored_at_a_pulse_index_is_that_pulse_s_image(recording):
    """Index and content agree after the missed trigger (not just index and time)."""
    from data.session_reader import open_session

    path, lab, _ = recording
    with open_session(path) as session:
        cam = session.camera("posterior")
        index = cam.frame_index
        rows = np.flatnonzero(index > MISSED[1])[:3]
        for row in rows:
            k = int(index[row])
            stored = cam.frame(int(row)).astype(int)
            assert np.abs(stored - lab.frame("posterior", k)).mean() < 1.0
            # and not the neighbouring pulse's image (the runner moves in 4 ms)
            assert np.abs(stored - lab.frame("posterior", k - 1)).mean() > 1.0


def test_the_summary_names_the_missing_frames_by_pulse(recording):
    _, _, brief = recording
    assert brief["missing_frames"]["posterior"] == [MISSED[1], DROPPED[0]]
    assert "posterior:missed_triggers" in brief["brief"]["flags"]
    assert "posterior:frame_index_from_witness" in brief["brief"]["flags"]
