"""The runner stepping off the belt (``LabSetup.off_belt_s``): the plates carry no load."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import InputError
from drivers.sim import LabSetup, SimulatedLab, preset


def test_no_load_and_no_stance_while_the_runner_is_off_the_belt():
    setup = LabSetup(off_belt_s=((1.0, 2.5),))
    lab = SimulatedLab(preset("healthy"), setup, seed=2, duration_s=4.0)
    on = SimulatedLab(preset("healthy"), LabSetup(), seed=2, duration_s=4.0)
    rate = setup.daq_rate_hz
    off = lab.true_forces(int(1.0 * rate), int(1.5 * rate))["belt"]
    assert np.all(off == 0.0)
    assert np.isnan(lab.true_cop(int(1.0 * rate), 100)).all()
    before = lab.true_forces(0, int(1.0 * rate))["belt"]
    np.testing.assert_array_equal(before, on.true_forces(0, int(1.0 * rate))["belt"])
    for stance in lab.truth.stances:
        assert stance.toe_off_s <= 1.0 or stance.contact_s >= 2.5
    assert len(lab.truth.stances) < len(on.truth.stances)
    # the raw volts keep their noise (what zeroing measures): Fz SD of a few newtons
    fz_column = lab.channel_names.index("belt.Fz")
    volts = lab.analog(int(1.2 * rate), 2000)[:, fz_column]
    assert volts.std() > 0


def test_off_belt_intervals_are_checked():
    with pytest.raises(InputError, match="off_belt_s"):
        LabSetup(off_belt_s=((2.0, 1.0),))
    with pytest.raises(InputError, match="off_belt_s"):
        LabSetup(off_belt_s=(3.0,))
    assert LabSetup(off_belt_s=[[0, 1]]).off_belt_s == ((0.0, 1.0),)
    assert LabSetup(off_belt_s=[[0, 1]]).to_dict()["off_belt_s"] == [[0.0, 1.0]]
