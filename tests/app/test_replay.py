"""Replaying a recorded session through the same pipeline gives the live run's stances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.errors import InputError
from app.pipeline import wait_until
from app.replay import replay_session
from app.session_controller import SessionController
from data.session_reader import open_session
from drivers.config import parse_config

# Every metric agrees from the file's first stance on: the live force analysis restarts at the
# file's first sample, and the live trackers label afresh from its first frame, as the replay's
# do. (Before the trackers restarted, video metrics of the first seconds could differ: labels
# started on different frames can disagree for a while; seen once in CI.)
VIDEO = (
    "hip_ankle_contact_m",
    "hip_ankle_midstance_m",
    "knee_flexion_peak_deg",
    "midstance_knee_flexion_s",
    "fppa_midstance_deg",
    "pelvic_drop_deg",
)
COMPARED = (
    "side",
    "contact_s",
    "toe_off_s",
    "contact_time_s",
    "midstance_peak_vgrf_s",
    "impact_peak_N",
    "valr_N_s",
    "vilr_N_s",
    "valr_BW_s",
    "peak_vertical_N",
    "braking_impulse_Ns",
    "belt_vibration_hz",
    "belt_vibration_N",
    *VIDEO,
)


def _same(a, b) -> bool:
    if a is None or b is None:
        return (a is None or (isinstance(a, float) and math.isnan(a))) and (
            b is None or (isinstance(b, float) and math.isnan(b))
        )
    if isinstance(a, str):
        return a == b
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


def test_replay_gives_the_same_per_stance_results_as_the_live_run(tmp_path):
    path = tmp_path / "live.midstance.h5"
    raw = {
        "sync": {"mode": "hardware"},
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "cameras": [
            {"name": "sagittal", "kind": "sim.camera", "view": "sagittal", "rate_hz": 250.0},
            {"name": "posterior", "kind": "sim.camera", "view": "posterior", "rate_hz": 250.0},
        ],
        "simulation": {
            "preset": "overstrider",
            "seed": 11,
            "duration_s": 8.0,
            "setup": {"image_width": 320, "image_height": 240},
        },
    }
    controller = SessionController(parse_config(raw), pace="fast")
    controller.connect()
    controller.set_subject({"id": "R-1", "body_mass_kg": 72.0})
    # recording starts 1.5 s into the session: the first stances' 2 s belt-vibration history
    # would reach before the file
    assert controller.wait_for_session_time(1.5, timeout_s=60)
    controller.start_recording(path)
    # The controller restarts the live force analysis at the file's first DAQ sample, so every
    # journalled stance is computed from samples in the file (docs/acquisition.md).
    recorder = controller.recorder
    assert wait_until(lambda: recorder.start_index is not None, 60.0)
    assert controller.wait_for_session_time(7.0, timeout_s=120)
    controller.stop_recording()
    superseded = controller.force.superseded
    restarted = {n: (t.restarts, t.track_from_s) for n, t in controller.trackers.items()}
    controller.close()
    with open_session(path) as session:
        live = session.analysis().stances()  # what the live run journaled into the file
        first = session.h5["daq/analog"].attrs["start_index"] / 2000.0
    replayed = [s.to_dict() for s in replay_session(path)]
    assert superseded == 0  # nothing was journalled before the restart reached it
    assert len(live) >= 12
    # every stance, the first ones included: the live analyser's belt-vibration history
    # starts at the file's first sample, as the replay's does
    assert live[0]["contact_s"] - first < 1.0, (first, live[0]["contact_s"])
    # each tracker started afresh once, at the file's first frame (250 fps: within 4 ms)
    for restarts, track_from_s in restarted.values():
        assert restarts == 1 and 0 <= track_from_s - first < 1 / 250
    for stance in live:
        again = min(replayed, key=lambda s: abs(s["contact_s"] - stance["contact_s"]))
        assert abs(again["contact_s"] - stance["contact_s"]) < 0.05, "stance not replayed"
        different = [k for k in COMPARED if not _same(stance[k], again[k])]
        assert not different, f"stance at {stance['contact_s']:.3f} s differs in {different}"
    with_video = [s for s in live if s["fppa_midstance_deg"] is not None]
    assert len(with_video) >= len(live) - 2, "the video metrics were compared on most stances"
    assert with_video[0]["contact_s"] - first < 1.0  # the first stances' included


def test_a_file_without_live_settings_cannot_be_replayed(tmp_path):
    from data.session_writer import SessionWriter

    path = tmp_path / "bare.midstance.h5"
    with SessionWriter(path, channel_names=["belt.Fz"], daq_rate_hz=1000.0) as writer:
        writer.append_analog([[0.0]] * 10)
    with pytest.raises(InputError, match="cannot be replayed"):
        replay_session(path)


def _live_force(lab, plates, volts, restart, *, late: bool, in_process: bool = False):
    """The live force analysis fed from a ring; ``restart_at(restart)`` asked before the data
    arrives, or (``late``) once the analysis has gone 50 ms past that sample (as when the
    controller asks while the DAQ delivers more)."""
    from types import SimpleNamespace

    from analysis.force_settings import ForceSettings
    from analysis.vision_settings import VisionSettings
    from app.live_analysis import ForceAnalysis
    from app.ring_buffer import RingBuffer

    rate = lab.setup.daq_rate_hz
    ring = RingBuffer("force", (volts.shape[1],), "float64", volts.shape[0] + 10)
    stream = SimpleNamespace(
        name="force",
        rate_hz=rate,
        chunk_items=20,
        ring=ring,
        description=SimpleNamespace(channel_names=lab.channel_names),
    )
    force = ForceAnalysis(
        stream, plates, ForceSettings(), VisionSettings(), {}, lossless=True,
        body_weight_N=lab.truth.body_weight_N, leg_length_m=None, in_process=in_process,
    )  # fmt: skip
    if not late:
        force.restart_at(restart)
    force.start()
    split = restart + round(0.05 * rate) if late else 0
    for start in range(0, volts.shape[0], 20):
        if late and start == split:
            assert wait_until(lambda: force.samples >= split, 60.0)
            force.restart_at(restart)
        if late and start == split + 2000:  # asked again (e.g. by the controller and a caller)
            assert wait_until(lambda: force.samples >= split + 2000, 60.0)
            force.restart_at(restart)  # changes nothing: no stance twice
        block = volts[start : start + 20]
        ring.write(block, first_index=start, session_time_s=np.arange(start, start + 20) / rate)
    ring.close()
    force.join(60.0)
    assert force.done and force.error is None
    return force


@pytest.mark.parametrize("in_process", [False, True], ids=["thread", "worker"])
def test_the_live_force_analysis_restarts_at_a_recording_s_first_sample(belt_lab, in_process):
    """Asked before or after the analysis reached the first sample of a recording, the live
    stances from it on are those of an analyser that began there (what a replay computes),
    whether the analysis runs in its thread or in a worker process (app.force_worker)."""
    from analysis.streaming_force import StreamingForceAnalyser

    lab, plates, volts = belt_lab
    rate = lab.setup.daq_rate_hz
    restart = round(2.3 * rate)
    expected = StreamingForceAnalyser(
        plates, rate, channel_names=lab.channel_names, body_weight_N=lab.truth.body_weight_N
    )
    wanted = expected.push(volts[restart:]) + expected.finish()
    assert len(wanted) >= 12
    for late in (False, True):
        force = _live_force(lab, plates, volts, restart, late=late, in_process=in_process)
        live = [r for r in force.stances() if r.contact_s >= restart / rate]
        assert len(live) == len(wanted)
        assert force.superseded == 0
        for got, want in zip(live, wanted, strict=True):
            for key in ("contact_s", "toe_off_s", "valr_N_s", "peak_vertical_N"):
                shift = restart / rate if key in ("contact_s", "toe_off_s") else 0.0
                assert got.force[key] == pytest.approx(
                    getattr(want, key) + shift,
                    rel=1e-12,
                    abs=1e-9,
                ), key
            assert _same(got.force["belt_vibration_N"], want.belt_vibration_N)
        assert sum(r.force["belt_vibration_N"] is not None for r in live) >= len(live) - 2
        # the stances before the restart were analysed too (live display), from the session start
        assert any(r.contact_s < restart / rate for r in force.stances())


@pytest.fixture(scope="module")
def belt_lab():
    from analysis.forceplate import parse_plates
    from drivers.sim import LabSetup, SimulatedLab, preset

    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=4, duration_s=8.0)
    return lab, parse_plates(lab.plate_configs()), lab.analog(0, lab.n_samples)
