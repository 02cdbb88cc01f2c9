"""Static loads on the simulated plates (``LabSetup.static_loads``) read back through the plate's
configured calibration (analysis.forceplate), and the injected plate faults the technician checks
must catch (``faulty_plates``)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import plate_checks
from analysis.errors import InputError
from analysis.forceplate import parse_plate
from drivers.sim import LabSetup, SimulatedLab, preset
from drivers.sim.static_loads import (
    StaticLoad,
    faulty_plates,
    lift_load,
    place_load,
    static_wrenches,
)

RATE = 2000.0
G = plate_checks.STANDARD_GRAVITY_M_S2


def loaded_lab(*loads: StaticLoad, treadmill: str = "single-belt") -> SimulatedLab:
    setup = LabSetup(treadmill=treadmill, off_belt_s=((0.5, 4.0),), static_loads=loads)
    return SimulatedLab(preset("healthy"), setup, seed=4, duration_s=4.5)


def static_reading(lab: SimulatedLab, plate: dict, t0: float, t1: float) -> tuple:
    """Mean lab wrench and COP of [t0, t1) from the raw volts and the given plate table."""
    config = parse_plate(plate)
    columns = [lab.channel_names.index(c) for c in plate["channels"]]
    volts = lab.analog(int(t0 * RATE), int((t1 - t0) * RATE))[:, columns]
    mean, _ = plate_checks.static_load(config.lab_wrench(volts))
    cop, _ = config.cop_and_free_moment(mean[None, :], 50.0)
    return mean, cop[0]


def test_a_known_mass_reads_m_g_at_its_position_through_the_volts():
    mass = StaticLoad.of_mass(25.0, (0.35, -0.12), 1.0, 3.0, label="front-right 25 kg")
    lab = loaded_lab(mass)
    plate = lab.plate_configs()[0]
    mean, cop = static_reading(lab, plate, 1.0, 3.0)
    assert mass.force_N == pytest.approx(245.166, abs=1e-3)
    assert mean[2] == pytest.approx(mass.force_N, rel=2e-3)  # 1.5 N noise, 3 N vibration
    assert abs(mean[0]) < 1.0 and abs(mean[1]) < 1.0  # vertical: no shear
    assert cop[:2] == pytest.approx([0.35, -0.12], abs=1e-3)
    # before the mass is placed (runner off the belt) the plate reads nothing
    empty, _ = static_reading(lab, plate, 0.6, 0.95)
    assert abs(empty[2]) < 2.0
    # the truth carries it too, noise free
    truth = lab.true_forces(int(1.5 * RATE), 10)["belt"]
    assert np.allclose(truth[:, 2], mass.force_N)


def test_a_pointer_on_the_right_belt_of_a_split_belt_loads_only_that_plate():
    pointer = StaticLoad.of_pointer((-0.5, -0.18), 1.0, 3.0)
    lab = loaded_lab(pointer, treadmill="split-belt")
    plates = {p["name"]: p for p in lab.plate_configs()}
    right, cop = static_reading(lab, plates["right"], 1.0, 3.0)
    left, _ = static_reading(lab, plates["left"], 1.0, 3.0)
    assert right[2] == pytest.approx(300.0, rel=2e-3) and abs(left[2]) < 2.0
    assert cop[:2] == pytest.approx([-0.5, -0.18], abs=1e-3)


def test_the_injected_faults_show_as_a_gain_and_a_cop_bias():
    lab = loaded_lab(StaticLoad.of_mass(50.0, (0.0, 0.12), 1.0, 3.0))
    true_plate = lab.plate_configs()[0]
    wrong_gain = faulty_plates([true_plate], gain_error=0.03)[0]
    mean, _ = static_reading(lab, wrong_gain, 1.0, 3.0)
    assert mean[2] / (50.0 * G) == pytest.approx(1.03, abs=2e-3)
    biased = faulty_plates([true_plate], origin_bias_m=(0.006, 0.0))[0]
    _, cop = static_reading(lab, biased, 1.0, 3.0)
    assert cop[:2] == pytest.approx([0.006, 0.12], abs=1e-3)
    assert true_plate == lab.plate_configs()[0]  # the simulator's plate is untouched


def test_placing_and_lifting_a_load_on_a_running_lab():
    lab = loaded_lab()
    load = place_load(lab, StaticLoad.of_mass(30.0, (0.0, 0.0), 1.0, 10.0))
    assert lab.setup.static_loads == (load,)
    lift_load(lab, load, 2.0)
    (lifted,) = lab.setup.static_loads
    assert (lifted.start_s, lifted.stop_s) == (1.0, 2.0)
    fz = lab.true_forces(int(1.9 * RATE), int(0.2 * RATE))["belt"][:, 2]
    assert fz[: int(0.1 * RATE)] == pytest.approx(30.0 * G) and np.all(fz[int(0.1 * RATE) :] == 0)
    lift_load(lab, lifted, 0.5)  # lifted before it was placed: gone
    assert lab.setup.static_loads == ()
    with pytest.raises(InputError, match="on no plate"):
        place_load(lab, StaticLoad.of_mass(30.0, (1.5, 0.0), 1.0, 2.0))
    assert lab.setup.static_loads == ()


def test_loads_are_checked_and_stored_with_the_setup():
    with pytest.raises(InputError, match="interval"):
        StaticLoad(2.0, 1.0, 200.0, 0.0, 0.0)
    with pytest.raises(InputError, match="force"):
        StaticLoad(0.0, 1.0, -5.0, 0.0, 0.0)
    with pytest.raises(InputError, match="static_loads"):
        LabSetup(static_loads=[{"start_s": 0.0}])
    setup = LabSetup(static_loads=[{"start_s": 0, "stop_s": 1, "force_N": 250, "x_m": 0, "y_m": 0}])
    stored = setup.to_dict()["static_loads"]
    assert stored == [
        {"start_s": 0.0, "stop_s": 1.0, "force_N": 250.0, "x_m": 0.0, "y_m": 0.0, "label": ""}
    ]
    assert LabSetup(static_loads=stored) == setup
    with pytest.raises(InputError, match="gain"):
        faulty_plates([], gain_error=0.9)
    t = np.array([0.5, 1.5])
    assert static_wrenches(setup.static_loads, t, loaded_lab().plate_configs())["belt"][0, 2] == 250
