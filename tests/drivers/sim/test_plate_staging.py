"""The simulated plate readied for a still record (``clear_plate``: runner off the belt, load on,
open-ended) and restored after it (``restore_plate``), checked on the lab's noise-free forces."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.plate_checks import STANDARD_GRAVITY_M_S2
from drivers.sim import SimulatedLab, preset
from drivers.sim.static_loads import StaticLoad, clear_plate, restore_plate

RATE = 2000.0


def fz(lab: SimulatedLab, t0: float, t1: float) -> np.ndarray:
    return lab.true_forces(round(t0 * RATE), round((t1 - t0) * RATE))["belt"][:, 2]


def test_a_cleared_plate_holds_the_load_alone_until_it_is_restored():
    lab = SimulatedLab(preset("healthy"), seed=2, duration_s=8.0)
    mass = functools.partial(StaticLoad.of_mass, 30.0, (0.2, -0.1), label="30 kg")
    staging = clear_plate(lab, 2.0, mass)
    assert staging.start_s == 2.0 and staging.stop_s > lab.duration_s  # open-ended
    assert staging.load.start_s == 2.0 and staging.load.stop_s == staging.stop_s
    assert np.all(fz(lab, 2.0, 8.0) == 30.0 * STANDARD_GRAVITY_M_S2)
    assert fz(lab, 0.0, 2.0).max() > 1000.0  # running before
    ended = restore_plate(lab, staging, 5.0)
    assert (ended.start_s, ended.stop_s) == (2.0, 5.0)
    assert (ended.load.start_s, ended.load.stop_s, ended.load.label) == (2.0, 5.0, "30 kg")
    assert lab.setup.off_belt_s == ((2.0, 5.0),) and lab.setup.static_loads == (ended.load,)
    assert np.all(fz(lab, 2.0, 5.0) == 30.0 * STANDARD_GRAVITY_M_S2)
    assert fz(lab, 5.0, 8.0).max() > 1000.0  # running again, the mass gone
    assert fz(lab, 5.0, 8.0).min() == 0.0


def test_an_unloaded_record_and_one_restored_before_it_began():
    lab = SimulatedLab(preset("healthy"), seed=2, duration_s=8.0)
    staging = clear_plate(lab, 1.0)
    assert staging.load is None and np.all(fz(lab, 1.0, 8.0) == 0.0)
    assert restore_plate(lab, staging, 0.5) is None  # never began: taken out altogether
    assert lab.setup.off_belt_s == () and lab.setup.static_loads == ()


def test_a_load_off_the_plates_is_refused_and_nothing_changes():
    lab = SimulatedLab(preset("healthy"), seed=2, duration_s=8.0)
    off = functools.partial(StaticLoad.of_pointer, (1.5, 0.0))
    with pytest.raises(InputError, match="on no plate"):
        clear_plate(lab, 1.0, off)
    assert lab.setup.off_belt_s == () and lab.setup.static_loads == ()
