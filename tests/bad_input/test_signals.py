"""Bad signals: flagged or refused with a sentence, never silently turned into numbers."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError, MidstanceError
from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial, plate_wrenches
from analysis.streaming_force import StreamingForceAnalyser

RATE = 2000.0


def _analyse(lab, plates, volts, **kw):
    wrenches = plate_wrenches(plates, volts, lab.channel_names)
    return analyse_force_trial(wrenches, plates, RATE, body_weight_N=lab.truth.body_weight_N, **kw)


def test_nan_in_force_is_refused_naming_the_plate(sim_trial):
    lab, plates, volts = sim_trial
    broken = volts.copy()
    broken[5000:5010, lab.channel_names.index("belt.Fz")] = np.nan
    with pytest.raises(AnalysisError) as caught:
        _analyse(lab, plates, broken, source="trial.c3d")
    assert "trial.c3d" in caught.value.sentence() and "belt" in caught.value.sentence()
    broken[5000:5010] = np.inf  # inf·0 in the calibration matrix warns, then NaN: refused
    with np.errstate(invalid="ignore"), pytest.raises(AnalysisError):
        _analyse(lab, plates, broken, source="trial.c3d")


def test_nan_in_live_force_never_becomes_a_stance_number(sim_trial):
    """A NaN block reaching the streaming analyser (a driver bug or a corrupt replay) either
    raises a MidstanceError or leaves no NaN/invented number in any stance record."""
    lab, plates, volts = sim_trial
    broken = volts.copy()
    broken[6000:6100] = np.nan
    analyser = StreamingForceAnalyser(plates, RATE, ForceSettings(),
                                      channel_names=lab.channel_names,
                                      body_weight_N=lab.truth.body_weight_N)  # fmt: skip
    try:
        records = []
        for start in range(0, len(broken), 100):
            records += analyser.push(broken[start : start + 100])
        records += analyser.finish()
    except MidstanceError:
        return
    hole = (6000 / RATE, 6100 / RATE)
    for r in records:
        d = r.to_dict()
        assert not (d["contact_s"] <= hole[1] and d["toe_off_s"] >= hole[0]), d
        for key, value in d.items():
            assert not (isinstance(value, float) and np.isnan(value)), key


def test_a_saturated_force_channel_is_flagged(sim_trial):
    """The DAQ range is too small for this runner: Fz sits flat at full scale through every
    active peak. The peak force (and anything derived from it) must carry a flag."""
    lab, plates, volts = sim_trial
    clipped = volts.copy()
    fz = lab.channel_names.index("belt.Fz")
    top = (
        0.7 * np.max(clipped[:, fz]) if np.max(clipped[:, fz]) > 0 else 0.7 * np.min(clipped[:, fz])
    )
    clipped[:, fz] = (
        np.clip(clipped[:, fz], None, top) if top > 0 else np.clip(clipped[:, fz], top, None)
    )
    result = _analyse(lab, plates, clipped)
    assert result.stances
    flagged = [s for s in result.stances if any("satur" in f or "clip" in f for f in s.flags)]
    noted = any("satur" in n or "clip" in n for n in result.notes)
    assert noted or len(flagged) >= len(result.stances) // 2


def test_a_runner_stepping_off_the_belt_gets_no_invented_step_times():
    """3 s off the belt (feet on the side rails): no stance in the gap, and the first stance
    after it has no step or flight time (there was no step), with the right side."""
    from analysis.forceplate import parse_plates
    from drivers.sim import LabSetup, SimulatedLab, preset

    lab = SimulatedLab(preset("healthy"), LabSetup(off_belt_s=((3.0, 6.0),)), seed=1, duration_s=9)
    plates = parse_plates(lab.plate_configs())
    result = _analyse(lab, plates, lab.analog(0, lab.n_samples))
    assert len(result.stances) == len(lab.truth.stances)
    after = [s.to_dict() for s in result.stances if s.contact_s > 6.0]
    truth_after = [t for t in lab.truth.stances if t.contact_s > 6.0]
    assert after[0]["step_time_s"] is None and after[0]["flight_time_s"] is None
    assert after[0]["side"] == truth_after[0].side
    assert after[1]["step_time_s"] == pytest.approx(
        truth_after[1].contact_s - truth_after[0].contact_s, abs=0.002
    )
    assert not [s for s in result.stances if 3.0 < s.contact_s < 6.0]


def test_zeroing_a_loaded_plate_is_refused(sim_trial):
    """Someone stands on the belt while the technician zeroes it: zeroing is refused with a
    sentence (the offsets would shift every force of the session by the person's weight)."""
    from app.session_controller import SessionController
    from drivers.config import parse_config

    raw = {
        "daq": {"name": "force", "kind": "sim.daq", "rate_hz": 2000.0},
        "simulation": {"seed": 2, "duration_s": 30.0},
    }
    controller = SessionController(parse_config(raw), pace="fast")
    controller.connect()
    try:
        assert controller.wait_for_session_time(2.0, timeout_s=60)
        with pytest.raises(MidstanceError) as caught:
            controller.zero_plates(0.5)
        assert "load" in caught.value.sentence().lower()
    finally:
        controller.close()
