"""Shared inputs of the bad-input tests: one short simulated running trial as raw volts."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sim_trial():
    """(lab, plates, volts) of 8 s of the healthy preset, single belt, 2 kHz."""
    from analysis.forceplate import parse_plates
    from drivers.sim import LabSetup, SimulatedLab, preset

    lab = SimulatedLab(preset("healthy"), LabSetup(), seed=1, duration_s=8.0)
    return lab, parse_plates(lab.plate_configs()), lab.analog(0, lab.n_samples)
