"""The session controller on the simulated lab (hardware sync, pace "fast", small frames,
marker tracking in worker processes as in real time):
one recorded session checked against the lab's ground truth, then the wrong-state errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from app.session_controller import SessionController
from app.session_types import ControllerError
from drivers.config import parse_config

DROPPED = (300, 301, 555)


def sim_config(duration_s: float = 8.0, **setup):
    setup = {"image_width": 320, "image_height": 240, **setup}
    raw = {
        "lab": {"name": "test lab", "treadmill": "single-belt"},
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": 250.0},
            {"name": "posterior", "kind": "sim.camera", "view": "posterior", "rate_hz": 250.0},
        ],
        "simulation": {
            "preset": "valgus-left",
            "seed": 3,
            "duration_s": duration_s,
            "setup": setup,
        },
    }
    return parse_config(raw)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One 4-second recording with three injected dropped frames; what it produced."""
    path = tmp_path_factory.mktemp("rec") / "session.midstance.h5"
    controller = SessionController(
        sim_config(dropped_frames={"sagittal": DROPPED}), pace="fast", analysis_processes=True
    )
    events: list[tuple[str, dict]] = []
    controller.add_listener(lambda kind, payload: events.append((kind, payload)))
    controller.add_listener(lambda kind, payload: 1 / 0)  # a broken listener changes nothing
    controller.connect()
    controller.set_subject({"id": "P-001", "body_mass_kg": 70.0})
    controller.start_recording(path, protocol="test")
    assert controller.wait_for_session_time(4.0, timeout_s=120)
    controller.mark("pain 2/10")
    stopped = controller.stop_recording()
    status = controller.status()
    stances = controller.stances()
    summary = controller.summary()
    window = controller.force_window(2.0)
    frame = controller.latest_frame("posterior")
    lab = controller.shared["sim.lab"]
    controller.close()
    inline = SessionController(sim_config(duration_s=3.0), pace="fast")
    inline.connect()
    try:
        assert inline.wait_for_session_time(2.5, timeout_s=120)
        assert inline._wait(lambda: inline.freeze_frame("sagittal") is not None, 60)
        freeze = inline.freeze_frame("sagittal")
    finally:
        inline.close()
    return {
        "path": stopped,
        "status": status,
        "stances": stances,
        "summary": summary,
        "window": window,
        "frame": frame,
        "freeze": freeze,
        "lab": lab,
        "events": events,
    }


def test_every_frame_has_its_exact_session_time_and_dropped_frames_are_named(recorded):
    lab = recorded["lab"]
    with h5py.File(recorded["path"], "r") as f:
        assert f.attrs["recording_state"] == "complete"
        for camera in ("sagittal", "posterior"):
            g = f[f"cameras/{camera}"]
            index = g["frame_index"][:]
            exact = lab.frame_time(camera, index)  # 20 µs trigger delay + k · 4 ms
            np.testing.assert_allclose(g["session_time"][:], exact, rtol=0, atol=1e-12)
        sagittal = f["cameras/sagittal"]
        assert sorted(sagittal["dropped_frames"][:].tolist()) == list(DROPPED)
        assert not set(DROPPED) & set(sagittal["frame_index"][:].tolist())
        assert f["cameras/posterior/dropped_frames"].shape == (0,)
        assert "300, 301, 555" in f.attrs["recording_note"]
        analog = f["daq/analog"]
        start = int(analog.attrs["start_index"])
        np.testing.assert_array_equal(analog[:50], lab.analog(start, 50))
        # every stream covers the same interval: no frame after the last sample
        end_s = (start + analog.shape[0]) / 2000.0
        assert sagittal["session_time"][-1] < end_s
        assert f["session/marks"][0]["label"] == b"pain 2/10"
    assert recorded["status"].dropped_frames["sagittal"] == DROPPED
    sagittal_status = next(d for d in recorded["status"].devices if d.name == "sagittal")
    assert sagittal_status.dropped == len(DROPPED)


def _match(lab, stance):
    truth = [t for t in lab.truth.stances if abs(t.contact_s - stance.contact_s) < 0.005]
    assert len(truth) == 1, f"no true stance at {stance.contact_s:.3f} s"
    return truth[0]


def test_live_stances_join_force_and_video_and_match_the_truth(recorded):
    lab, stances = recorded["lab"], recorded["stances"]
    assert len(stances) >= 10
    fppa_errors, drop_errors, valr_errors, hip_errors = [], [], [], []
    for s in stances:
        truth = _match(lab, s)
        d = s.to_dict()
        assert d["side"] == truth.side
        assert d["toe_off_s"] == pytest.approx(truth.toe_off_s, abs=0.003)
        valr_errors.append(d["valr_N_s"] / truth.valr_N_s - 1)
        if d.get("fppa_midstance_deg") is not None:
            fppa_errors.append(d["fppa_midstance_deg"] - truth.fppa_midstance_deg)
            drop_errors.append(d["pelvic_drop_deg"] - truth.pelvic_drop_deg)
        if s.side == "R":
            hip_errors.append(d["hip_ankle_contact_m"] - truth.hip_ankle_contact_m)
    assert len(fppa_errors) == len(stances)  # the posterior camera sees both legs
    assert np.max(np.abs(valr_errors)) < 0.05
    assert np.max(np.abs(fppa_errors)) < 2.0
    assert np.max(np.abs(drop_errors)) < 1.5
    assert hip_errors and np.max(np.abs(hip_errors)) < 0.02
    left = recorded["summary"]["L"]["fppa_midstance_deg"]
    right = recorded["summary"]["R"]["fppa_midstance_deg"]
    assert left["mean"] - right["mean"] > 6  # valgus-left: 14° vs 4°
    # the summary leaves out stances flagged unusable (e.g. an unconfirmed side), nothing else
    usable = [s for s in stances if s.side and "side_unconfirmed" not in s.flags]
    assert len(stances) - 2 <= left["n"] + right["n"] <= len(usable)


def test_the_file_holds_the_live_stances_and_settings(recorded):
    from data.session_reader import open_session

    with open_session(recorded["path"]) as session:
        stored = session.analysis().stances()
        assert session.subject["subject_id"] == "P-001"
    live = [s.to_dict() for s in recorded["stances"]]
    assert 8 <= len(stored) <= len(live)
    by_contact = {round(d["contact_s"], 9): d for d in live}
    for row in stored:
        d = by_contact[round(row["contact_s"], 9)]
        assert row["valr_N_s"] == pytest.approx(d["valr_N_s"], rel=1e-12)


def test_listeners_hear_stances_and_recording_but_never_frames(recorded):
    kinds = [k for k, _ in recorded["events"]]
    assert "recording-started" in kinds and "recording-stopped" in kinds
    stance_events = [p for k, p in recorded["events"] if k == "stance"]
    stances = recorded["stances"]  # taken before close(); later stances were heard as well
    assert [p["contact_s"] for p in stance_events[: len(stances)]] == [s.contact_s for s in stances]
    for _, payload in recorded["events"]:
        assert not any(isinstance(v, np.ndarray) and v.size > 100 for v in payload.values())


def test_live_views_show_force_frames_and_the_midstance_freeze_frame(recorded):
    """(The freeze-frame comes from a session with its analysis on threads, as at pace fast
    by default: there the cameras are not paced by the force analysis, and worker processes
    let them run further ahead of it than their rings hold, past the midstance frames.)"""
    window = recorded["window"]
    assert window.t.shape[0] == 4000 and window.F.shape == (4000, 3)
    assert np.all(np.diff(window.t) > 0)
    assert window.F[:, 2].max() > 1.5 * 70 * 9.81  # running: peaks well above body weight
    assert set(window.plate_fz) == {"belt"}
    frame = recorded["frame"]
    assert frame.image.shape == (240, 320) and frame.image.dtype == np.uint8
    assert set(frame.markers) <= {
        "L_psis",
        "R_psis",
        "L_thigh",
        "R_thigh",
        "L_knee",
        "R_knee",
        "L_ankle",
        "R_ankle",
    }
    freeze = recorded["freeze"]
    assert freeze.image.shape == (240, 320)
    # the sagittal camera measures the near (right) leg: its freeze frame is that leg's latest
    assert freeze.stance.side == "R"
    assert freeze.stance.video.get("hip_ankle_midstance_m") is not None
    used = freeze.stance.video.get("midstance_used_s")
    assert abs(freeze.session_time_s - used) <= 0.5 / 250 + 1e-9


def test_wrong_state_calls_are_refused_with_a_sentence(tmp_path):
    controller = SessionController(sim_config(duration_s=2.0), pace="fast")
    with pytest.raises(ControllerError, match="Connect first"):
        controller.start_recording(tmp_path / "x.midstance.h5")
    with pytest.raises(ControllerError, match="Start a recording first"):
        controller.stop_recording()
    with pytest.raises(ControllerError, match="body mass"):
        controller.set_subject({"body_mass_kg": 5})
    with pytest.raises(ControllerError, match="unknown subject field"):
        controller.set_subject({"name": "Alice"})
    controller.close()


def test_zeroing_needs_an_unloaded_plate_and_then_gives_its_offsets():
    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "simulation": {"seed": 2, "duration_s": 6.0, "setup": {"off_belt_s": [[1.0, 5.0]]}},
    }
    controller = SessionController(parse_config(raw), pace="realtime")
    controller.connect()
    try:
        with pytest.raises(ControllerError, match="step off the treadmill"):
            controller.zero_plates(0.5)  # the runner is still running on the belt
        assert controller.status().plate_zero_age_s is None
        assert controller.wait_for_session_time(1.05, timeout_s=30)
        result = controller.zero_plates(0.5)
        status = controller.status()
    finally:
        controller.close()
    belt = result["plates"]["belt"]
    truth = controller.shared["sim.lab"].plate_configs()[0]["offsets_V"]
    np.testing.assert_allclose(belt["zeroing"]["offsets_V"], truth, atol=2e-3)
    assert belt["noise_floor"]["passed"] and belt["noise_floor"]["sd_N"] < 5
    assert status.plate_zero_age_s is not None and status.plate_zero_age_s >= 0
