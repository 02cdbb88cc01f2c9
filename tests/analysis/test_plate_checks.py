"""The technician's plate checks as pure functions, on synthetic records with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError, InputError
from analysis.plate_checks import (
    cop_pointer_check,
    known_mass_check,
    noise_floor_check,
    static_load,
    zeroing_statistics,
)

G = 9.80665


def test_zeroing_recovers_offsets_noise_and_drift():
    rng = np.random.default_rng(1)
    rate = 1000.0
    t = np.arange(20000) / rate
    offsets = np.array([0.01, -0.02, 0.035, 0.0, 0.004, -0.003])
    noise = np.array([0.5, 0.5, 1.0, 0.2, 0.2, 0.1]) * 1e-3
    volts = offsets + rng.normal(0, 1, (t.size, 6)) * noise
    volts[:, 2] += 2e-4 * (t - t.mean())  # a plate still warming up: 0.2 mV/s on Fz
    stats = zeroing_statistics(volts, rate)
    np.testing.assert_allclose(stats.offsets_V, offsets, atol=4 * noise.max() / np.sqrt(t.size))
    np.testing.assert_allclose(stats.noise_sd_V[:2], noise[:2], rtol=0.03)
    assert stats.drift_V_per_s[2] == pytest.approx(2e-4, rel=0.02)
    assert abs(stats.drift_V_per_s[0]) < 2e-5
    assert (stats.n_samples, stats.duration_s, stats.rate_hz) == (20000, 20.0, 1000.0)


def test_noise_floor_against_the_stance_threshold():
    rng = np.random.default_rng(2)
    quiet = noise_floor_check(rng.normal(0.0, 1.5, 30000))
    assert quiet.sd_N == pytest.approx(1.5, rel=0.02)
    assert quiet.threshold_to_sd == pytest.approx(20 / 1.5, rel=0.03)
    assert quiet.passed and quiet.samples_above_threshold == 0
    loud = noise_floor_check(rng.normal(0.0, 5.0, 30000))
    assert loud.threshold_to_sd == pytest.approx(4.0, rel=0.03)
    assert not loud.passed
    spiky = rng.normal(0.0, 1.0, 30000)
    spiky[1000] = 25.0  # one vibration spike would start a false stance
    check = noise_floor_check(spiky, threshold_N=20.0, min_threshold_to_sd=5.0)
    assert check.threshold_to_sd > 15 and check.samples_above_threshold == 1 and not check.passed
    assert check.to_dict()["min_threshold_to_sd"] == 5.0


def test_static_load_ignores_placing_and_lifting():
    record = np.zeros((400, 6))
    record[100:300, 2] = 245.0  # the middle half is the mass at rest
    record[:100, 2] = np.linspace(0, 600, 100)  # the mass being put down (an overshoot)
    mean, sd = static_load(record)
    assert mean[2] == 245.0 and sd[2] == 0.0


def test_known_mass_check_finds_a_gain_error():
    masses = [25.0] * 5 + [50.0] * 5
    right = [m * G for m in masses]
    check = known_mass_check(right, masses, tolerance_percent=1.0)
    assert check.passed and check.max_abs_error_percent == pytest.approx(0.0, abs=1e-12)
    wrong = [f * 1.025 for f in right]
    check = known_mass_check(wrong, masses, tolerance_percent=1.0)
    assert check.gain == pytest.approx(1.025)
    assert check.error_percent == pytest.approx((2.5,) * 10)
    assert check.error_N[0] == pytest.approx(0.025 * 25 * G)
    assert not check.passed and len(check.failing) == 10
    one_bad = right.copy()
    one_bad[3] += 5.0  # a quadrant reading 5 N high (2 % of 245 N)
    check = known_mass_check(one_bad, masses, labels=[f"p{i}" for i in range(10)])
    assert check.failing == ("p3",)
    assert check.max_abs_error_percent == pytest.approx(100 * 5 / (25 * G))


@pytest.mark.parametrize(
    ("measured", "masses", "error", "message"),
    [
        ([245.0] * 7, [25.0] * 7, InputError, "at least 8"),
        ([98.0] * 8, [10.0] * 8, InputError, "placements below 200 N"),
        ([245.0] * 8, [25.0] * 7, InputError, "differ"),
        ([np.nan] + [245.0] * 7, [25.0] * 8, AnalysisError, "no finite force"),
    ],
)
def test_known_mass_check_refuses_a_check_that_cannot_count(measured, masses, error, message):
    with pytest.raises(error, match=message):
        known_mass_check(measured, masses)


def test_cop_pointer_check_reports_rms_max_and_bias():
    target = np.array([[0.0, 0.0], [0.5, 0.18], [-0.5, -0.18], [0.5, -0.18]])
    measured = target + np.array([0.003, -0.004])  # a 5 mm bias
    check = cop_pointer_check(measured, target, tolerance_m=0.0051)
    assert check.rms_error_m == pytest.approx(0.005)
    assert check.max_error_m == pytest.approx(0.005)
    assert check.mean_bias_m == pytest.approx((0.003, -0.004))
    assert check.passed
    measured[2] += [0.004, 0.0]
    check = cop_pointer_check(measured, target, labels=["c", "fl", "rr", "fr"], tolerance_m=0.0051)
    assert check.failing == ("rr",)
    assert check.max_error_m == pytest.approx(np.hypot(0.007, 0.004))
    with pytest.raises(AnalysisError, match="has no COP"):
        cop_pointer_check([[np.nan, np.nan]], [[0.0, 0.0]])
    with pytest.raises(InputError, match="do not match"):
        cop_pointer_check(measured[:2], target)


def test_bad_arrays_are_named():
    with pytest.raises(InputError, match=r"unloaded record: must be an array of shape"):
        zeroing_statistics(np.zeros((3, 4, 5)), 1000.0)
    with pytest.raises(AnalysisError, match="contains NaN"):
        zeroing_statistics(np.array([[1.0], [np.nan]]), 1000.0)
    with pytest.raises(AnalysisError, match="at least 2 are needed"):
        noise_floor_check([1.0])
