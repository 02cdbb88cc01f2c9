"""Device faults injected under the real session controller, pipeline, recorder and writer
(simulated lab, pace "fast"). Each test says what the user sees and proves that nothing recorded
before the fault is lost and that the file is valid (``data.open_session``)."""

from __future__ import annotations

import errno
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from analysis.errors import MidstanceError
from app.session_controller import SessionController
from data import open_session


def _record(controller: SessionController, path: Path, seconds: float, plan=None) -> float:
    """Connect, record ``seconds`` of session (arming ``plan`` at the start); the start time."""
    events: list[tuple[str, dict]] = []
    controller.add_listener(lambda kind, payload: events.append((kind, payload)))
    controller.connect()
    controller.set_subject({"id": "F-1", "body_mass_kg": 70.0})
    controller.start_recording(path)
    if plan is not None:
        plan.arm()
    start = controller.synchronised_time_s()
    start = start if math.isfinite(start) else 0.0  # nothing acquired yet
    assert controller.wait_for_session_time(start + seconds, timeout_s=180)
    controller.events = events
    return start


def test_camera_unplugged_mid_trial_then_reconnected(fault_lab, session_path, tmp_path):
    """User sees: a red banner "device 'posterior' failed at <t> s: the device stopped
    responding (cable pulled). Check its cable and power, then connect again."; the force and the
    sagittal camera keep recording. After stopping, the file is complete and holds every posterior
    frame delivered before the cable was pulled; connecting again records from both cameras."""
    plan = fault_lab.FaultPlan("posterior", "lost", after_items=400)
    controller = SessionController(fault_lab.sim_config(), pace="fast", device_factory=plan.factory)
    start = _record(controller, session_path, 3.0, plan)
    status = controller.status()
    path = controller.stop_recording()
    controller.close()
    assert plan.fired.is_set()
    banner = next(b for b in status.banners if "posterior" in b.text)
    assert banner.level == "error" and "stopped responding" in banner.text
    assert "cable" in banner.remedy
    assert any(k == "device-error" and p["device"] == "posterior" for k, p in controller.events)
    with open_session(path) as s:
        assert s.is_complete
        post = s.camera("posterior")
        sag = s.camera("sagittal")
        first = int(post.frame_index[0])
        # every frame the camera delivered before the fault is in the file, in order, none lost
        np.testing.assert_array_equal(post.frame_index, np.arange(first, plan.fired_index))
        assert sag.n_frames > post.n_frames + 250  # the other camera kept going
        # the force ran to the stop (the file's own start can be later than `start` at pace
        # fast: the DAQ may be ahead of the cameras when the recorder attaches)
        end_s = (s.analog.start_index + s.analog.n_samples) / fault_lab.RATE_HZ
        assert end_s >= start + 3.0 - 2 * 40 / fault_lab.RATE_HZ
        assert not np.isnan(s.analog.read()).any()

    again = SessionController(fault_lab.sim_config(), pace="fast")  # the camera plugged back in
    _record(again, tmp_path / "again.midstance.h5", 1.0)
    path2 = again.stop_recording()
    again.close()
    with open_session(path2) as s:
        assert s.is_complete and s.camera("posterior").n_frames >= 200


def test_daq_buffer_overflow_leaves_a_named_gap_not_shifted_samples(fault_lab, session_path):
    """The NI driver reports overwritten samples as a jump of its sample counter with
    ``Chunk.dropped`` (tests/drivers/daq cover that against the DAQmx fake). User sees: the force
    device's dropped count in the status; the file keeps the timeline — the lost samples are NaN
    rows listed in /daq/gaps, every sample before and after sits at its true index — and no
    stance is computed across the hole."""
    plan = fault_lab.FaultPlan("force", "gap", after_items=3000, gap_items=600)
    controller = SessionController(fault_lab.sim_config(), pace="fast", device_factory=plan.factory)
    _record(controller, session_path, 3.0, plan)
    status = controller.status()
    lab = controller.shared["sim.lab"]
    path = controller.stop_recording()
    stances = [s.to_dict() for s in controller.stances()]
    controller.close()
    assert plan.fired.is_set()
    assert next(d for d in status.devices if d.name == "force").dropped == 600
    with open_session(path) as s:
        assert s.is_complete
        g = plan.fired_index
        assert s.gaps.tolist() == [[g, g + 600]]
        analog = s.analog.read()
        start = int(s.analog.start_index)  # row i holds sample start + i
        assert 0 <= start < g
        assert np.isnan(analog[g - start : g + 600 - start]).all()
        np.testing.assert_array_equal(analog[: g - start], lab.analog(start, g - start))
        np.testing.assert_array_equal(analog[g + 600 - start : g + 1000 - start],
                                      lab.analog(g + 600, 400))  # fmt: skip
        assert not np.isnan(analog[g + 600 - start :]).any()
    hole = (g / fault_lab.RATE_HZ, (g + 600) / fault_lab.RATE_HZ)
    for d in stances:  # nothing invented inside the hole
        assert not (d["contact_s"] < hole[1] and d["toe_off_s"] > hole[0]), d


def test_a_camera_that_stalls_for_one_second_loses_only_that_second(fault_lab, session_path):
    """A hardware-triggered camera that stops delivering for 1 s (250 triggers missed, e.g. a
    USB/GigE hiccup) and then recovers. User sees: the camera's dropped count in the status and
    the recording note "camera 'sagittal' is missing 250 frame(s)"; the file has every other frame
    at its exact trigger time, the missing ones listed by index, and stances whose video fell in
    the stall get no sagittal metrics instead of interpolated ones."""
    # the simulated camera skips these triggers itself: a wrapper reading ahead would wait for
    # the DAQ, which pace "fast" holds back until the cameras catch up
    stalled = list(range(1000, 1250))
    config = fault_lab.sim_config(duration_s=12.0, dropped_frames={"sagittal": stalled})
    controller = SessionController(config, pace="fast")
    started = _record(controller, session_path, 0.1)
    assert started < 3.5, "the stall must fall inside the recording"
    assert controller.wait_for_session_time(6.0, timeout_s=180)
    lab = controller.shared["sim.lab"]
    path = controller.stop_recording()
    status = controller.status()
    stances = [s.to_dict() for s in controller.stances()]
    controller.close()
    assert tuple(status.dropped_frames["sagittal"]) == tuple(stalled)
    with open_session(path) as s:
        assert s.is_complete and "missing 250 frame(s)" in s.recording_note
        sag = s.camera("sagittal")
        index = np.asarray(sag.frame_index)
        assert not set(stalled) & set(index.tolist())
        np.testing.assert_array_equal(
            index, np.setdiff1d(np.arange(index[0], index[-1] + 1), stalled)
        )
        np.testing.assert_allclose(sag.session_time, lab.frame_time("sagittal", index), atol=1e-12)
        assert s.camera("posterior").n_frames > sag.n_frames + 200
    t0, t1 = lab.frame_time("sagittal", np.array([stalled[0], stalled[-1]]))
    inside = [d for d in stances if d["contact_s"] > t0 + 0.02 and d["toe_off_s"] < t1 - 0.02]
    assert inside, "the stall should cover at least one stance"
    for d in inside:
        assert d.get("hip_ankle_midstance_m") is None, d


def test_kill_9_of_the_recording_process_keeps_everything_flushed(fault_lab, session_path):
    """``kill -9`` of the process recording through the session controller (power cut, OOM
    killer). User sees, on reopening: the session listed as interrupted (``recording_state``
    "recording", not being recorded by anyone); ``midstance repair`` closes it. Every sample and
    frame the writer had committed before the kill is in the file, and the repaired file is
    re-analysed into stances."""
    from app.session_analysis import analyse_session
    from data.repair import repair_session

    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": str(here.parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, str(here / "recording_process.py"), str(session_path)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert line, proc.stderr.read()
    samples, frames = (int(v) for v in line.split())
    assert samples >= 1.5 * fault_lab.RATE_HZ and frames >= 0.5 * fault_lab.FPS
    with open_session(session_path) as s:
        assert s.recording_state == "recording" and not s.is_complete and not s.being_recorded
        analog = s.analog.read()
        assert len(analog) >= samples and np.isfinite(analog[:samples]).all()
        sag = s.camera("sagittal")
        assert sag.n_frames >= frames
        np.testing.assert_array_equal(np.diff(sag.frame_index[:frames]), 1)
        assert sag.frame(frames - 1).shape == (240, 320)
    report = repair_session(session_path)
    assert report.state_after == "repaired"
    analyse_session(session_path)
    with open_session(session_path) as s:
        assert s.is_complete and len(s.analysis().stances()) >= 4


def test_disk_full_stops_the_recording_not_the_session(fault_lab, session_path, monkeypatch):
    """The disk fills 1.5 s into a recording. User sees: a red banner "recording stopped: ... the
    disk is full ... free disk space" while the live view keeps running; the file is closed as
    "aborted" with everything up to the last flush readable."""
    import h5py

    controller = SessionController(fault_lab.sim_config(), pace="fast")
    started = _record(controller, session_path, 1.5)
    lab = controller.shared["sim.lab"]

    def no_space(self, key, value):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Dataset, "__setitem__", no_space)
    assert controller.wait_for_session_time(started + 3.0, timeout_s=120)
    status = controller.status()
    monkeypatch.undo()
    banner = next(b for b in status.banners if "recording stopped" in b.text)
    assert banner.level == "error" and "disk is full" in banner.text
    assert any(k == "device-error" and p["device"] == "recorder" for k, p in controller.events)
    assert controller.force_window(1.0).t[-1] > started + 2.5  # the live view goes on
    try:
        controller.stop_recording()
    except MidstanceError as exc:  # the recording had already stopped: said as a sentence
        assert str(session_path) in exc.sentence() or "recording" in exc.sentence()
    controller.close()
    with open_session(session_path) as s:
        assert s.recording_state == "aborted" and "disk is full" in s.recording_note
        analog, start = s.analog.read(), int(s.analog.start_index)
        # everything up to the last flush (every 0.5 s) before the disk filled at 1.5 s
        assert len(analog) >= (1.5 - 0.5) * fault_lab.RATE_HZ - 100
        np.testing.assert_array_equal(analog, lab.analog(start, len(analog)))
