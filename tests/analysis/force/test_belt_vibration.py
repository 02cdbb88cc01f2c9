"""Belt vibration measured in flight phases: found when present, never invented from noise."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.belt_vibration import strongest_line, unloaded_mask, vibration_before
from analysis.force_settings import ForceSettings
from analysis.force_trial import analyse_force_trial

RATE = 2000.0


def _running_fz(seconds: float, noise_N: float, vibration=(0.0, 0.0), seed: int = 0):
    """Half-sine stances of 1600 N (0.25 s every 0.36 s) + white noise + a sinusoid."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    phase = (t - 0.1) % 0.36
    fz = np.where(phase < 0.25, 1600 * np.sin(np.pi * phase / 0.25), 0.0)
    amplitude, hz = vibration
    fz += amplitude * np.sin(2 * np.pi * hz * t + 0.7) + rng.normal(0, noise_N, t.size)
    return fz


@pytest.mark.parametrize("hz", [23.4, 38.0, 61.7, 140.2])
def test_a_belt_line_is_found_in_the_flight_phases(hz):
    fz = _running_fz(2.0, 1.5, (3.0, hz), seed=int(hz))
    found = vibration_before(fz, RATE, off_N=20.0)
    assert found is not None
    assert found.frequency_hz == pytest.approx(hz, abs=0.05)
    assert found.amplitude_N == pytest.approx(3.0, rel=0.1)
    assert found.noise_sd_N == pytest.approx(1.5, rel=0.1)
    # only flight samples at least 10 ms from any loading were used: ~0.09 s of every 0.36 s
    assert 0.2 * fz.size < found.unloaded_samples < 0.3 * fz.size


@pytest.mark.parametrize("seed", range(12))
def test_white_noise_alone_is_never_called_a_vibration(seed):
    assert vibration_before(_running_fz(2.0, 2.0, seed=seed), RATE, off_N=20.0) is None


@pytest.mark.parametrize("seed", range(6))
def test_coloured_noise_is_not_taken_for_a_line(seed):
    """Noise rising towards high frequencies (like the 300 Hz Fukuchi treadmill file's, 8 N SD
    mostly above 100 Hz) is not taken for a line: each line is judged against the noise level
    around it in frequency, not against the white-noise SD."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    fz = _running_fz(2.0, 0.5, seed=seed)
    hiss = sosfilt(butter(4, 100.0, "high", fs=RATE, output="sos"), rng.normal(0, 6, fz.size))
    assert vibration_before(fz + hiss, RATE, off_N=30.0) is None


def test_a_line_below_the_detection_limit_or_a_silent_plate_gives_nothing():
    weak = _running_fz(2.0, 1.5, (0.2, 38.0), seed=4)  # limit ≈ 10 · 1.5 / √1000 ≈ 0.5 N
    assert vibration_before(weak, RATE, off_N=20.0) is None
    assert vibration_before(_running_fz(2.0, 0.0), RATE, off_N=20.0) is None


def test_too_little_flight_resolves_no_frequency():
    fz = _running_fz(0.3, 1.5, (3.0, 38.0))  # one stance: ~0.06 s of flight
    assert vibration_before(fz, RATE, off_N=20.0) is None


def test_the_unloaded_mask_keeps_clear_of_the_foot():
    fz = np.zeros(100)
    fz[40:60] = 100.0
    mask = unloaded_mask(fz, 20.0, guard=5)
    assert not mask[35:65].any() and mask[:35].all() and mask[65:].all()
    line = strongest_line(np.zeros(100), np.zeros(100, bool), RATE)
    assert line is None


def test_trial_stores_the_measured_vibration_and_settings_can_turn_it_off(belt_plate, make_run):
    wrench, _ = make_run(duration_s=5.0, noise_N=1.5, seed=8)
    t = np.arange(wrench.shape[0]) / RATE
    wrench[:, 2] += 3.0 * np.sin(2 * np.pi * 44.4 * t)
    auto = analyse_force_trial({"belt": wrench}, [belt_plate], RATE, body_weight_N=700.0)
    assert auto.stances
    hz = [s.belt_vibration_hz for s in auto.stances]
    assert np.median(hz) == pytest.approx(44.4, abs=0.02)
    for s in auto.stances:  # the first stances have less flight before them to measure on
        assert s.belt_vibration_hz == pytest.approx(44.4, abs=0.1)
        assert s.to_dict()["belt_vibration_N"] == pytest.approx(3.0, rel=0.1)
    document = auto.to_dict()
    assert document["settings"]["belt_vibration_auto"] is True
    assert document["settings"]["vibration_history_s"] == 2.0
    assert any("44.4" in note and "removed in" in note for note in document["notes"])
    off = analyse_force_trial(
        {"belt": wrench},
        [belt_plate],
        RATE,
        ForceSettings(belt_vibration_auto=False),
        body_weight_N=700.0,
    )
    assert all(s.belt_vibration_hz is None for s in off.stances)
    assert not any("belt vibration" in note for note in off.notes)
    assert ForceSettings.from_dict(document["settings"]) == ForceSettings()
