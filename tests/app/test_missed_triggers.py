"""A camera that ignores trigger pulses (missed triggers): its counter counts exposures and runs
behind the pulses; the file still holds each frame at its pulse index and exact session time,
names every missing frame by pulse, and says that the live video metrics predate the fix."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from app import session_finish
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
    patch = pytest.MonkeyPatch()
    # at pace fast seconds of session pass between two once-a-second reconciliations: the
    # DAQ's producer reconciles every 10 ms of wall time here, so that the test does not
    # depend on the machine's speed
    patch.setattr(session_finish, "LIVE_RECONCILE_INTERVAL_S", 0.01)
    controller.connect()
    try:
        assert controller.wait_for_session_time(1.0, timeout_s=120)
        controller.start_recording(path)
        # nobody polls the status (a headless script): the session follows the witness itself
        assert controller.wait_for_session_time(3.5, timeout_s=120)
        banners = [b.text for b in controller._banner_list()]  # the list, not a status call
        store = controller.trackers["posterior"].store
        live = store.window(-np.inf, np.inf)[0], store.index.copy(), store.time_s.copy()
        result = controller.stop_recording()
        lab = controller.shared["sim.lab"]
        brief = controller.last_recording
    finally:
        controller.close()
        patch.undo()
    return result, lab, {**brief, "banners": banners, "live": live}


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


def test_live_frames_are_timed_by_pulse_once_the_witness_shows_the_miss(recording):
    """The live reconciliation follows the camera's counter without a status call: frames
    after the misses carry their pulse's time in the live tracks, and a banner says what
    happened."""
    _, lab, brief = recording
    _, counters, times = brief["live"]
    kept = counters >= 0
    pulses = lab.frame_counters("posterior", np.arange(2000))
    pulse_of = {int(c): k for k, c in enumerate(pulses) if k not in MISSED}
    late = counters[kept] > MISSED[1] + 50  # well after the second miss was reconciled
    assert late.sum() > 100
    expected = lab.frame_time("posterior", [pulse_of[int(c)] for c in counters[kept][late]])
    np.testing.assert_allclose(times[kept][late], expected, rtol=0, atol=1e-9)
    assert any("ignored 2 trigger pulse(s)" in text for text in brief["banners"])


def test_the_summary_names_the_missing_frames_by_pulse(recording):
    _, _, brief = recording
    assert brief["missing_frames"]["posterior"] == [MISSED[1], DROPPED[0]]
    assert "posterior:missed_triggers" in brief["brief"]["flags"]
    assert "posterior:frame_index_from_witness" in brief["brief"]["flags"]
