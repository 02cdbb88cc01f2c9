"""Technician checks through the runner on the simulated lab's plate model: its calibration
matrix (with cross-talk, mounted rotated), its unknown offsets, and its noise and belt vibration
(drivers.sim). Loads are rendered with the simulator's own lab → volts path."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.sim import LabSetup, SimulatedLab
from drivers.sim.plates import lab_to_volts, wrench_about_origin
from protocols.loader import find_procedure
from protocols.runner import Runner

G = 9.80665


class SimulatedPlateBench:
    """The simulated treadmill's plate with nobody on it, or with a mass or pointer at a point."""

    def __init__(self, seed: int = 4) -> None:
        self.lab = SimulatedLab(setup=LabSetup(), seed=seed, duration_s=1.0)
        self.true_plate = self.lab.plate_configs()[0]
        self.rate_hz = self.lab.setup.daq_rate_hz
        self.rng = np.random.default_rng(seed)
        # What the lab's configuration believes: the right matrix and geometry, not yet zeroed.
        self.config = {**self.true_plate, "offsets_V": [0.0] * 6}

    def volts(self, seconds: float, load_N: float = 0.0, point=(0.0, 0.0), running=False):
        n = round(seconds * self.rate_hz)
        t = np.arange(n) / self.rate_hz
        force = np.zeros((n, 3))
        force[:, 2] = load_N
        cop = np.tile([point[0], point[1], 0.0], (n, 1))
        origin = np.asarray(self.true_plate["origin_m"])
        wrench = wrench_about_origin(force, cop, np.zeros(n), origin)
        setup = self.lab.setup
        wrench[:, :3] += setup.force_noise_N * self.rng.standard_normal((n, 3))
        wrench[:, 3:] += setup.moment_noise_Nm * self.rng.standard_normal((n, 3))
        if running:  # the simulator's belt/roller vibration on Fz and Fx
            vibration = setup.belt_vibration_N * np.sin(2 * np.pi * setup.belt_vibration_hz * t)
            wrench[:, 2] += vibration
            wrench[:, 0] += 0.3 * vibration
        return lab_to_volts(wrench, self.true_plate)


class BenchLab:
    """LabActions answered from the bench; applies zeroing to the configuration."""

    def __init__(self, bench: SimulatedPlateBench) -> None:
        self.bench = bench
        self.pending = None
        self.now_s = 0.0

    def set_treadmill(self, speed_m_s, incline_percent):
        self.running = bool(speed_m_s)

    def select_cameras(self, cameras):
        pass

    def zero_plate(self, device, offsets_V):
        self.bench.config = {**self.bench.config, "offsets_V": list(offsets_V)}

    def start_acquisition(self, request):
        self.pending = request

    def stop_acquisition(self):
        pass

    def check_state(self, condition, kinds):
        from protocols.actions import CheckState

        return CheckState(True, "bench")

    def store_entry(self, step_id, values):
        pass

    def store_mark(self, step_id, label):
        pass

    def record_result(self, result):
        pass

    def respond(self, request):
        from protocols.actions import AcquisitionResult

        bench = self.bench
        if request.placement is None:
            volts = bench.volts(request.duration_s, running=request.purpose == "noise-floor")
        else:
            load = request.placement.mass_kg * G if request.placement.mass_kg else 400.0
            volts = bench.volts(request.duration_s, load, request.placement.position_m)
        start = self.now_s
        self.now_s += request.duration_s
        return AcquisitionResult(
            request.duration_s,
            start,
            self.now_s,
            volts=volts,
            rate_hz=bench.rate_hz,
            plate=dict(bench.config),
        )


@pytest.fixture(scope="module")
def zeroed():
    """The simulated plate after the plate-zero procedure (shared: it is the expensive part)."""
    bench = SimulatedPlateBench()
    lab = BenchLab(bench)
    runner = Runner(find_procedure("plate-zero"), lab)
    runner.begin()
    while runner.state.value != "completed":
        step = runner.current_step
        if runner.state.value == "acquiring":
            runner.acquisition_finished(lab.respond(lab.pending))
        elif step.kind == "entry":
            runner.submit({"speed_m_s": 3.3})
        else:
            runner.next()
    return bench, lab, runner


def _run(lab, name):
    runner = Runner(find_procedure(name), lab)
    runner.begin()
    while runner.state.value != "completed":
        if runner.state.value == "acquiring":
            runner.acquisition_finished(lab.respond(lab.pending))
        else:
            runner.next()
    return runner


def test_zero_finds_the_simulated_plates_offsets(zeroed):
    bench, _, runner = zeroed
    zero = runner.results["zero"]
    # Noise 1.5 N over 1000 N/V → 1.5 mV per channel, averaged over 20000 samples.
    np.testing.assert_allclose(zero.values["offsets_V"], bench.true_plate["offsets_V"], atol=5e-5)
    assert bench.config["offsets_V"] == zero.values["offsets_V"]


def test_noise_floor_of_the_simulated_running_belt(zeroed):
    _, _, runner = zeroed
    noise = runner.results["noise-floor"]
    # Fz = 1.5 N white noise + 3 N sine vibration: SD = sqrt(1.5² + 3²/2) = 2.60 N
    assert noise.values["sd_N"] == pytest.approx(np.sqrt(1.5**2 + 3.0**2 / 2), rel=0.02)
    assert noise.values["threshold_to_sd"] == pytest.approx(20 / 2.598, rel=0.03)
    assert noise.passed is True


def test_known_mass_on_the_simulated_plate_and_a_wrong_gain(zeroed):
    bench, lab, _ = zeroed
    check = _run(lab, "known-mass-check").results["known-mass"]
    assert check.passed is True
    assert check.values["max_abs_error_percent"] < 0.05
    right = bench.config
    wrong_matrix = np.asarray(right["matrix"])
    wrong_matrix[2] *= 0.97  # the lab typed the Fz sensitivity 3 % low
    bench.config = {**right, "matrix": wrong_matrix.tolist()}
    try:
        check = _run(lab, "known-mass-check").results["known-mass"]
    finally:
        bench.config = right
    assert check.values["gain"] == pytest.approx(0.97, abs=5e-4)
    assert check.passed is False


def test_cop_pointer_on_the_simulated_plate_and_a_wrong_origin(zeroed):
    bench, lab, _ = zeroed
    good = _run(lab, "cop-pointer-check").results["pointer"]
    assert good.passed is True and good.values["max_error_m"] < 0.001
    right = bench.config
    # An origin typed 6 mm to the side: every COP is shifted by 6 mm in y.
    shifted = np.asarray(right["origin_m"]) + np.array([0.0, 0.006, 0.0])
    bench.config = {**right, "origin_m": shifted.tolist()}
    try:
        bad = _run(lab, "cop-pointer-check").results["pointer"]
    finally:
        bench.config = right
    assert bad.values["mean_bias_m"] == pytest.approx([0.0, 0.006], abs=3e-4)
    assert bad.passed is False
